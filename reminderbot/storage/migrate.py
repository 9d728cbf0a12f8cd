"""Apply Alembic migrations on an async engine (``reminderbot db upgrade`` and start-up).

Every migration keeps every row:
- On SQLite, Alembic's batch mode recreates a table (copy, DROP, rename). With foreign keys on,
  that DROP cascades and deletes every row that points at the table. So migrations run with
  foreign keys off, in one explicit transaction, and commit only when ``PRAGMA
  foreign_key_check`` finds nothing; otherwise they roll back.
- On PostgreSQL, replicas that start together migrate one at a time: a transaction-scoped
  advisory lock is taken before Alembic reads the current revision, so the second finds the
  work done.

Alembic is imported only when there is something to migrate: a bot starting on a database that
is up to date reads one row (``is_at_head``) instead, a fifth of a second less at every start.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration's revision; a test checks it against Alembic's own head, so a new
# migration fails the tests until this names it.
HEAD = "0007"
# The first key of a two-key advisory lock ("migrating", the same in every release; the sending
# leader uses 0x52420001). The second is a hash of the schema, so bots in two schemas of one
# database never wait on each other.
LOCK_CLASS = 0x52420002
_LOCK = text("SELECT pg_advisory_xact_lock(:lock_class, hashtext(current_schema()))")


class MigrationError(Exception):
    """A migration that would leave the database inconsistent; nothing was changed."""


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


async def is_at_head(engine: AsyncEngine) -> bool:
    """Whether every migration is applied, read without Alembic. False for a new database, and
    for one that cannot be read: ``upgrade`` then does the work, or reports the problem."""
    try:
        async with engine.connect() as connection:
            found = await connection.execute(text("SELECT version_num FROM alembic_version"))
            return list(found.scalars()) == [HEAD]
    except SQLAlchemyError:
        return False


async def current_revision(engine: AsyncEngine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    def _read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(_read)


def _checked_sqlite(connection: Connection, migrate: Callable[[Connection], None]) -> None:
    """Run ``migrate`` in one SQLite transaction; commit only if every foreign key still holds."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")  # takes the write lock: one migrator at a time
    try:
        migrate(connection)
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            tables = sorted({str(row[0]) for row in broken})
            raise MigrationError(
                f"The upgrade would leave {len(broken)} row(s) in {', '.join(tables)} pointing "
                "at rows that do not exist, so nothing was changed; restore a backup or ask "
                "for help."
            )
    except BaseException:
        connection.exec_driver_sql("ROLLBACK")
        raise
    connection.exec_driver_sql("COMMIT")


async def _run(engine: AsyncEngine, migrate: Callable[[Connection], None]) -> None:
    if engine.dialect.name != "sqlite":
        async with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                await connection.execute(_LOCK, {"lock_class": LOCK_CLASS})
            await connection.run_sync(migrate)
        return
    async with engine.connect() as plain:
        # AUTOCOMMIT: the driver opens no transaction of its own, so the PRAGMA takes effect
        # (inside a transaction it is silently ignored) and BEGIN/COMMIT below are ours.
        connection = await plain.execution_options(isolation_level="AUTOCOMMIT")
        await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        try:
            await connection.run_sync(_checked_sqlite, migrate)
        finally:
            await connection.exec_driver_sql("PRAGMA foreign_keys=ON")


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    from alembic import command

    def _upgrade(connection: Connection) -> None:
        command.upgrade(alembic_config(connection), revision)

    await _run(engine, _upgrade)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    from alembic import command

    def _downgrade(connection: Connection) -> None:
        command.downgrade(alembic_config(connection), revision)

    await _run(engine, _downgrade)
