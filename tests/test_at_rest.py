"""Private at rest: a copy of the database (the SQLite file and its -wal, or a pg_dump) says
nothing of what a person wrote or chose, and after /delete nothing of them is left on disk.

Each scan looks for a note's marker, a mood and a "which describes you" answer in every form a
reader of a copy could try: UTF-8, UTF-16 (both byte orders), hex (how pg_dump writes bytea) and
base64 at all three alignments.
"""

from __future__ import annotations

import base64
import shutil
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from reminderbot.delivery.reminder import checkin_data
from reminderbot.storage.models import Mood
from reminderbot.telegram import callbacks
from tests.support import databases
from tests.support.harness import BotHarness, FakeClock
from tests.test_checkins_support import checkins_of, joined, utc

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
