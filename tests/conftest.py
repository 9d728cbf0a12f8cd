"""Shared fixtures: databases (SQLite and PostgreSQL), the strict Telegram double, the bot."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.sandbox.server import RunningServer, start_server
from reminderbot.storage.db import SessionFactory, create_session_factory
from tests.support import databases
from tests.support.harness import BotHarness, FakeClock

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.prepare_sqlite_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def postgres_skip_reason() -> Iterator[str | None]:
    reason = databases.prepare_postgres()
    yield reason
    if reason is None:
        databases.drop_postgres_schema()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
) -> Iterator[str]:
    if request.param == "sqlite":
        yield databases.sqlite_copy(sqlite_template, tmp_path)
        return
    reason = request.getfixturevalue("postgres_skip_reason")
    if reason is not None:
        pytest.skip(reason)
    yield databases.POSTGRES_URL


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_kind(request: pytest.FixtureRequest) -> str:
    """Which database, for tests that make their own (empty or upgraded ones). A plain
    fixture: the PostgreSQL check runs its own event loop."""
    if request.param == "postgresql":
        reason = request.getfixturevalue("postgres_skip_reason")
        if reason is not None:
            pytest.skip(reason)
    return str(request.param)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = databases.engine_for(database_url)
    if engine.dialect.name == "postgresql":
        await databases.truncate_postgres(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionFactory:
    return create_session_factory(engine)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def harness(sessions: SessionFactory, clock: FakeClock) -> AsyncIterator[BotHarness]:
    async with BotHarness.running(sessions, clock) as harness:
        yield harness


# The local Bot API server (the sandbox's), for tests that run the bot as a process.
@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    running = await start_server()
    try:
        yield running
    finally:
        await running.close()
