"""The serving engine when PostgreSQL's network is cut without a FIN: every query gives up
within a bounded time (the person hears the bot can't reach its notes; the dispatcher's tick
fails and the next one tries again) instead of waiting for TCP to notice, which takes Linux
about a quarter of an hour."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from reminderbot.storage import db
from reminderbot.storage.outage import DATABASE_ERRORS
from tests.support.relay import Relay
from tests.test_multi_instance import postgres_url  # noqa: F401 (a fixture)


@pytest.fixture
async def relay_to_postgres(postgres_url: str) -> AsyncIterator[tuple[str, Relay]]:  # noqa: F811
    url = make_url(postgres_url)
    relay = Relay(url.host or "127.0.0.1", url.port or 5432)
    port = await relay.start()
    try:
        yield url.set(host="127.0.0.1", port=port).render_as_string(hide_password=False), relay
    finally:
        await relay.close()


async def timed_query(engine: db.AsyncEngine, limit: float) -> tuple[BaseException | None, float]:
    """Run one query; what it raised (None if it answered) and how long it took. ``limit``
    only keeps a hang from holding the test run: the assertions read the time."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:  # the test reads what it was
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


async def test_queries_give_up_within_the_timeout_when_the_network_is_cut_without_a_fin(
    relay_to_postgres: tuple[str, Relay], monkeypatch: pytest.MonkeyPatch
) -> None:
    through, relay = relay_to_postgres
    monkeypatch.setattr(db, "QUERY_TIMEOUT_SECONDS", 1.0)
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_SECONDS", 2.0)
    engine = db.serving_engine(through)
    try:
        error, _ = await timed_query(engine, 10)
        assert error is None  # the way is open: the connection is in the pool
        relay.cut = True
        # The pooled connection: its ping hears nothing, and a new one through the cut neither.
        error, took = await timed_query(engine, 20)
        assert isinstance(error, DATABASE_ERRORS) and took < 1.0 + 2.0 + 2.0, (error, took)
        error, took = await timed_query(engine, 20)
        assert isinstance(error, DATABASE_ERRORS) and took < 2.0 + 2.0, (error, took)
        relay.cut = False  # the network is back: the engine works again
        error, _ = await timed_query(engine, 10)
        assert error is None
    finally:
        await engine.dispose()
