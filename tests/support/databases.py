"""Test databases: a migrated SQLite file per test, and a PostgreSQL database migrated once per
run and truncated before each test. PostgreSQL tests skip with the reason when the server
cannot be reached; they never pass without running."""

from __future__ import annotations

import asyncio
import itertools
import os
import shutil
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.storage import crypto
from reminderbot.storage.db import create_engine
from reminderbot.storage.migrate import upgrade
from reminderbot.storage.models import Base

POSTGRES_URL = os.environ.get(
    "REMINDERBOT_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# Every database the tests make is encrypted with this key and one hash key (the migration
# takes the one already loaded), so a bot process started on a test's database opens it too:
# through REMINDERBOT_DATA_KEY, or the key file written beside each SQLite copy.
TEST_DATA_KEY = "dGVzdC1kYXRhLWtleS1mb3ItcmVtaW5kZXJib3QtMDE="
TEST_HASH_KEY = b"test hash key for telegram ids!!"
os.environ["REMINDERBOT_DATA_KEY"] = TEST_DATA_KEY
crypto.use(crypto.Keyring(crypto.parse_keys(TEST_DATA_KEY, "tests")), TEST_HASH_KEY)
# Emptied before each test: every table but the database's own keys (a bot process started on
# the database opens them).
TABLES = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name != "secrets"]
# Each test run gets its own schema, so two runs on one server (a developer and CI, or two
# sessions) never truncate each other's tables.
SCHEMA = f"reminderbot_test_{os.getpid()}"


def engine_for(url: str, schema: str = SCHEMA) -> AsyncEngine:
    if url.startswith("postgresql"):
        return create_engine(url, connect_args={"server_settings": {"search_path": schema}})
    return create_engine(url)


async def _migrate_fresh_postgres(url: str) -> None:
    admin = create_engine(url)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            await connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    finally:
        await admin.dispose()
    engine = engine_for(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


async def _drop_schema(url: str) -> None:
    admin = create_engine(url)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
    finally:
        await admin.dispose()


def drop_postgres_schema() -> None:
    asyncio.run(_drop_schema(POSTGRES_URL))


def prepare_postgres() -> str | None:
    """Migrate the test database from empty. Returns a skip reason, or None when ready."""
    try:
        asyncio.run(asyncio.wait_for(_migrate_fresh_postgres(POSTGRES_URL), timeout=20))
    except Exception as exc:  # any failure to reach it means "not available here"
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}: {exc}"
    return None


async def _migrate_sqlite(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def prepare_sqlite_template(folder: Path) -> Path:
    template = folder / "template.sqlite3"
    asyncio.run(_migrate_sqlite(template))
    return template


def sqlite_copy(template: Path, folder: Path) -> str:
    target = folder / "test.sqlite3"
    shutil.copyfile(template, target)
    target.with_suffix(".key").write_text(TEST_DATA_KEY + "\n")
    return f"sqlite+aiosqlite:///{target}"


async def truncate_postgres(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


_fresh_schemas = itertools.count(1)


@dataclass(frozen=True)
class EmptyDatabase:
    url: str
    schema: str = SCHEMA  # PostgreSQL only

    def engine(self) -> AsyncEngine:
        return engine_for(self.url, self.schema)


@asynccontextmanager
async def empty_database(kind: str, folder: Path) -> AsyncIterator[EmptyDatabase]:
    """A database with no tables at all, not even alembic_version: a new SQLite file, or a new
    PostgreSQL schema of its own (dropped afterwards)."""
    if kind == "sqlite":
        yield EmptyDatabase(f"sqlite+aiosqlite:///{folder / 'empty.sqlite3'}")
        return
    schema = f"{SCHEMA}_fresh_{next(_fresh_schemas)}"
    admin = create_engine(POSTGRES_URL)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            await connection.execute(text(f"CREATE SCHEMA {schema}"))
        yield EmptyDatabase(POSTGRES_URL, schema)
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await admin.dispose()


async def _upgrade_in_schema(url: str, schema: str) -> None:
    engine = engine_for(url, schema)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    # `python -m tests.support.databases URL SCHEMA`: one process migrating, as a replica would.
    asyncio.run(_upgrade_in_schema(sys.argv[1], sys.argv[2]))
