"""``reminderbot db backup PATH`` (issue 23): a copy taken while the bot runs restores whole.

Real processes throughout: the bot runs on the database against the sandbox Bot API while the
backup command (as an operator types it) copies it and another writer commits beside them; then
the bot is started on the copy.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, update
from sqlalchemy.engine import Connection

from reminderbot.sandbox.runner import start_bot, stop_process
from reminderbot.sandbox.server import RunningServer
from reminderbot.storage.backup import KEY_SENTENCE
from reminderbot.storage.migrate import HEAD
from tests.support import databases
from tests.support.processes import run_reminderbot
from tests.test_upgrades import Snapshot, _fill, _read, _reflect

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
PROBE = "backup_probe"  # the test's own table: rows committed two at a time during the backup


async def reminderbot(url: str, *args: str) -> tuple[int, str, str]:
    """``reminderbot ARGS`` with REMINDERBOT_DATABASE_URL=url: exit code, stdout, stderr."""
    env = {**bot_environment_without_server(), "REMINDERBOT_DATABASE_URL": url}
    return await run_reminderbot(*args, env=env)


def bot_environment_without_server() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REMINDERBOT_")}


async def polling(server: RunningServer, process: asyncio.subprocess.Process) -> None:
    """Wait until the bot asks for updates: past start-up, holding the database open."""
    polls = len(server.state.calls_to("getUpdates"))
    deadline = time.monotonic() + 30
    while len(server.state.calls_to("getUpdates")) <= polls:
        assert process.returncode is None, "the bot exited during start-up"
        assert time.monotonic() < deadline, "the bot never started polling"
        await asyncio.sleep(0.05)


def _far_future(connection: Connection) -> None:
    """Every time in the filled rows moved 75 years on: nothing is due, no pause ends, no notice
    waits, so the running bot reads the rows but has no reason to change them."""
    for table in _reflect(connection).sorted_tables:
        key = list(table.primary_key.columns)
        for row in connection.execute(table.select()).mappings().all():
            moved: dict[str, Any] = {
                name: value + timedelta(days=75 * 365)
                for name, value in row.items()
                if isinstance(value, datetime)
            }
            if moved:
                where = [k == row[k.name] for k in key]
                connection.execute(update(table).where(*where).values(moved))


def ours(snapshot: Snapshot) -> Snapshot:
    return {name: rows for name, rows in snapshot.items() if name != PROBE}


class PairWriter(threading.Thread):
    """Another writer on the live file: commits two rows per transaction until told to stop."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.committed = 0
        self.started = threading.Event()  # set once 20 rows are committed

    def run(self) -> None:
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            while not self.stop.is_set():
                with connection:
                    for _ in range(2):
                        connection.execute(f"INSERT INTO {PROBE} (at) VALUES (?)", (time.time(),))
                self.committed += 2
                if self.committed >= 20:
                    self.started.set()
                time.sleep(0.001)
        finally:
            connection.close()


