"""Replies that Telegram refuses with 429 are sent again, not lost.

A burst of people writing at once (forty /start in one second, or several instances answering
together) can pass Telegram's flood limit, and a refused reply would leave someone without
their welcome or the result of a press. Every call the bot makes outside the dispatcher goes
through this limiter: a 429 is waited out for its retry_after and the call made again, a few
times at most. A wait longer than a handler should hold a person's updates is not waited: the
error reaches the error handler as before. Reminders are paced and retried by the dispatcher
(``SENDING_REMINDERS``), so they pass straight through.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

from reminderbot.delivery.pacing import SENDING_REMINDERS, is_message, retry_after_seconds

log = logging.getLogger(__name__)

MAX_RETRIES = 3
# Longer than this and the person is better served by the error handler's apology than by a
# handler that holds their next taps.
LONGEST_WAIT_SECONDS = 30.0

Result = bool | dict[str, Any] | list[dict[str, Any]]


class RetryRefusedReplies(BaseRateLimiter[int]):
    def __init__(
        self, *, max_retries: int = MAX_RETRIES, longest_wait: float = LONGEST_WAIT_SECONDS
    ) -> None:
        self.max_retries = max_retries
        self.longest_wait = longest_wait
        # Told of every message this process sends outside the dispatcher (the dispatcher
        # counts them against the reminders' rate); set when the dispatcher is built.
        self.on_send: Callable[[], None] | None = None
        self._stopping = asyncio.Event()

    def stop_waiting(self) -> None:
        """Shutdown: a 429 is no longer waited out; the error reaches the error handler."""
        self._stopping.set()

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Result]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        if SENDING_REMINDERS.get():
            return await callback(*args, **kwargs)
        counted = self.on_send is not None and is_message(endpoint)
        for attempt in range(self.max_retries + 1):
            if counted and self.on_send is not None:
                self.on_send()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if attempt == self.max_retries or wait > self.longest_wait:
                    raise
                if self._stopping.is_set():
                    raise
                # The method only: the call's data may hold words.
                log.info("%s refused with 429; again in %.1f s", endpoint, wait)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), wait)
                if self._stopping.is_set():
                    raise
        raise AssertionError("unreachable")  # the loop returns or raises
