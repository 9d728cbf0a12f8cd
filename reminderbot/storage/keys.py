"""The operator's data keys: where they come from, the check at start, and rotation.

Keys come from ``REMINDERBOT_DATA_KEY`` (comma-separated, the first encrypts), else
``data_key_file``, else, for SQLite only, ``<database>.key`` beside the database file, made on
first start (mode 0600). PostgreSQL has no such default: replicas must share one key, and a key
made by whichever replica started first would be a key the others don't have.

At start the wrapped hash key in ``secrets`` is opened with the keys given: a database that is
encrypted but is given no key, or the wrong key, stops the bot before it does anything.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import LargeBinary, column, func, select, table, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from reminderbot.storage import crypto
from reminderbot.storage.crypto import DataKeyError, Keyring
from reminderbot.storage.models import Base


@dataclass(frozen=True)
class Loaded:
    keyring: Keyring | None
    created: Path | None = None  # a key file made just now: the caller logs where it is
    # No keyring: why, said when a key is first needed (after the database proved reachable,
    # so an unreachable database is reported as that).
    missing: str | None = None


def sqlite_path(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def default_key_file(database: Path) -> Path:
    return database.with_suffix(".key")


def _sqlite_is_encrypted(database: Path) -> bool:
    """Whether this SQLite file already holds encrypted rows (a ``secrets`` table)."""
    if not database.exists():
        return False
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            found = connection.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'secrets'"
            ).fetchone()
    except sqlite3.Error:
        return False  # not a database we can read: the migration reports that
    return found is not None


def load_keys(data_key: str | None, data_key_file: Path | None, database_url: str) -> Loaded:
    """The keyring for this run, from the settings; raises DataKeyError with one sentence."""
    if data_key:
        return Loaded(Keyring(crypto.parse_keys(data_key, "REMINDERBOT_DATA_KEY")))
    if data_key_file is not None:
        if not data_key_file.exists():
            raise DataKeyError(f"The data key file {data_key_file} (data_key_file) does not exist.")
        return Loaded(Keyring(crypto.read_key_file(data_key_file)))
    database = sqlite_path(database_url)
    if database is None:
        return Loaded(
            None,
            missing="PostgreSQL needs a data key: set REMINDERBOT_DATA_KEY (the same on every "
            "instance) to one made with `reminderbot db new-key`, or data_key_file.",
        )
    path = default_key_file(database)
    if path.exists():
        return Loaded(Keyring(crypto.read_key_file(path)))
    if _sqlite_is_encrypted(database):
        raise DataKeyError(
            f"The database {database} is encrypted but its key file {path} is missing: "
            "restore the key file from its backup, or give the key in REMINDERBOT_DATA_KEY."
        )
    return Loaded(Keyring([crypto.create_key_file(path)]), created=path)


async def unlock(engine: AsyncEngine) -> bool:
    """Open the database's hash key with the loaded keys. False when the database is not
    encrypted yet (new, or before revision 0007); raises DataKeyError for a wrong key."""
    secrets = table("secrets", column("name"), column("value", LargeBinary))
    query = select(secrets.c.value).where(secrets.c.name == crypto.HASH_KEY_NAME)
    try:
        async with engine.connect() as connection:
            wrapped = (await connection.execute(query)).scalar_one_or_none()
    except (SQLAlchemyError, OSError):
        return False  # no such table yet (the upgrade makes it), or unreachable (it says so)
    if wrapped is None:
        return False
    crypto.keyring()  # no key at all: says why
    try:
        crypto.use_hash_key(crypto.unwrap_hash_key(wrapped))
    except DataKeyError as exc:
        raise DataKeyError(
            f"None of the data keys given opens this database (it was encrypted with key "
            f"{crypto.stored_key_id(wrapped)}); give that key in REMINDERBOT_DATA_KEY or "
            "data_key_file."
        ) from exc
    await _no_retired_key_in_use(engine)
    return True


async def _no_retired_key_in_use(engine: AsyncEngine) -> None:
    """A key retired before ``db rotate-key`` finished would leave rows no one can read, and a
    bot that fails on some people but not others. The people's rows tell (one pass over one
    small table; every other table is rotated with them)."""
    people = table("people", column("chat_id", LargeBinary), column("audience", LargeBinary))
    first, width = 2, crypto.KEY_ID_BYTES  # SQL counts from 1, after the version byte
    query = select(
        func.substr(people.c.chat_id, first, width), func.substr(people.c.audience, first, width)
    ).distinct()
    async with engine.connect() as connection:
        found = {bytes(k) for row in await connection.execute(query) for k in row if k}
    missing = sorted(k.hex() for k in found - crypto.keyring().ids)
    if missing:
        raise DataKeyError(
            f"Rows are still encrypted with data key {missing[0]}, which was not given: give it "
            "too, and retire it only after `reminderbot db rotate-key` says every value is "
            "under the new key."
        )


# --------------------------------------------------------------------------- rotation
def encrypted_columns() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """(table, [(column, associated data)]) for every encrypted column in the models."""
    for mapped in Base.metadata.sorted_tables:
        found = [
            (c.name, c.type.context.encode())
            for c in mapped.columns
            if isinstance(c.type, crypto.Encrypted)
        ]
        if found:
            yield mapped.name, found


@dataclass
class Rotation:
    rewritten: int = 0  # values now under the first key that were not
    left: dict[str, int] = field(default_factory=dict)  # table -> values still under others


async def rotate(engine: AsyncEngine, *, batch: int = 500, pause: float = 0.01) -> Rotation:
    """Re-encrypt every value under the first key, ``batch`` rows per short transaction.

    Safe beside running bots: each value is written only if it still holds what was read
    (a bot may have changed it meanwhile, and then wrote it under its own first key), and a
    second pass counts what is still under another key (a bot that still encrypts with it)."""
    keyring = crypto.keyring()
    first = keyring.first_id
    report = Rotation()
    await _rewrap_hash_key(engine)
    for name, columns in encrypted_columns():
        raw = table(name, column("id"), *(column(c, LargeBinary) for c, _ in columns))
        for pass_number in (1, 2):
            last = -1
            while True:
                async with engine.begin() as connection:
                    rows = (
                        await connection.execute(
                            select(raw).where(raw.c.id > last).order_by(raw.c.id).limit(batch)
                        )
                    ).all()
                    for row in rows:
                        for c, ad in columns:
                            old: Any = getattr(row, c)
                            if old is None or bytes(old[1 : crypto.HEADER_BYTES]) == first:
                                continue
                            if pass_number == 2:
                                report.left[name] = report.left.get(name, 0) + 1
                                continue
                            new = keyring.encrypt(keyring.decrypt(old, ad), ad)
                            changed = await connection.execute(
                                update(raw)
                                .where(raw.c.id == row.id, raw.c[c] == old)
                                .values({c: new})
                            )
                            report.rewritten += changed.rowcount
                if not rows:
                    break
                last = rows[-1].id
                await asyncio.sleep(pause)  # let the bot's own transactions in between
    return report


async def _rewrap_hash_key(engine: AsyncEngine) -> None:
    secrets = table("secrets", column("name"), column("value", LargeBinary))
    async with engine.begin() as connection:
        wrapped = (
            await connection.execute(
                select(secrets.c.value).where(secrets.c.name == crypto.HASH_KEY_NAME)
            )
        ).scalar_one()
        await connection.execute(
            update(secrets)
            .where(secrets.c.name == crypto.HASH_KEY_NAME)
            .values(value=crypto.wrap_hash_key(crypto.unwrap_hash_key(wrapped)))
        )
