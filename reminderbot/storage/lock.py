"""One process per SQLite database.

Two bots on one SQLite file would both dispatch (claiming retries twice) and fight over
getUpdates. ``hold_sqlite_lock`` takes an exclusive flock on ``<database>.lock`` and keeps it
until the process exits. The kernel drops a flock when its holder dies, even by kill -9, so a
lock file left behind never blocks the next start. PostgreSQL needs no such lock: several
instances there coordinate through the database.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url

# Open lock files, by database, for the life of the process (closing one releases its lock).
_held: dict[Path, int] = {}


class DatabaseLockError(Exception):
    """Another process holds the database, or its lock file cannot be made; the message is what
    the operator reads."""


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL, resolved; None for PostgreSQL or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database).resolve()


def hold_sqlite_lock(url: str) -> Path | None:
    """Hold the lock for the SQLite database at ``url`` until this process exits.

    Returns the lock file, or None when ``url`` is not a SQLite file. Raises DatabaseLockError when
    another process holds it. Calling it again in the same process is harmless.
    """
    database = sqlite_file(url)
    if database is None:
        return None
    if database in _held:
        return database.with_name(database.name + ".lock")
    lock_path = database.with_name(database.name + ".lock")
    try:
        lock_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # as storage/db.py
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise DatabaseLockError(
            f"The lock file {lock_path} cannot be created ({exc.strerror}); check that folder's "
            "permissions or REMINDERBOT_DATABASE_URL."
        ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseLockError(
            f"Another reminderbot process is already running on {database}; stop it first "
            "(one process per SQLite database, or move to PostgreSQL for several)."
        ) from None
    _held[database] = fd
    return lock_path


def release_sqlite_lock(url: str) -> None:
    """Give the lock back before the process exits (for tests and embedding)."""
    database = sqlite_file(url)
    fd = _held.pop(database, None) if database is not None else None
    if fd is not None:
        os.close(fd)
