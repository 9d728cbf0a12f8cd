"""Engine and session factory: SQLite (WAL, foreign keys on) or PostgreSQL (asyncpg).

Erasure reaches the disk on SQLite: deleted rows are overwritten with zeros (``secure_delete``)
and, once a transaction that erased someone has committed, the WAL is checkpointed into the
file and truncated, so neither the file nor its ``-wal`` still holds them."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

SessionFactory = async_sessionmaker[AsyncSession]
log = logging.getLogger(__name__)
# Set in a session's info by whatever erases a person (repositories.delete_person, or a purge
# through mark_erased): after its commit the erased rows are scrubbed from the disk.
ERASED = "reminderbot.erased"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default in SQLite; WAL lets readers and the writer overlap, and the
    # busy timeout makes a second writer wait instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    # Deleted content is overwritten with zeros, in pages and in freed pages alike.
    cursor.execute("PRAGMA secure_delete=ON")
    cursor.close()


def create_sqlite_file(database: Path) -> bool:
    """Make the database file (0600) and any missing folder (0700) before SQLite does, so that
    people's notes are never readable by other users of the machine; SQLite gives its -wal and
    -shm files the database file's mode. True when the file was made here (an empty database)."""
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        return False
    return True


def mark_erased(session: AsyncSession | Session) -> None:
    """After this transaction commits, scrub what it deleted from the disk."""
    session.info[ERASED] = True


class _Session(Session):
    """The sessions' own class, so the events below concern this bot's sessions only."""


@event.listens_for(_Session, "after_commit")
def _scrub_after_erasure(session: Session) -> None:
    # Runs inside the async session's greenlet, so a sync connection may be used here.
    if not session.info.pop(ERASED, False):
        return
    bind = session.get_bind()
    engine = bind.engine if isinstance(bind, Connection) else bind
    if engine.dialect.name != "sqlite":
        return  # PostgreSQL: dead rows go with VACUUM; dumps never hold them (README)
    with engine.connect() as connection:
        # Every frame into the file (whose deleted cells are zeros), then the WAL to 0 bytes.
        busy = connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar()
    if busy:
        log.warning("the WAL was not truncated after an erasure: a reader held it too long")


@event.listens_for(_Session, "after_rollback")
def _nothing_erased(session: Session) -> None:
    session.info.pop(ERASED, None)


def create_engine(
    url: str, *, echo: bool = False, connect_args: dict[str, Any] | None = None
) -> AsyncEngine:
    """hide_parameters: bound values (a person's note, say) never appear in an exception's text,
    so no traceback or log line can carry them."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            # A folder or file we may not create: SQLite says why on the first connection.
            with contextlib.suppress(OSError):
                create_sqlite_file(Path(database))
        engine = create_async_engine(
            url, echo=echo, hide_parameters=True, connect_args=connect_args or {}
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        connect_args=connect_args or {},
    )


# The running bot's queries on PostgreSQL: a network cut without a FIN would otherwise hold a
# query (and the person's reply, or the dispatcher's tick) until TCP gives up, about a quarter
# of an hour on Linux. A query of the running bot takes milliseconds; the migration engine has
# no such limit (an index built on millions of rows may rightly take minutes).
QUERY_TIMEOUT_SECONDS = 30.0
CONNECT_TIMEOUT_SECONDS = 10.0


def serving_engine(url: str, *, connect_args: dict[str, Any] | None = None) -> AsyncEngine:
    """The engine ``reminderbot run`` serves with: every PostgreSQL query and connection
    attempt gives up after a bounded time, and the caller's database-error path takes over."""
    if is_sqlite(url):
        return create_engine(url, connect_args=connect_args)
    limits = {"command_timeout": QUERY_TIMEOUT_SECONDS, "timeout": CONNECT_TIMEOUT_SECONDS}
    return create_engine(url, connect_args=limits | (connect_args or {}))


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    # expire_on_commit=False: objects stay readable after the caller's transaction ends.
    return async_sessionmaker(engine, expire_on_commit=False, sync_session_class=_Session)
