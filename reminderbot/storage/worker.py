"""Heavy reads (years of history for an export) off the event loop.

An async session does its row handling on the loop's own thread: thousands of rows hold it for
seconds, and every other person's tap waits. Here the read runs in a worker thread with its own
event loop and its own connection, opened from a copy of the engine's pool (same URL, connect
arguments and connect-time settings, such as SQLite's pragmas).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from reminderbot.storage.db import SessionFactory, create_session_factory

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[T]]


async def off_the_loop(sessions: SessionFactory, work: Work[T]) -> T:
    """Run ``work`` in one transaction, in a worker thread. A factory without an engine (a test
    double) runs it here instead."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine):
        async with sessions.begin() as session:
            return await work(session)
    return await asyncio.to_thread(asyncio.run, _in_own_loop(engine, work))


async def _in_own_loop(engine: AsyncEngine, work: Work[T]) -> T:
    # Connections belong to the loop that opened them: this loop gets its own, closed after.
    # Its failures hide bound values as db.create_engine's do: no note reaches a log.
    own = create_async_engine(
        engine.url, pool=engine.sync_engine.pool.recreate(), hide_parameters=True
    )
    try:
        async with create_session_factory(own).begin() as session:
            return await work(session)
    finally:
        await own.dispose()
