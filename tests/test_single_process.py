"""One process per SQLite database: a second ``reminderbot run`` on the same file stops at start.

Both processes are the real command, run as an operator would, against the sandbox Bot API.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from reminderbot.sandbox.runner import bot_environment, start_bot, stop_process
from reminderbot.sandbox.server import RunningServer
from tests.support.processes import lines_of, run_reminderbot

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]


async def _polling(server: RunningServer, process: asyncio.subprocess.Process) -> None:
    """Wait until ``process`` asks for updates: it is past start-up and holds the database."""
    polls = len(server.state.calls_to("getUpdates"))
    deadline = time.monotonic() + 30
    while len(server.state.calls_to("getUpdates")) <= polls:
        assert process.returncode is None, "the bot exited during start-up"
        assert time.monotonic() < deadline, "the bot never started polling"
        await asyncio.sleep(0.05)


async def _run_to_the_end(
    server: RunningServer, url: str, command: tuple[str, ...] = ("run",)
) -> tuple[int, list[str]]:
    """Run a ``reminderbot`` command to its end: its exit code and its non-blank stderr lines."""
    code, _, err = await run_reminderbot(*command, env=bot_environment(server, url))
    return code, lines_of(err)


async def test_a_second_run_on_the_same_file_stops_with_one_sentence(
    server: RunningServer, tmp_path: Path
) -> None:
    database = tmp_path / "bot.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    first = await start_bot(server, url, cwd=REPO)
    try:
        await _polling(server, first)
        code, lines = await _run_to_the_end(server, url)
        assert code == 2
        assert len(lines) == 1, lines
        assert str(database.resolve()) in lines[0]
        assert "Traceback" not in lines[0]
        # The first one is untouched and keeps running.
        await asyncio.sleep(0.5)
        assert first.returncode is None
    finally:
        assert await stop_process(first) == 0


async def test_the_file_is_free_again_after_a_clean_stop_and_after_kill_9(
    server: RunningServer, tmp_path: Path
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    first = await start_bot(server, url, cwd=REPO)
    await _polling(server, first)
    assert await stop_process(first) == 0

    second = await start_bot(server, url, cwd=REPO)
    await _polling(server, second)
    second.kill()  # no clean-up at all: the lock file stays behind
    await second.wait()

    third = await start_bot(server, url, cwd=REPO)
    try:
        await _polling(server, third)
    finally:
        assert await stop_process(third) == 0


async def test_db_upgrade_refuses_a_file_a_live_bot_holds(
    server: RunningServer, tmp_path: Path
) -> None:
    """Migrating a SQLite file under a running bot would change tables it is using: `db upgrade`
    takes the same lock as `run`, says so in one sentence, and works once the bot has stopped."""
    database = tmp_path / "bot.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    first = await start_bot(server, url, cwd=REPO)
    try:
        await _polling(server, first)
        code, lines = await _run_to_the_end(server, url, ("db", "upgrade"))
        assert code == 2
        assert len(lines) == 1, lines
        assert str(database.resolve()) in lines[0]
        assert "Traceback" not in lines[0]
        await asyncio.sleep(0.5)
        assert first.returncode is None
    finally:
        assert await stop_process(first) == 0

    code, lines = await _run_to_the_end(server, url, ("db", "upgrade"))
    assert (code, lines) == (0, [])
