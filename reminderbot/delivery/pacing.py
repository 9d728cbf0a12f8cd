"""Send pacing within Telegram's limits.

Telegram allows about 30 messages per second overall and 1 per second per chat. We space sends
evenly instead of using a token bucket: a bucket lets a full second's worth out at once, and the
next send then lands in the same one-second window and earns a 429.
"""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from datetime import timedelta

from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning

# Stay a little under the limit: a 429 costs far more than half a percent of throughput, and
# this leaves 5 ms of margin per second at 30/s for timing jitter.
HEADROOM = 0.995
PER_CHAT_INTERVAL = 1.0

# Set inside the dispatcher's tick: its sends are paced by the Pacer and their 429s handled by
# the dispatcher, so the bot's retry of refused replies leaves them alone.
SENDING_REMINDERS: ContextVar[bool] = ContextVar("sending_reminders", default=False)


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
        self._interval = 0.0 if rate is None else 1.0 / (rate * HEADROOM)
        self._per_chat = per_chat_interval
        self._clock = clock
        self._next_slot = 0.0
        self._blocked_until = 0.0
        self._last_per_chat: dict[int, float] = {}

    def block_for(self, seconds: float) -> None:
        """A 429 said to wait: nothing leaves before then, for any chat."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    async def slot(self, chat_id: int) -> None:
        """Wait for this send's turn: global spacing, any 429 block, and the per-chat limit."""
        while True:
            now = self._clock()
            start = max(now, self._next_slot, self._blocked_until)
            last = self._last_per_chat.get(chat_id)
            if last is not None:
                start = max(start, last + self._per_chat)
            if start <= now:
                self._next_slot = now + self._interval
                self._last_per_chat[chat_id] = now
                return
            await asyncio.sleep(start - now)

    def forget_idle_chats(self) -> None:
        cutoff = self._clock() - self._per_chat
        for chat_id in [c for c, at in self._last_per_chat.items() if at < cutoff]:
            del self._last_per_chat[chat_id]
