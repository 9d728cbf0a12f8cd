"""Upgrades keep every row, on SQLite and PostgreSQL, for every migration there is or will be.

At each revision before head the test fills every table that exists there (found by reflection,
so a new migration needs no new test) with realistic rows that respect the foreign keys, then
upgrades one revision at a time to head. After each step every row is still there, with the same
values in every column that still exists, and the new revision's tables are filled in turn.
"""

from __future__ import annotations

import asyncio
import sys
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import BigInteger, Enum, LargeBinary, MetaData, Table, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.storage import crypto
from reminderbot.storage.migrate import (
    MigrationError,
    alembic_config,
    current_revision,
    head_revision,
    upgrade,
)
from reminderbot.storage.models import Base
from tests.support import databases

# Oldest first.
REVISIONS = [
    script.revision
    for script in reversed(list(ScriptDirectory.from_config(alembic_config()).walk_revisions()))
]
ROWS_PER_FILL = 6
REPO = Path(__file__).resolve().parents[1]

# Realistic words where a column's meaning is known: the values the bot itself stores.
ENUM_VALUES = {
    (table.name, column.name): list(column.type.enums)
    for table in Base.metadata.tables.values()
    for column in table.columns
    if isinstance(column.type, Enum)
}
WORDS = {
    "language": ["en", "de", "pt-BR"],
    "timezone": ["Europe/Berlin", "America/New_York", "Asia/Kolkata", "UTC"],
    "kind": ["affirmation", "practice", "checkin_prompt", "couple_prompt"],
    "mood": ["steady", "heavy", "need_space", "open"],
    "reason": ["paused", "quiet_hours", "unreachable", "stale"],
    "note": ["We walked after dinner — it helped.", "Hard day. Ich brauche Zeit 💬", "ok"],
    "audience": ["anyone", "hurt_partner", "involved_partner"],
}
# Columns the models keep encrypted: an upgrade that encrypts a plain value keeps it when the
# stored bytes decrypt to it (under their table.column) with the tests' key.
ENCRYPTED = {
    (table.name, column.name): column.type.context.encode()
    for table in Base.metadata.tables.values()
    for column in table.columns
    if isinstance(column.type, crypto.Encrypted)
}

Snapshot = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def _reflect(connection: Connection) -> MetaData:
    metadata = MetaData()
    metadata.reflect(connection)
    if "alembic_version" in metadata.tables:
        metadata.remove(metadata.tables["alembic_version"])
    return metadata


def _value(table: Table, column: Any, n: int, dialect: str, parents: Snapshot) -> Any:
    """The n-th row's value for ``column``: varied per row (unique constraints hold), NULL in
    every fourth row where allowed, and a parent's key for a foreign key."""
    if column.nullable and n % 4 == 0:
        return None
    if column.foreign_keys:
        target = next(iter(column.foreign_keys)).column
        rows = list(parents[target.table.name].values())
        assert rows, f"{table.name}.{column.name}: no {target.table.name} row to point at"
        return rows[n % len(rows)][target.name]
    choices = ENUM_VALUES.get((table.name, column.name)) or WORDS.get(column.name)
    offset = zlib.crc32(f"{table.name}.{column.name}".encode()) % 1000
    ad = ENCRYPTED.get((table.name, column.name))
    if ad is not None and isinstance(
        column.type, LargeBinary
    ):  # encrypted by now, as the bot would
        plain = choices[n % len(choices)] if choices else f"{column.name} {n} · ü"
        if column.name == "chat_id":
            plain = str(7_000_000_000 + n * 1_000)
        return crypto.keyring().encrypt(plain.encode(), ad)
    if column.name == "telegram_user_hash":
        return crypto.user_hash(7_000_000_000 + n * 1_000)
    if choices:
        return choices[n % len(choices)]
    kind = column.type.python_type
    if kind is bool:
        return n % 2 == 1
    if kind is int:
        # Telegram ids do not fit in 32 bits; a BIGINT column gets such values.
        base = 7_000_000_000 if isinstance(column.type, BigInteger) else 1_000
        return base + n * 1_000 + offset
    if kind is str:
        text = f"{column.name} {n} · ü"
        length = getattr(column.type, "length", None)
        return text[-length:] if length else text
    if kind is datetime:
        value = datetime(2025, 3, 30, 0, 30, 0, 123_456, tzinfo=UTC) + timedelta(
            hours=n, minutes=offset % 60
        )
        return value if dialect == "postgresql" else value.replace(tzinfo=None)
    if kind is date:
        return date(2025, 1, 1) + timedelta(days=n + offset)
    if kind is time:
        return time((n + offset) % 24, offset % 60, 15)
    if kind is float:
        return n + offset / 1000
    if kind is Decimal:
        return Decimal(n) + Decimal(offset) / 1000
    if kind is bytes:
        return f"{n}:{offset}".encode()
    raise AssertionError(f"no value generator for {table.name}.{column.name} ({column.type})")


