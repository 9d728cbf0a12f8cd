"""Logs an operator can read (issue 12): a line per tick that did work, JSON on request, ids and
counts only, never the token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from reminderbot.logs import configure
from reminderbot.sandbox.state import Person as SandboxPerson
from reminderbot.telegram.app import metrics_of, run_tick
from reminderbot.telegram.serve import Poller
from tests.support.harness import TOKEN, BotHarness, FakeClock

ALEX = 6_660_101
SECRET = "words-only-alex-wrote"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    yield
    root.handlers[:], level = saved
    root.setLevel(level)
    for name in ("sqlalchemy", "aiosqlite", "asyncpg", "telegram", "httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.usefixtures("restore_logging")
def test_json_format_is_one_object_per_line_without_the_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure("INFO", TOKEN, "json")
    log = logging.getLogger("reminderbot.test")
    log.info("tick: claimed %d, sent %d", 3, 2)
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{TOKEN}/sendMessage failed")
    except RuntimeError:
        log.exception("request to %s failed", f"https://api.telegram.org/bot{TOKEN}/getMe")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "INFO" and first["message"] == "tick: claimed 3, sent 2"
    assert first["logger"] == "reminderbot.test" and first["time"]
    assert second["level"] == "ERROR" and "RuntimeError" in second["exception"]
    assert TOKEN not in "\n".join(lines)


async def test_a_tick_that_did_work_logs_one_line_of_counts(
    harness: BotHarness, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    await harness.join(ALEX)
    await harness.command(ALEX, "/times", "09:00")
    metrics = metrics_of(harness.application)
    caplog.set_level(logging.INFO, logger="reminderbot")
    clock.set(datetime(2026, 3, 2, 8, 0, tzinfo=UTC))
    assert await run_tick(harness.dispatcher, metrics)  # nothing due: nothing logged
    assert not [r for r in caplog.records if r.getMessage().startswith("tick:")]
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    assert await run_tick(harness.dispatcher, metrics)
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("tick:")]
    assert line == "tick: claimed 1, sent 1, skipped 0, failed 0"
    assert str(ALEX) not in caplog.text


@pytest.mark.usefixtures("restore_logging")
async def test_an_update_that_cannot_be_read_is_skipped_by_number_and_its_words_never_logged(
    harness: BotHarness, capsys: pytest.CaptureFixture[str]
) -> None:
    """A message of a shape python-telegram-bot cannot read (say, after a Bot API change):
    before, the library logged the whole getUpdates answer, words and all, at CRITICAL, and the
    polling loop ended on the error, and with it the bot."""
    configure("INFO", TOKEN)
    state = harness.double.state
    state.add_person(SandboxPerson(user_id=ALEX, first_name="Alex", label="Alex", started=True))
    unreadable = state.push_update(
        "message",
        {"message_id": 1, "date": 1767225600, "chat": "a shape nobody knows", "text": SECRET},
    )
    state.send_text(ALEX, "/start")
    poller = Poller(harness.application, lambda: None)
    polling = asyncio.create_task(poller.run())
    try:
        while not harness.seen(ALEX):  # the update after it is handled
            assert not polling.done(), polling.exception()
            await asyncio.sleep(0.02)
        while state.pending_updates():  # and both are confirmed to Telegram
            assert not polling.done(), polling.exception()
            await asyncio.sleep(0.02)
    finally:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling
    err = capsys.readouterr().err
    assert SECRET not in err
    assert f"update_id={unreadable} could not be read" in err
    assert "data withheld" in err
