"""Private at rest: a copy of the database (the SQLite file and its -wal, or a pg_dump) says
nothing of what a person wrote or chose, and after /delete nothing of them is left on disk.

Each scan looks for a note's marker, a mood and a "which describes you" answer in every form a
reader of a copy could try: UTF-8, UTF-16 (both byte orders), hex (how pg_dump writes bytea) and
base64 at all three alignments.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import sqlite3
import stat
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from reminderbot.delivery.reminder import checkin_data
from reminderbot.sandbox.runner import bot_environment, stop_process
from reminderbot.sandbox.server import RunningServer
from reminderbot.storage import crypto, keys, repositories
from reminderbot.storage.db import create_session_factory
from reminderbot.storage.models import (
    Audience,
    CheckIn,
    ConsentState,
    Delivery,
    DeliveryStatus,
    Mood,
    Person,
    Schedule,
)
from reminderbot.telegram import callbacks
from tests.support import databases
from tests.support.harness import BotHarness, FakeClock
from tests.support.processes import lines_of, run_reminderbot
from tests.test_checkins_support import checkins_of, joined, utc

REPO = Path(__file__).resolve().parents[1]
ALEX = 7_310_452_986  # a Telegram id as long as real ones
SAM = 7_310_452_987
NOTE = "Lighthouse-7Q I keep checking his phone"
MARKER = "Lighthouse-7Q"
MOOD = Mood.NEED_SPACE
ANSWER = "involved_partner"


def forms(word: str) -> dict[str, bytes]:
    """The ways ``word`` could sit in a file: as text, UTF-16, hex, or inside base64."""
    raw = word.encode()
    found = {
        "utf-8": raw,
        "utf-16-le": word.encode("utf-16-le"),
        "utf-16-be": word.encode("utf-16-be"),
        "hex": raw.hex().encode(),
    }
    for shift in range(3):
        # The part of the base64 that depends only on the word, whatever came before it.
        encoded = base64.b64encode(b"\0" * shift + raw)
        core = encoded[(shift * 4 + 2) // 3 + 1 : -4]
        found[f"base64+{shift}"] = core
        found[f"urlsafe-base64+{shift}"] = core.replace(b"+", b"-").replace(b"/", b"_")
    return found


def hits(data: bytes, words: dict[str, str | bytes]) -> list[str]:
    found = []
    for name, word in words.items():
        candidates = forms(word) if isinstance(word, str) else {"bytes": word}
        found += [f"{name} as {form}" for form, value in candidates.items() if value in data]
    return found


def sqlite_files(url: str) -> bytes:
    """The database file and its -wal, as a copy of the folder would hold them."""
    path = Path(str(make_url(url).database))
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def pg_dump() -> bytes:
    executable = shutil.which("pg_dump")
    if executable is None:
        pytest.skip("pg_dump is not installed here, so a dump cannot be scanned")
    url = make_url(databases.POSTGRES_URL)
    result = subprocess.run(
        [
            executable,
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-n",
            databases.SCHEMA,
            str(url.database),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"pg_dump could not dump the test schema: {result.stderr.decode()[:200]}")
    return result.stdout


async def copy_of(harness: BotHarness, database_url: str) -> bytes:
    if database_url.startswith("sqlite"):
        return sqlite_files(database_url)
    return pg_dump()


async def a_day_of_use(harness: BotHarness, clock: FakeClock) -> None:
    """Said yes, chose "I was unfaithful", got a reminder, tapped a mood and wrote a note."""
    await joined(harness, ALEX)
    await harness.command(ALEX, "/settings")
    await harness.press(ALEX, callbacks.settings_data("whomenu"))
    await harness.press(ALEX, callbacks.settings_data("who", ANSWER))
    delivery_id = await reminder_at(harness, clock, utc(2026, 3, 2, 9))
    await harness.press(ALEX, checkin_data(delivery_id, MOOD))
    clock.advance(minutes=2)
    await harness.say(ALEX, NOTE)
    # The rest of the day: another reminder, untouched.
    await reminder_at(harness, clock, utc(2026, 3, 3, 9))


async def reminder_at(harness: BotHarness, clock: FakeClock, when: datetime) -> int:
    """The reminders due at ``when`` go out (Alex's and anyone else's); Alex's delivery id."""
    clock.set(when)
    assert (await harness.tick()).sent >= 1
    return (await harness.deliveries(ALEX))[-1].id
    person = await harness.person(ALEX)
    assert person is not None and person.audience.value == ANSWER  # it was all kept...
    checkin = (await checkins_of(harness))[0]
    assert (checkin.mood, checkin.note) == (MOOD, NOTE)


