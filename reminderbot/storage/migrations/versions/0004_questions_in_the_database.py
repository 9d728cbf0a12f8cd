"""questions in the database

Revision ID: 0004
Revises: 0003

The question a person is answering (the timezone after a first yes) moves from one process's
memory to their row, so with several instances the answer may reach any of them. Two nullable
columns: existing rows are unchanged and simply wait for nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy) on both databases: nothing else in people is touched.
    op.add_column("people", sa.Column("awaiting", sa.String(length=16), nullable=True))
    op.add_column("people", sa.Column("awaiting_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("people", "awaiting_until")
    op.drop_column("people", "awaiting")
