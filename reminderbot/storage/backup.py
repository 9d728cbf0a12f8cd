"""``reminderbot db backup PATH``: a consistent copy of a SQLite database while the bot runs.

SQLite's online backup API copies every page inside one read transaction, so the copy is the
database as it was at one instant, committed rows in the write-ahead log included (copying the
file would miss those), and in WAL mode the bot keeps writing meanwhile. PostgreSQL has its own
tool for this, and the command says so instead of half-doing it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url

# Said wherever a backup is made: a copy of encrypted data is of no use without its key, and a
# key kept beside the copy protects nothing.
KEY_SENTENCE = (
    "Back up the data key file too, if one is configured, and keep it apart from this copy: "
    "what is encrypted in the copy can't be read without it."
)


class BackupError(Exception):
    """Why no backup was made, in one sentence for the operator."""


@dataclass(frozen=True, slots=True)
class Backup:
    source: Path
    target: Path
    size: int
    revision: str | None

    def report(self) -> str:
        revision = f", at revision {self.revision}" if self.revision else ""
        return (
            f"Backed up {self.source} to {self.target} ({self.size} bytes{revision}).\n"
            f"{KEY_SENTENCE}"
        )


def backup(database_url: str, target: Path) -> Backup:
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        # libpq's form of the URL, without the password (pg_dump reads PGPASSWORD or ~/.pgpass).
        plain = URL.create(
            "postgresql",
            username=url.username,
            host=url.host,
            port=url.port,
            database=url.database,
        )
        raise BackupError(
            "reminderbot db backup copies SQLite files; for PostgreSQL run "
            f"`pg_dump -Fc -f reminderbot.dump '{plain.render_as_string()}'` instead "
            "(and keep the data key file too, if one is configured)."
        )
    if url.get_backend_name() != "sqlite":
        raise BackupError(f"reminderbot db backup knows SQLite only, not {url.drivername}.")
    if not url.database or url.database == ":memory:":
        raise BackupError("The database is in memory; there is no file to back up.")
    return backup_sqlite(Path(url.database), target)


def backup_sqlite(source: Path, target: Path) -> Backup:
    if not source.is_file():
        raise BackupError(
            f"There is no SQLite database at {source} to back up; check REMINDERBOT_DATABASE_URL."
        )
    if target.exists() or target.is_symlink():
        raise BackupError(f"{target} already exists; name a new file, so no backup is overwritten.")
    if not target.parent.is_dir():
        raise BackupError(f"The folder {target.parent} does not exist; create it first.")
    # Only the owner may read the copy, and any journal SQLite writes beside it while copying:
    # it holds everything people told the bot.
    previous_umask = os.umask(0o077)
    try:
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            revision = _copy(source, target)
        except BaseException:
            for leftover in (target, Path(f"{target}-journal"), Path(f"{target}-wal")):
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()
            raise
    finally:
        os.umask(previous_umask)
    return Backup(source, target, target.stat().st_size, revision)


def _copy(source: Path, target: Path) -> str | None:
    try:
        # uri mode=rw: never create a database where the operator's URL pointed at nothing.
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(target)
            try:
                # pages=-1: every page in one step, so one read snapshot (a stepwise copy starts
                # over each time the bot writes, and may never finish while it is busy).
                src.backup(dst, pages=-1)
                # One self-contained file: no write-ahead log to carry along with the copy.
                dst.execute("PRAGMA journal_mode=DELETE")
                (check,) = dst.execute("PRAGMA quick_check").fetchone()
                if check != "ok":
                    raise BackupError(f"The copy at {target} failed SQLite's check ({check}).")
                revision = _revision(dst)
            finally:
                dst.close()
        finally:
            src.close()
        with open(target, "rb") as written:
            os.fsync(written.fileno())
    except sqlite3.Error as exc:
        raise BackupError(
            f"{source} could not be copied as a SQLite database ({type(exc).__name__}: {exc})."
        ) from exc
    return revision


def _revision(connection: sqlite3.Connection) -> str | None:
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # not a database of ours, or never migrated
        return None
    return str(row[0]) if row else None