SECRETS: dict[str, str | bytes] = {
    "the note": MARKER,
    "the mood": MOOD.value,
    "the answer": ANSWER,
}


async def test_a_copy_of_the_database_after_a_day_of_use_says_nothing_of_them(
    harness: BotHarness, clock: FakeClock, database_url: str
) -> None:
    await a_day_of_use(harness, clock)
    # ... and none of it can be read from a copy: not the words, not their Telegram id.
    words = dict(SECRETS)
    if database_url.startswith("postgresql"):
        words["their Telegram id"] = str(ALEX)
    else:
        words["their Telegram id"] = ALEX.to_bytes(8, "big").lstrip(b"\0")
    assert hits(await copy_of(harness, database_url), words) == []


def stored_values(database_url: str) -> dict[str, str | bytes]:
    """The bytes stored for Alex's rows, read straight from the file: after /delete, not one
    of them may be left, encrypted or not."""
    path = make_url(database_url).database
    with sqlite3.connect(str(path)) as connection:
        # Alex joined after Sam: the later rows are Alex's.
        person = connection.execute("SELECT * FROM people ORDER BY id DESC").fetchone()
        names = [d[0] for d in connection.execute("SELECT * FROM people").description]
        alex = person[names.index("id")]
        checkin = connection.execute(
            "SELECT mood, note FROM checkins WHERE person_id = ?", (alex,)
        ).fetchone()
        lines = connection.execute(
            "SELECT content_id FROM deliveries WHERE content_id IS NOT NULL AND person_id = ?",
            (alex,),
        ).fetchall()
    row = dict(zip(names, person, strict=True))
    found: dict[str, str | bytes] = {}
    for name in ("chat_id", "audience", "telegram_user_hash", "telegram_user_id"):
        if isinstance(row.get(name), bytes):
            found[f"stored {name}"] = row[name]
    for name, value in zip(("mood", "note"), checkin, strict=True):
        if isinstance(value, bytes):
            found[f"stored {name}"] = value
    for n, (value,) in enumerate(lines):
        if isinstance(value, bytes):
            found[f"stored line {n}"] = value
    return found


async def test_right_after_delete_nothing_of_them_is_left_on_disk(
    harness: BotHarness, clock: FakeClock, database_url: str
) -> None:
    """Checked while the bot still runs: its connections stay open and its -wal is in place.
    Someone else's rows share the pages with Alex's, as they would in any real database, so
    the pages stay in use after the DELETE (no page is simply dropped)."""
    await joined(harness, SAM)
    await a_day_of_use(harness, clock)
    sams = await harness.deliveries(SAM)
    await harness.press(SAM, checkin_data(sams[0].id, Mood.STEADY))
    await harness.say(SAM, "Sam's own words stay")
    assert [c.note for c in await checkins_of(harness)] == [NOTE, "Sam's own words stay"]
    stored = stored_values(database_url) if database_url.startswith("sqlite") else {}
    await harness.command(ALEX, "/delete")
    await harness.press(ALEX, callbacks.delete_data(True))
    assert await harness.person(ALEX) is None
    assert [c.note for c in await checkins_of(harness)] == ["Sam's own words stay"]
    words = dict(SECRETS) | stored
    assert hits(await copy_of(harness, database_url), words) == []


# --------------------------------------------------------------------------- keys, for real
# The real command, run as an operator would, against the sandbox Bot API.


def environment(server: RunningServer, url: str, **changes: str | None) -> dict[str, str]:
    """The bot's environment; a change to None removes that variable. The practice lists a
    real contact, so the only lines about starting are the ones these tests look at."""
    env = bot_environment(server, url)
    env["REMINDERBOT_SUPPORT_CONTACTS"] = json.dumps(
        [{"name": "Your counselor", "contact": "+49 30 1234567"}]
    )
    for name, value in changes.items():
        env.pop(name, None)
        if value is not None:
            env[name] = value
    return env


async def polling(server: RunningServer, process: asyncio.subprocess.Process) -> None:
    """Wait until the bot asks for updates: it is past start-up."""
    polls = len(server.state.calls_to("getUpdates"))
    deadline = time.monotonic() + 30
    while len(server.state.calls_to("getUpdates")) <= polls:
        assert process.returncode is None, "the bot exited during start-up"
        assert time.monotonic() < deadline, "the bot never started polling"
        await asyncio.sleep(0.05)


async def start(server: RunningServer, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "reminderbot",
        "run",
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )


async def stderr_lines(process: asyncio.subprocess.Process) -> list[str]:
    assert process.stderr is not None
    data = await asyncio.wait_for(process.stderr.read(), timeout=30)
    return [line for line in data.decode().splitlines() if line.strip()]


