"""The database goes away mid-run: people get one kind sentence, /support and /help keep working,
the log gets one line per failure, admins one alert a minute per kind, and the background job
for held partner lines keeps running.

"Down" is an engine pointed where no database answers: 127.0.0.1:1 through asyncpg (which
raises a bare ConnectionRefusedError, an OSError) and a SQLite file that cannot be opened
(which SQLAlchemy wraps as OperationalError).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from reminderbot.services.schedules import MAX_DAILY_TIMES
from reminderbot.storage.db import SessionFactory, create_engine, create_session_factory
from reminderbot.telegram import callbacks, notices
from reminderbot.telegram.app import run_tick
from reminderbot.telegram.contacts import support_contacts
from reminderbot.telegram.context import BotContext
from tests.support.harness import BotHarness, FakeClock

ALEX = 8301
SAM = 8302  # never said yes
ADMIN = 8399


async def _postgres_shutting_down() -> Any:
    # asyncpg's own error while PostgreSQL stops (neither an OSError nor wrapped by SQLAlchemy).
    raise asyncpg.exceptions.CannotConnectNowError("the database system is shutting down")


async def _sqlite_cannot_open() -> Any:
    # What SQLite says when its file cannot be opened; raised before any driver thread starts.
    raise sqlite3.OperationalError("unable to open database file")


def _down(driver: str) -> AsyncEngine:
    if driver == "asyncpg":
        return create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    if driver == "asyncpg-stopping":
        return create_async_engine("postgresql+asyncpg://", async_creator=_postgres_shutting_down)
    return create_async_engine(
        "sqlite+aiosqlite:///unreachable.db", async_creator=_sqlite_cannot_open
    )


@pytest.fixture(params=["asyncpg", "asyncpg-stopping", "sqlite"])
async def down_engine(request: pytest.FixtureRequest) -> AsyncIterator[AsyncEngine]:
    engine = _down(request.param)
    yield engine
    await engine.dispose()


@pytest.fixture
async def bot(sessions: SessionFactory, clock: FakeClock) -> AsyncIterator[BotHarness]:
    async with BotHarness.running(sessions, clock, admin_chat_ids=[ADMIN]) as harness:
        yield harness


class Outage:
    """Stops the database under a running bot, and starts it again."""

    def __init__(self, harness: BotHarness, down: AsyncEngine) -> None:
        self.harness = harness
        self.working = harness.state.sessions
        self.down = create_session_factory(down)

    def __enter__(self) -> Outage:
        self.harness.state.sessions = self.down
        return self

    def __exit__(self, *_: object) -> None:
        self.harness.state.sessions = self.working


@pytest.fixture
def outage(bot: BotHarness, down_engine: AsyncEngine) -> Outage:
    return Outage(bot, down_engine)


def failure_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_people_get_one_kind_sentence_and_the_log_one_line(
    bot: BotHarness, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.join(ALEX)
    await bot.command(ALEX, "/settings")
    before = len(bot.seen(ALEX))
    down = bot.text("errors.database_down")
    with outage, caplog.at_level(logging.DEBUG):
        await bot.command(ALEX, "/settings")
        assert bot.all_texts(ALEX)[before:] == [down]
        await bot.press(ALEX, callbacks.settings_data("quietmenu"))
        await bot.say(ALEX, "hello")
        await bot.command(ALEX, "/checkins")
    assert bot.all_texts(ALEX)[before:] == [down] * 4
    # One line per failure, with no traceback (its text could hold someone's words).
    lines = failure_lines(caplog)
    assert len(lines) == 4
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in lines)
    assert all("kind=database" in r.getMessage() for r in lines)
    # The press was still answered, without a second sentence.
    assert bot.double.calls_to("answerCallbackQuery")[-1].params.get("text") is None


async def test_support_and_help_work_without_a_database(bot: BotHarness, outage: Outage) -> None:
    with outage:
        for user_id in (ALEX, SAM):
            await bot.command(user_id, "/support")
            await bot.command(user_id, "/help")
            support, help_text = bot.all_texts(user_id)
            assert "988" in support  # the practice's contacts
            contacts = support_contacts(bot.state, "en")
            most = bot.text(f"numbers.{MAX_DAILY_TIMES}")
            assert help_text == bot.text("help.text", contacts=contacts, most=most)
    assert bot.seen(ADMIN) == []


async def test_admins_get_one_alert_a_minute_per_kind(
    bot: BotHarness, clock: FakeClock, outage: Outage
) -> None:
    await bot.join(ALEX)
    with outage:
        for _ in range(5):
            await bot.command(ALEX, "/settings")
        assert len(bot.seen(ADMIN)) == 1
        clock.advance(seconds=30)
        await bot.command(ALEX, "/pause")
        assert len(bot.seen(ADMIN)) == 1
        clock.advance(seconds=31)
        await bot.command(ALEX, "/pause")
        assert len(bot.seen(ADMIN)) == 2


async def test_the_held_partner_lines_job_survives(
    bot: BotHarness, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    context = BotContext(bot.application)
    with outage, caplog.at_level(logging.DEBUG):
        await notices.held_notices_job(context)
        await notices.held_notices_job(context)
    lines = failure_lines(caplog)
    assert lines and all(r.exc_info is None for r in lines)
    # Back up: the job does its work again.
    await notices.held_notices_job(context)


async def test_the_dispatcher_tick_survives(bot: BotHarness, outage: Outage) -> None:
    dispatcher = bot.dispatcher
    working = dispatcher.sessions
    dispatcher.sessions = outage.down
    try:
        assert await run_tick(dispatcher) is False
        assert await run_tick(dispatcher) is False
    finally:
        dispatcher.sessions = working
    assert await run_tick(dispatcher) is True
