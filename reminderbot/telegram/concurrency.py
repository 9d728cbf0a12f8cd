"""Updates from different people are handled side by side; one person's, one at a time, in the
order they arrived. A slow moment for one person (an export, a chart, a busy database) never
holds up another person's tap, and nobody's second tap overtakes their first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

# Updates in flight at once, across everyone. Each waits for the ones before it from the same
# person while holding a slot, so this is also the most one flooding person can take up.
MAX_CONCURRENT_UPDATES = 64


def person_of(update: object) -> int | None:
    """Whose update this is: the sender, else the chat; None for neither (run at once)."""
    if not isinstance(update, Update):
        return None
    if update.effective_user is not None:
        return update.effective_user.id
    if update.effective_chat is not None:
        return update.effective_chat.id
    return None


class PerPersonUpdates(BaseUpdateProcessor):
    """python-telegram-bot's hook for concurrency (ApplicationBuilder.concurrent_updates),
    serialised per person by a lock that exists only while that person has updates in flight,
    so the map never holds anyone who is not writing right now."""

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._in_flight: dict[int, int] = {}

    @property
    def people_in_flight(self) -> int:
        return len(self._locks)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        person = person_of(update)
        if person is None:
            await coroutine
            return
        # asyncio.Lock wakes its waiters first come, first served: arrival order is kept.
        lock = self._locks.setdefault(person, asyncio.Lock())
        self._in_flight[person] = self._in_flight.get(person, 0) + 1
        try:
            async with lock:
                await coroutine
        finally:
            self._in_flight[person] -= 1
            if not self._in_flight[person]:
                del self._in_flight[person]
                del self._locks[person]

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None
