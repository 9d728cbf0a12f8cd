"""Alembic environment. Always called through reminderbot.storage.migrate, which hands over an
open connection, so migrations run the same from the CLI, at start-up and in tests."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from reminderbot.storage.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `reminderbot db upgrade`")

if (
    connection.dialect.name == "sqlite"
    and connection.exec_driver_sql("PRAGMA foreign_keys").scalar()
):
    # Batch mode recreates tables; with foreign keys on, each DROP would cascade into every
    # table that points at it. migrate.py turns them off (and checks them before commit).
    raise RuntimeError("SQLite migrations must run with foreign keys off, through migrate.py")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