async def run_to_the_end(env: dict[str, str], *command: str) -> tuple[int, list[str], str]:
    """A ``reminderbot`` command to its end: exit code, non-blank stderr lines, stdout."""
    code, out, err = await run_reminderbot(*command, env=env, seconds=120)
    return code, lines_of(err), out


@pytest.mark.e2e
async def test_the_first_start_makes_a_key_file_only_its_owner_can_read_and_says_so_once(
    server: RunningServer, tmp_path: Path
) -> None:
    """The README's first command: SQLite, nothing set."""
    database = tmp_path / "data" / "reminderbot.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    env = environment(server, url, REMINDERBOT_DATA_KEY=None, REMINDERBOT_LOG_LEVEL="INFO")
    bot = await start(server, env)
    try:
        await polling(server, bot)
    finally:
        assert await stop_process(bot) == 0
    key = tmp_path / "data" / "reminderbot.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    told = [line for line in await stderr_lines(bot) if "key" in line]
    assert len(told) == 1, told
    assert str(key) in told[0] and "back it up apart from the database" in told[0]
    # The next start finds it and says nothing more about it.
    again = await start(server, env)
    try:
        await polling(server, again)
    finally:
        assert await stop_process(again) == 0
    assert [line for line in await stderr_lines(again) if "key" in line] == []


@pytest.mark.e2e
async def test_an_encrypted_database_without_its_key_or_with_a_wrong_one_does_not_start(
    server: RunningServer, tmp_path: Path
) -> None:
    database = tmp_path / "reminderbot.sqlite3"
    url = f"sqlite+aiosqlite:///{database}"
    env = environment(server, url, REMINDERBOT_DATA_KEY=None)
    bot = await start(server, env)
    try:
        await polling(server, bot)
    finally:
        assert await stop_process(bot) == 0
    key = database.with_suffix(".key")
    kept = key.read_bytes()
    key.unlink()

    code, lines, _ = await run_to_the_end(env, "run")
    assert code == 2 and len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    assert "encrypted" in lines[0] and str(key) in lines[0] and "missing" in lines[0]
    assert not key.exists(), "a new key must never replace the one the data needs"

    wrong = environment(server, url, REMINDERBOT_DATA_KEY=crypto.new_key())
    code, lines, _ = await run_to_the_end(wrong, "run")
    assert code == 2 and len(lines) == 1, lines
    assert "None of the data keys given opens this database" in lines[0]
    assert "Traceback" not in lines[0]

    key.write_bytes(kept)  # the key from the backup: it starts again
    bot = await start(server, env)
    try:
        await polling(server, bot)
    finally:
        assert await stop_process(bot) == 0


PEOPLE = 240


async def fill(url: str) -> dict[int, tuple[int, str]]:
    """PEOPLE people under the tests' key, each with a line sent, a mood and a note, and a
    reminder due now (the running bot writes while the rotation does). Returns, per Telegram
    id, their chat id and note."""
    engine = databases.engine_for(url)
    now = datetime.now(UTC)
    written: dict[int, tuple[int, str]] = {}
    try:
        async with create_session_factory(engine).begin() as session:
            for n in range(PEOPLE):
                user = 8_000_000_000 + n
                person = Person(
                    telegram_user_id=user,
                    chat_id=user,
                    language="en",
                    timezone="UTC",
                    consent=ConsentState.GIVEN,
                    consent_given_at=now - timedelta(days=3),
                    audience=Audience.INVOLVED_PARTNER,
                )
                session.add(person)
                await session.flush()
                session.add(
                    Schedule(person_id=person.id, local_time=clock_time(9), next_due_at=now)
                )
                delivery = Delivery(
                    person_id=person.id,
                    due_at=now - timedelta(days=1, minutes=n),
                    content_id="trust-with-your-own-body",
                    status=DeliveryStatus.SENT,
                )
                session.add(delivery)
                await session.flush()
                note = f"note {n}: still here"
                session.add(
                    CheckIn(person_id=person.id, delivery_id=delivery.id, mood=MOOD, note=note)
                )
                written[user] = (user, note)
    finally:
        await engine.dispose()
    return written


def key_ids_stored(database: Path) -> set[str]:
    """The key id of every encrypted value in the file."""
    found: set[str] = set()
    with sqlite3.connect(database) as connection:
        for table, columns in keys.encrypted_columns():
            for name, _ in columns:
                query = f"SELECT {name} FROM {table} WHERE {name} IS NOT NULL"
                found |= {crypto.stored_key_id(v) for (v,) in connection.execute(query)}
        (wrapped,) = connection.execute("SELECT value FROM secrets").fetchone()
        found.add(crypto.stored_key_id(wrapped))
    return found