def _read(connection: Connection) -> Snapshot:
    snapshot: Snapshot = {}
    for table in _reflect(connection).sorted_tables:
        key = list(table.primary_key.columns)
        snapshot[table.name] = {
            tuple(row[c.name] for c in key): dict(row)
            for row in connection.execute(select(table)).mappings()
        }
    return snapshot


def _numbered_by_the_database(table: Table, column: Any) -> bool:
    """A row id the database assigns. A BIGINT key (a number Telegram gave, such as
    handled_updates.update_id) is always given by the bot, though reflection may call it
    autoincrement."""
    return column is table.autoincrement_column and not isinstance(column.type, BigInteger)


def _fill(connection: Connection) -> None:
    """ROWS_PER_FILL more rows in every table, parents before children."""
    dialect = connection.dialect.name
    metadata = _reflect(connection)
    rows = _read(connection)
    for table in metadata.sorted_tables:
        start = len(rows[table.name])
        for n in range(start, start + ROWS_PER_FILL):
            values = {
                column.name: _value(table, column, n, dialect, rows)
                for column in table.columns
                if not _numbered_by_the_database(table, column)
            }
            inserted = connection.execute(table.insert().values(values).returning(*table.columns))
            row = dict(inserted.mappings().one())
            rows[table.name][tuple(row[c.name] for c in table.primary_key.columns)] = row


def _counts(snapshot: Snapshot) -> dict[str, int]:
    return {table: len(rows) for table, rows in snapshot.items()}


def _same(table: str, column: str, old: Any, new: Any) -> bool:
    """Equal, or encrypted by this step: the new bytes decrypt to the old value."""
    if old == new:
        return True
    ad = ENCRYPTED.get((table, column))
    if ad is None or old is None or isinstance(old, bytes) or not isinstance(new, bytes):
        return False
    return crypto.keyring().decrypt(new, ad).decode() == str(old)


def _assert_kept(before: Snapshot, after: Snapshot, revision: str) -> None:
    kept = {table: len(after.get(table, {})) for table in before}
    assert kept == _counts(before), f"rows lost by the upgrade to {revision}"
    for table, rows in before.items():
        for key, row in rows.items():
            now = after[table][key]
            changed = {
                c: (v, now[c])
                for c, v in row.items()
                if c in now and not _same(table, c, v, now[c])
            }
            assert not changed, f"{table} {key}: values changed by {revision}: {changed}"
            if "telegram_user_id" in row and "telegram_user_hash" in now:
                # The id became its keyed hash: the person is still found by their id.
                assert now["telegram_user_hash"] == crypto.user_hash(row["telegram_user_id"])


@pytest.fixture
async def empty(database_kind: str, tmp_path: Path) -> AsyncIterator[databases.EmptyDatabase]:
    async with databases.empty_database(database_kind, tmp_path) as database:
        yield database


@pytest.mark.parametrize("start", ["base", *REVISIONS[:-1]])
async def test_every_row_survives_every_upgrade_to_head(
    empty: databases.EmptyDatabase, start: str
) -> None:
    engine: AsyncEngine = empty.engine()
    try:
        if start != "base":
            await upgrade(engine, start)
        async with engine.begin() as connection:
            await connection.run_sync(_fill)
        steps = REVISIONS if start == "base" else REVISIONS[REVISIONS.index(start) + 1 :]
        filled_tables = 0
        for revision in steps:
            async with engine.connect() as connection:
                before = await connection.run_sync(_read)
            await upgrade(engine, revision)
            async with engine.connect() as connection:
                after = await connection.run_sync(_read)
            _assert_kept(before, after, revision)
            async with engine.begin() as connection:
                await connection.run_sync(_fill)
            filled_tables = len(after)
        assert await current_revision(engine) == head_revision()
        # The data really went through the later steps: every table at head had rows.
        assert filled_tables == len(Base.metadata.tables)
    finally:
        await engine.dispose()


