"""Send pacing within Telegram's limits.

Telegram allows about 30 messages per second overall and 1 per second per chat. We space sends
evenly instead of using a token bucket: a bucket lets a full second's worth out at once, and the
next send then lands in the same one-second window and earns a 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from datetime import timedelta

from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning

# Stay a little under the limit for timing jitter: 5 ms of margin per second at 30/s.
HEADROOM = 0.995
# And leave this many sends a second to the replies other instances send meanwhile, which this
# one cannot see (the replies this process sends are counted against the reminders' budget,
# ``Pacer.spend``): reminders go at 25.85/s at Telegram's 30, at 991/s at a paid 1,000. A 429
# costs far more than that: everything waits out its retry_after.
REPLY_RESERVE = 4.0
# A wake-up this late is made up for by the next sends: the margin HEADROOM keeps, so any
# one-second window still holds fewer sends than Telegram allows (at most (1 + CATCH_UP) x the
# reminders' rate, plus one).
CATCH_UP = 1.0 - HEADROOM
# Sending that stopped this long ago has ended: the next send starts a new even schedule.
IDLE = 1.0
# Whatever the rate, reminders keep at least this share of it.
MIN_SHARE = 0.5


def reminder_rate(rate: float) -> float:
    """How many reminders a second are sent when Telegram allows ``rate`` sends a second."""
    return max(rate * HEADROOM - REPLY_RESERVE, rate * MIN_SHARE)


PER_CHAT_INTERVAL = 1.0

# Set inside the dispatcher's tick: its sends are paced by the Pacer and their 429s handled by
# the dispatcher, so the bot's retry of refused replies leaves them alone.
SENDING_REMINDERS: ContextVar[bool] = ContextVar("sending_reminders", default=False)


# Calls Telegram counts as messages sent (its per-second budget); the rest (answering a button,
# editing, setting commands) is not paced.
_NOT_MESSAGES = frozenset({"sendChatAction", "sendChecklist", "sendGift", "sendInvoice"})


def is_message(method: str) -> bool:
    method = method.rsplit("/", 1)[-1]
    if method in _NOT_MESSAGES:
        return False
    return method.startswith("send") or method in {"copyMessage", "forwardMessage"}


def retry_after_seconds(error: RetryAfter) -> float:
    # PTB 22 warns that retry_after becomes a timedelta; accept both without the warning.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value: int | timedelta = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Pacer:
    """Spaces sends on an even schedule: never ahead of it, and a wake-up that comes late
    (the event loop's timers are only millisecond-exact) is made up for by up to ``CATCH_UP``
    seconds, so the achieved rate is the planned one even at a paid 1,000 a second, where the
    interval is no longer than the timer's own error."""

    def __init__(
        self,
        rate: float | None,
        *,
        per_chat_interval: float = PER_CHAT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = 0.0 if rate is None else 1.0 / reminder_rate(rate)
        self._per_chat = per_chat_interval
        self._clock = clock
        self._next_slot = 0.0
        self._blocked_until = 0.0
        self._last_per_chat: dict[int, float] = {}
        # Waiters take the next slot one at a time, in arrival order: thirty-two senders polling
        # the same slot would wake together a thousand times a second and lose the CPU to it.
        self._turn = asyncio.Lock()
        # Set at shutdown: every wait ends at once (the caller then sends nothing).
        self._interrupted = asyncio.Event()

    @property
    def interval(self) -> float:
        """Seconds between two reminders (0 when unpaced)."""
        return self._interval

    def interrupt(self) -> None:
        self._interrupted.set()

    def spend(self) -> None:
        """Something else of this process went out to Telegram (a reply): the next reminder
        waits one slot longer, so reminders and replies together keep to the rate."""
        self._next_slot = max(self._next_slot, self._clock()) + self._interval

    def block_for(self, seconds: float) -> None:
        """A 429 said to wait: nothing leaves before then, for any chat."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    async def slot(self, chat_id: int) -> None:
        """Wait for this send's turn: global spacing, any 429 block, and the per-chat limit.
        Returns at once, without a turn, once interrupted."""
        while not self._interrupted.is_set():
            await self._wait_until(lambda: self._chat_free_at(chat_id))
            async with self._turn:
                await self._wait_until(lambda: max(self._next_slot, self._blocked_until))
                now = self._clock()
                if self._interrupted.is_set() or now < self._chat_free_at(chat_id):
                    continue  # another send to this chat took its turn while this one waited
                # While sending goes on, the next slot counts from the planned one, not from
                # this late wake-up or short gap, so a timer's overshoot is not lost on every
                # send; the catch-up is bounded, so a stall never turns into a burst. After a
                # pause in sending, from now.
                behind = now - self._next_slot
                start = now if behind >= IDLE else max(self._next_slot, now - CATCH_UP)
                self._next_slot = start + self._interval
                self._last_per_chat[chat_id] = now
                return

    def _chat_free_at(self, chat_id: int) -> float:
        last = self._last_per_chat.get(chat_id)
        return 0.0 if last is None else last + self._per_chat

    async def _wait_until(self, moment: Callable[[], float]) -> None:
        # The moment is read again after each sleep: a 429 meanwhile may have moved it on.
        while not self._interrupted.is_set():
            wait = moment() - self._clock()
            if wait <= 0:
                return
            await self._sleep(wait)

    async def _sleep(self, seconds: float) -> None:
        if seconds > 0.5:  # a 429's wait, say: cut short at shutdown
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._interrupted.wait(), seconds)
        else:
            await asyncio.sleep(seconds)

    def forget_idle_chats(self) -> None:
        cutoff = self._clock() - self._per_chat
        for chat_id in [c for c, at in self._last_per_chat.items() if at < cutoff]:
            del self._last_per_chat[chat_id]