async def test_a_backup_taken_while_the_bot_runs_restores_with_every_row(
    server: RunningServer, tmp_path: Path
) -> None:
    live = tmp_path / "live.sqlite3"
    await databases._migrate_sqlite(live)
    engine = create_engine(f"sqlite:///{live}")
    with engine.begin() as connection:
        connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        _fill(connection)  # every table, realistic rows
        _far_future(connection)
        connection.exec_driver_sql(f"CREATE TABLE {PROBE} (id INTEGER PRIMARY KEY, at REAL)")
    with engine.connect() as connection:
        before = ours(_read(connection))
    assert all(before.values()), "every table has rows"

    url = f"sqlite+aiosqlite:///{live}"
    bot = await start_bot(server, url, cwd=REPO, stderr=asyncio.subprocess.PIPE)
    writer = PairWriter(live)
    # Held open the whole time, with rows only in the write-ahead log (a copy of the file alone
    # would miss them): what a busy bot's database looks like.
    reader = sqlite3.connect(live)
    reader.execute("SELECT COUNT(*) FROM people").fetchone()
    try:
        await polling(server, bot)
        writer.start()
        await asyncio.to_thread(writer.started.wait, 30)
        assert Path(f"{live}-wal").stat().st_size > 0  # noqa: ASYNC240 (a local file, once)
        copy = tmp_path / "backups" / "copy.sqlite3"
        copy.parent.mkdir()
        code, out, err = await reminderbot(url, "db", "backup", str(copy))
        assert (code, err) == (0, "")
        assert f"to {copy}" in out and f"revision {HEAD}" in out
        assert KEY_SENTENCE in out  # the key, once data is encrypted at rest, is needed too
        assert writer.committed > 20 and writer.is_alive()  # nobody waited for the backup
    finally:
        writer.stop.set()
        writer.join(10)
        reader.close()
        assert await stop_process(bot) == 0
    with engine.connect() as connection:
        assert ours(_read(connection)) == before  # the bot had no reason to change a row

    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]  # no -wal beside it
    restored = create_engine(f"sqlite:///{copy}")
    with restored.connect() as connection:
        assert ours(_read(connection)) == before  # every row, every value
        (probes,) = connection.exec_driver_sql(f"SELECT COUNT(*) FROM {PROBE}").one()
        assert probes >= 20 and probes % 2 == 0  # one instant: never half a transaction
        (check,) = connection.exec_driver_sql("PRAGMA integrity_check").one()
        assert check == "ok"
    restored.dispose()
    engine.dispose()

    # The bot starts on the restored copy as it is.
    bot = await start_bot(
        server, f"sqlite+aiosqlite:///{copy}", cwd=REPO, stderr=asyncio.subprocess.PIPE
    )
    try:
        await polling(server, bot)
    finally:
        assert await stop_process(bot) == 0


async def test_on_postgresql_it_says_what_to_run_instead(tmp_path: Path) -> None:
    target = tmp_path / "copy"
    url = "postgresql+asyncpg://reminderbot:s3cret@db.internal:5433/reminderbot"
    code, out, err = await reminderbot(url, "db", "backup", str(target))
    assert code == 2 and out == ""
    (sentence,) = err.strip().splitlines()
    assert "pg_dump" in sentence
    assert "postgresql://reminderbot@db.internal:5433/reminderbot" in sentence
    assert "s3cret" not in sentence and "Traceback" not in err
    assert "key" in sentence
    assert not target.exists()


async def test_a_backup_never_overwrites_a_file(tmp_path: Path) -> None:
    live = tmp_path / "live.sqlite3"
    await databases._migrate_sqlite(live)
    existing = tmp_path / "yesterday.sqlite3"
    existing.write_bytes(b"yesterday's backup")
    code, out, err = await reminderbot(f"sqlite+aiosqlite:///{live}", "db", "backup", str(existing))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "already exists" in err
    assert existing.read_bytes() == b"yesterday's backup"


@pytest.mark.parametrize("where", ["missing", "not_a_database", "no_folder"])
async def test_a_backup_that_cannot_be_made_says_why_and_leaves_nothing(
    tmp_path: Path, where: str
) -> None:
    live = tmp_path / "live.sqlite3"
    target = tmp_path / "copy.sqlite3"
    if where == "not_a_database":
        live.write_bytes(b"this is not SQLite" * 100)
    elif where == "no_folder":
        await databases._migrate_sqlite(live)
        target = tmp_path / "nowhere" / "copy.sqlite3"
    code, out, err = await reminderbot(f"sqlite+aiosqlite:///{live}", "db", "backup", str(target))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if target.parent.exists():  # no copy, and no journal of one
        assert [p.name for p in target.parent.iterdir() if p.name.startswith("copy")] == []
    if where == "missing":
        assert not live.exists()  # the command created no empty database where none was