def _schema_differences(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


@pytest.mark.postgres
@pytest.mark.parametrize("database_kind", ["postgresql"], indirect=True)
async def test_two_processes_upgrading_at_once_both_succeed(
    empty: databases.EmptyDatabase,
) -> None:
    """Replicas start together and each migrates: one does the work, the others wait for it
    and then find nothing left to do."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.support.databases", empty.url, empty.schema, cwd=REPO
        )
        for _ in range(3)
    ]
    exits = await asyncio.wait_for(asyncio.gather(*(p.wait() for p in processes)), timeout=120)
    assert exits == [0, 0, 0]
    engine = empty.engine()
    try:
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as connection:
            assert await connection.run_sync(_schema_differences) == []
    finally:
        await engine.dispose()


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
async def test_an_upgrade_that_would_break_a_reference_changes_nothing(
    empty: databases.EmptyDatabase,
) -> None:
    """A row that points at nobody (left by some earlier fault) fails the check before commit:
    the upgrade stops with one sentence and the database stays exactly as it was."""
    engine = empty.engine()
    try:
        await upgrade(engine, REVISIONS[0])
        async with engine.begin() as connection:
            await connection.run_sync(_fill)
        async with engine.connect() as connection:
            await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await connection.exec_driver_sql("UPDATE schedules SET person_id = 999999")
            await connection.commit()
            before = await connection.run_sync(_read)
            tables_before = await connection.run_sync(_table_names)
        with pytest.raises(MigrationError, match=r"schedules") as caught:
            await upgrade(engine)
        assert len(str(caught.value).splitlines()) == 1
        assert await current_revision(engine) == REVISIONS[0]
        async with engine.connect() as connection:
            assert await connection.run_sync(_table_names) == tables_before
            assert await connection.run_sync(_read) == before
    finally:
        await engine.dispose()


@pytest.mark.parametrize("database_kind", ["sqlite"], indirect=True)
async def test_foreign_keys_hold_again_after_an_upgrade(empty: databases.EmptyDatabase) -> None:
    """The engine that migrated at start is the one the bot then uses: deleting a person must
    still take their schedules with them (foreign keys back on)."""
    engine = empty.engine()
    try:
        await upgrade(engine, REVISIONS[0])
        async with engine.begin() as connection:
            await connection.run_sync(_fill)
        await upgrade(engine)
        async with engine.begin() as connection:
            person = (await connection.execute(text("SELECT MIN(person_id) FROM schedules"))).one()
            await connection.execute(text("DELETE FROM people WHERE id = :id"), {"id": person[0]})
            left = await connection.execute(
                text("SELECT COUNT(*) FROM schedules WHERE person_id = :id"), {"id": person[0]}
            )
            assert left.scalar_one() == 0
    finally:
        await engine.dispose()


async def test_people_upgraded_to_0005_keep_the_practice_default(
    empty: databases.EmptyDatabase,
) -> None:
    """Nobody chose how long their check-ins are kept before 0005: every existing person gets
    NULL (the practice's checkin_keep_days, which may change later), never a number of ours."""
    engine: AsyncEngine = empty.engine()
    try:
        await upgrade(engine, "0004")
        async with engine.begin() as connection:
            await connection.run_sync(_fill)
        await upgrade(engine, "0005")
        async with engine.connect() as connection:
            kept = (await connection.execute(text("SELECT keep_checkins_days FROM people"))).all()
        assert kept and all(row[0] is None for row in kept)
    finally:
        await engine.dispose()


ENCRYPTING = "0007"  # the revision that encrypts what was plain


@pytest.mark.parametrize("start", [REVISIONS[REVISIONS.index(ENCRYPTING) - 1]])
async def test_rows_encrypted_by_the_upgrade_read_back_through_the_models(
    empty: databases.EmptyDatabase, start: str
) -> None:
    """Every row filled before the encrypting upgrade is there after it, every value reads back
    the same through the models (no service sees ciphertext), and each person is still found
    by their Telegram id, which is no longer stored."""
    from sqlalchemy.ext.asyncio import AsyncSession

    from reminderbot.storage import repositories
    from reminderbot.storage.models import CheckIn, Delivery, PartnerNotice, Person

    engine = empty.engine()
    try:
        await upgrade(engine, start)
        async with engine.begin() as connection:
            await connection.run_sync(_fill)
            before = await connection.run_sync(_read)
        await upgrade(engine)
        async with AsyncSession(engine) as session:
            people = {p.id: p for p in (await session.execute(select(Person))).scalars()}
            assert len(people) == len(before["people"])
            for (key,), row in before["people"].items():
                person = people[key]
                assert person.chat_id == row["chat_id"]
                assert person.audience.value == row["audience"]
                found = await repositories.person_by_telegram_id(session, row["telegram_user_id"])
                assert found is person
            for model, columns in (
                (CheckIn, ("mood", "note")),
                (Delivery, ("content_id",)),
                (PartnerNotice, ("mood",)),
            ):
                rows = {r.id: r for r in (await session.execute(select(model))).scalars()}
                table = model.__tablename__
                assert len(rows) == len(before[table])
                for (key,), row in before[table].items():
                    for column in columns:
                        value = getattr(rows[key], column)
                        plain = value.value if hasattr(value, "value") else value
                        assert plain == row[column], f"{table}.{column} of row {key}"
        async with engine.connect() as connection:
            raw = await connection.run_sync(_read)
        stored = repr(raw)
        for (_,), row in before["checkins"].items():
            if row["note"] and len(row["note"]) > 5:  # "ok" is in many a column name
                assert row["note"] not in stored
    finally:
        await engine.dispose()