@pytest.mark.e2e
async def test_a_key_rotates_while_the_bot_runs_and_the_old_key_can_then_be_retired(
    server: RunningServer, tmp_path: Path, sqlite_template: Path
) -> None:
    url = databases.sqlite_copy(sqlite_template, tmp_path)  # under the tests' (old) key
    database = Path(str(make_url(url).database))
    old, new = databases.TEST_DATA_KEY, crypto.new_key()
    new_id = crypto.key_id(crypto.parse_key(new, "test")).hex()
    written = await fill(url)
    old_id = crypto.key_id(crypto.parse_key(old, "test")).hex()
    # Retiring the old key before rotating would leave rows no one can read: it does not start,
    only_new_env = environment(server, url, REMINDERBOT_DATA_KEY=new)
    code, lines, _ = await run_to_the_end(only_new_env, "run")
    assert code == 2 and len(lines) == 1, lines
    assert f"opens this database (it was encrypted with key {old_id})" in lines[0]
    # ... nor after a rotation that stopped after its first step (the database's hash key).
    saved = crypto.current()
    engine = databases.engine_for(url)
    try:
        crypto.use(crypto.Keyring([crypto.parse_key(k, "test") for k in (new, old)]))
        assert await keys.unlock(engine)
        await keys._rewrap_hash_key(engine)
    finally:
        await engine.dispose()
        crypto.use(*saved)
    code, lines, _ = await run_to_the_end(only_new_env, "run")
    assert code == 2 and len(lines) == 1, lines
    assert f"still encrypted with data key {old_id}" in lines[0]
    both = environment(server, url, REMINDERBOT_DATA_KEY=f"{new},{old}")
    bot = await start(server, both)
    try:
        await polling(server, bot)
        code, lines, out = await run_to_the_end(both, "db", "rotate-key", "--batch", "25")
        assert code == 0, lines
        assert f"under data key {new_id}" in out and "can be retired" in out
        # The bot ran beside it all along, sending the reminders that were due.
        assert bot.returncode is None
        assert server.state.calls_to("sendMessage")
    finally:
        assert await stop_process(bot) == 0
    assert key_ids_stored(database) == {new_id}

    # The old key retired: everything reads under the new key alone.
    only_new = crypto.Keyring([crypto.parse_key(new, "test")])
    engine = databases.engine_for(url)
    try:
        crypto.use(only_new)
        assert await keys.unlock(engine)
        async with create_session_factory(engine).begin() as session:
            for user, (chat, note) in written.items():
                person = await repositories.person_by_telegram_id(session, user)
                assert person is not None and person.chat_id == chat
                assert person.audience is Audience.INVOLVED_PARTNER
                (checkin,) = await repositories.checkins_of(session, person.id)
                assert (checkin.mood, checkin.note) == (MOOD, note)
    finally:
        await engine.dispose()
        crypto.use(*saved)
    bot = await start(server, environment(server, url, REMINDERBOT_DATA_KEY=new))
    try:
        await polling(server, bot)
    finally:
        assert await stop_process(bot) == 0


# --------------------------------------------------------------------------- the column types
def test_each_encrypted_column_is_bound_to_its_own_table_and_column() -> None:
    """The associated data is what keeps a value from being moved into another column."""
    found = dict(
        (f"{table}.{name}", ad.decode())
        for table, columns in keys.encrypted_columns()
        for name, ad in columns
    )
    assert found and all(ad == column for column, ad in found.items()), found
    assert {"people.chat_id", "people.audience", "checkins.mood", "checkins.note"} <= set(found)


def test_a_value_moved_to_another_column_does_not_decrypt() -> None:
    ring = crypto.keyring()
    stored = ring.encrypt(b"involved_partner", b"people.audience")
    assert ring.decrypt(stored, b"people.audience") == b"involved_partner"
    with pytest.raises(crypto.DataKeyError, match="moved from another column"):
        ring.decrypt(stored, b"checkins.note")
    # The same answer twice is stored differently (a nonce per value): rows can't be matched.
    assert ring.encrypt(b"anyone", b"people.audience") != ring.encrypt(
        b"anyone", b"people.audience"
    )


def test_sql_cannot_compare_an_encrypted_column_only_test_it_for_null() -> None:
    """A comparison of ciphertexts would silently match nothing: it raises instead."""
    with pytest.raises(TypeError, match="only be tested for NULL"):
        _ = CheckIn.note == "words"
    with pytest.raises(TypeError, match="only be tested for NULL"):
        _ = Person.audience == Audience.HURT_PARTNER
    assert CheckIn.note.is_(None) is not None
    assert CheckIn.note.is_not(None) is not None
