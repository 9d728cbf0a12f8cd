"""Nothing a person typed reaches a log, at any level the bot's own loggers may be set to.

Every handler that takes text is driven with a marker, with the database working, with a
database that fails every statement carrying the marker (a note saved while SQLite is locked),
and with a database that fails everything. The marker must appear in no captured record, no
message and no traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.delivery.reminder import checkin_data
from reminderbot.logs import quiet_libraries
from reminderbot.storage.db import SessionFactory
from reminderbot.storage.models import Mood
from tests.support.harness import BotHarness, FakeClock

ALEX = 8401  # said yes
SAM = 8402  # a stranger
MARKER = "Zq7Marker"
TOKEN_LIKE = MARKER + "x" * 15  # the shape of an invite token
LONG = MARKER * 40  # 360 bytes: longer than a file name may be


@pytest.fixture
def production_log_levels() -> Iterator[None]:
    """The library levels `reminderbot run` sets, with the bot itself at DEBUG."""
    names = ("httpx", "httpcore", "apscheduler", "alembic", "sqlalchemy", "aiosqlite")
    names += ("asyncpg", "telegram")
    before = {name: logging.getLogger(name).level for name in names}
    quiet_libraries("DEBUG")
    yield
    for name, level in before.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
async def bot(sessions: SessionFactory, clock: FakeClock) -> AsyncIterator[BotHarness]:
    async with BotHarness.running(sessions, clock, admin_chat_ids=[8499]) as harness:
        yield harness


def fail_statements(engine: AsyncEngine, *, only_with_marker: bool) -> Any:
    """Make the database refuse statements (all, or those whose parameters carry the marker)
    the way a locked or broken database does: the driver's own OperationalError."""

    def refuse(conn: Any, _cursor: Any, sql: str, parameters: Any, *_: Any) -> None:
        # A note is encrypted before it reaches a statement: the one that writes it carries it.
        writes_a_note = sql.startswith("UPDATE checkins SET note=")
        if not only_with_marker or MARKER in repr(parameters) or writes_a_note:
            raise conn.dialect.loaded_dbapi.OperationalError("database is locked")

    event.listen(engine.sync_engine, "before_cursor_execute", refuse)
    return refuse


async def tap_a_checkin(bot: BotHarness, clock: FakeClock) -> None:
    """Alex said yes (the timezone question stays open) and tapped a check-in (a note may
    follow)."""
    await bot.join(ALEX)
    clock.set(clock.now.replace(hour=9, minute=0))
    await bot.tick()
    delivery = [d for d in await bot.deliveries(ALEX) if d.telegram_message_id][-1]
    await bot.press(ALEX, checkin_data(delivery.id, Mood.STEADY))


async def drive_every_text_handler(bot: BotHarness) -> None:
    # A note after the check-in tap.
    await bot.say(ALEX, f"My note: {MARKER}")
    # Answers to the open timezone question, short and too long.
    await bot.say(ALEX, MARKER)
    await bot.say(ALEX, LONG)
    # Commands with arguments, and a command that does not exist.
    for command, args in (
        ("/timezone", MARKER),
        ("/timezone", LONG),
        ("/times", MARKER),
        ("/quiet", f"{MARKER} {MARKER}"),
        (f"/{MARKER}", ""),
        (f"/{MARKER}", LONG),
    ):
        await bot.command(ALEX, command, args)
    # Someone who never said yes: free text and invite tokens.
    await bot.say(SAM, MARKER)
    await bot.command(SAM, "/start", TOKEN_LIKE)
    await bot.command(SAM, "/start", LONG)


@pytest.mark.parametrize("failing", ["nothing", "statements_with_the_marker", "everything"])
@pytest.mark.usefixtures("production_log_levels")
async def test_no_typed_word_reaches_the_log(
    bot: BotHarness,
    clock: FakeClock,
    engine: AsyncEngine,
    caplog: pytest.LogCaptureFixture,
    failing: str,
) -> None:
    await tap_a_checkin(bot, clock)
    refuse = None
    if failing != "nothing":
        refuse = fail_statements(engine, only_with_marker=failing != "everything")
    try:
        with caplog.at_level(logging.DEBUG):
            await drive_every_text_handler(bot)
    finally:
        if refuse is not None:
            event.remove(engine.sync_engine, "before_cursor_execute", refuse)
    assert caplog.records or failing == "nothing"  # the failures were seen, and logged
    assert MARKER not in caplog.text
    for record in caplog.records:
        assert MARKER not in record.getMessage()
        assert MARKER not in repr(record.args)
    # Every message got an answer; none of them the bare apology for a crash.
    assert bot.text("errors.generic") not in bot.all_texts(ALEX) + bot.all_texts(SAM)


async def test_a_very_long_timezone_gets_a_kind_reply(bot: BotHarness) -> None:
    await bot.join(ALEX)
    await bot.say(ALEX, "Europe/" + "Berlin" * 12)
    assert bot.last_text(ALEX) == bot.text("settings.timezone_too_long")
    await bot.command(ALEX, "/timezone", LONG)
    assert bot.last_text(ALEX) == bot.text("settings.timezone_too_long")
    # "Europe" names a folder of zones, not a zone.
    await bot.command(ALEX, "/timezone", "Europe")
    assert bot.last_text(ALEX) in {
        bot.text("settings.timezone_unknown"),
        bot.text("settings.timezone_suggest"),
    }
    await bot.command(ALEX, "/timezone", "Berlin")
    person = await bot.person(ALEX)
    assert person is not None and person.timezone == "Europe/Berlin"
