"""encrypted at rest

Revision ID: 0007
Revises: 0006

What a copy of the database would say about a person is encrypted with the operator's data key
(``storage/crypto.py``): chat ids, "which describes you", moods, notes, the lines sent, and the
mood shown to a partner. Telegram ids are replaced by their keyed hash. Every row is kept: each
column becomes binary, then its rows are rewritten in batches of ``BATCH``, read and written by
id. The hash key is made here, stored encrypted in the new ``secrets`` table.

Runs with the keys of the run that migrates (``reminderbot run`` or ``db upgrade`` loads them
first); without a key it stops before changing anything. The downgrade decrypts it all again.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from reminderbot.storage import crypto

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 2000
# table -> encrypted columns (the associated data of each is "table.column"), as in models.py.
ENCRYPTED = {
    "people": ("chat_id", "audience"),
    "deliveries": ("content_id",),
    "checkins": ("mood", "note"),
    "partner_notices": ("mood",),
}


def _plain(value: Any) -> bytes:
    """A value as the column types encode it: text as UTF-8, integers in decimal."""
    if isinstance(value, bytes | memoryview):
        return bytes(value)  # PostgreSQL's USING convert_to(...) already made UTF-8 bytes
    return str(value).encode()


def _to_binary(table: str, columns: dict[str, bool], add: sa.Column[Any] | None = None) -> None:
    """Make ``columns`` (name -> nullable) binary, in one table copy on SQLite."""
    with op.batch_alter_table(table) as batch:
        if add is not None:
            batch.add_column(add)
        for column, nullable in columns.items():
            batch.alter_column(
                column,
                type_=sa.LargeBinary(),
                existing_nullable=nullable,
                # SQLite keeps each value as it was (a column takes any type) until rewritten.
                postgresql_using=f"convert_to({column}::text, 'UTF8')",
            )


def _rewrite(table: str, columns: Sequence[str], extra: str = "") -> None:
    """Encrypt ``columns`` of every row, BATCH rows at a time (``extra``: people's hash)."""
    connection = op.get_bind()
    keyring = crypto.keyring()
    selected = ", ".join(("id", *columns, *([extra] if extra else [])))
    targets = (*columns, *(["telegram_user_hash"] if extra else []))
    assigned = ", ".join(f"{c} = :{c}" for c in targets)
    read = sa.text(f"SELECT {selected} FROM {table} WHERE id > :last ORDER BY id LIMIT {BATCH}")
    write = sa.text(f"UPDATE {table} SET {assigned} WHERE id = :row_id")
    last = -1
    while rows := connection.execute(read, {"last": last}).all():
        updates = []
        for row in rows:
            values: dict[str, Any] = {"row_id": row.id}
            for column in columns:
                value = getattr(row, column)
                values[column] = (
                    None
                    if value is None
                    else keyring.encrypt(_plain(value), f"{table}.{column}".encode())
                )
            if extra:
                values["telegram_user_hash"] = crypto.user_hash(int(getattr(row, extra)))
            updates.append(values)
        connection.execute(write, updates)
        last = rows[-1].id


def upgrade() -> None:
    crypto.keyring()  # no key: stop before anything changes, saying why
    op.create_table(
        "secrets",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_secrets")),
    )
    hash_key = crypto.hash_key_for_new_database()
    op.get_bind().execute(
        sa.text("INSERT INTO secrets (name, value) VALUES (:name, :value)"),
        {"name": crypto.HASH_KEY_NAME, "value": crypto.wrap_hash_key(hash_key)},
    )

    hashed = sa.Column("telegram_user_hash", sa.LargeBinary(length=32), nullable=True)
    _to_binary("people", {"chat_id": False, "audience": False}, add=hashed)
    _rewrite("people", ENCRYPTED["people"], extra="telegram_user_id")
    with op.batch_alter_table("people") as batch:
        batch.drop_constraint("uq_people_telegram_user_id", type_="unique")
        batch.drop_column("telegram_user_id")
        batch.alter_column(
            "telegram_user_hash", existing_type=sa.LargeBinary(length=32), nullable=False
        )
        batch.create_unique_constraint("uq_people_telegram_user_hash", ["telegram_user_hash"])

    _to_binary("deliveries", {"content_id": True})
    _rewrite("deliveries", ENCRYPTED["deliveries"])
    _to_binary("checkins", {"mood": False, "note": True})
    _rewrite("checkins", ENCRYPTED["checkins"])
    _to_binary("partner_notices", {"mood": True})
    _rewrite("partner_notices", ENCRYPTED["partner_notices"])


def _decrypt_back(table: str, columns: Sequence[str], as_int: Sequence[str] = ()) -> None:
    """Write each value back in plain form: as UTF-8 bytes on PostgreSQL (the type change that
    follows converts them), as the value itself on SQLite (which converts nothing later)."""
    connection = op.get_bind()
    keyring = crypto.keyring()
    sqlite = connection.dialect.name == "sqlite"
    read = sa.text(
        f"SELECT id, {', '.join(columns)} FROM {table} WHERE id > :last ORDER BY id LIMIT {BATCH}"
    )
    write = sa.text(
        f"UPDATE {table} SET {', '.join(f'{c} = :{c}' for c in columns)} WHERE id = :row_id"
    )
    last = -1
    while rows := connection.execute(read, {"last": last}).all():
        updates = []
        for row in rows:
            values: dict[str, Any] = {"row_id": row.id}
            for c in columns:
                blob = getattr(row, c)
                plain = None if blob is None else keyring.decrypt(blob, f"{table}.{c}".encode())
                if plain is not None and sqlite:
                    values[c] = int(plain) if c in as_int else plain.decode()
                else:
                    values[c] = plain
            updates.append(values)
        connection.execute(write, updates)
        last = rows[-1].id


def _from_binary(table: str, columns: dict[str, tuple[Any, bool]]) -> None:
    with op.batch_alter_table(table) as batch:
        for column, (type_, nullable) in columns.items():
            cast = "::bigint" if isinstance(type_, sa.BigInteger) else ""
            batch.alter_column(
                column,
                type_=type_,
                existing_nullable=nullable,
                postgresql_using=f"convert_from({column}, 'UTF8'){cast}",
            )


def downgrade() -> None:
    """Everything back in plain form, as before 0007 (needs the same key)."""
    for table, columns in ENCRYPTED.items():
        _decrypt_back(table, columns, as_int=("chat_id",) if table == "people" else ())
    with op.batch_alter_table("people") as batch:
        batch.add_column(sa.Column("telegram_user_id", sa.BigInteger(), nullable=True))
    # The bot talks in private chats only, where the chat id is the user id.
    op.execute(
        "UPDATE people SET telegram_user_id = chat_id"
        if op.get_bind().dialect.name == "sqlite"
        else "UPDATE people SET telegram_user_id = convert_from(chat_id, 'UTF8')::bigint"
    )
    _from_binary("people", {"chat_id": (sa.BigInteger(), False), "audience": (_AUDIENCE, False)})
    with op.batch_alter_table("people") as batch:
        batch.drop_constraint("uq_people_telegram_user_hash", type_="unique")
        batch.drop_column("telegram_user_hash")
        batch.alter_column("telegram_user_id", existing_type=sa.BigInteger(), nullable=False)
        batch.create_unique_constraint("uq_people_telegram_user_id", ["telegram_user_id"])
    _from_binary("deliveries", {"content_id": (sa.String(length=64), True)})
    _from_binary("checkins", {"mood": (_MOOD, False), "note": (sa.Text(), True)})
    _from_binary("partner_notices", {"mood": (sa.String(length=24), True)})
    op.drop_table("secrets")


_AUDIENCE = sa.Enum(
    "anyone", "hurt_partner", "involved_partner", name="audience", native_enum=False, length=24
)
_MOOD = sa.Enum("steady", "heavy", "need_space", "open", name="mood", native_enum=False, length=24)
