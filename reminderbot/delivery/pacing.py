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
        # Set at shutdown: every wait ends at once (the caller then sends nothing).
        self._interrupted = asyncio.Event()

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
            now = self._clock()
            start = max(now, self._next_slot, self._blocked_until)
            last = self._last_per_chat.get(chat_id)
            if last is not None:
                start = max(start, last + self._per_chat)
            if start <= now:
                self._next_slot = now + self._interval
                self._last_per_chat[chat_id] = now
                return
            await self._sleep(start - now)

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
