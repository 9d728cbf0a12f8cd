"""updates take effect once, in Telegram's order

Revision ID: 0006
Revises: 0005

A webhook update is now answered 200 only after it is handled, so Telegram sends it again after
a crash; ``handled_updates`` holds the number of each update whose effect is committed, so the
second delivery changes nothing (a number only, kept a few days). ``checkins.update_id`` is the
tap that set the answer, so an older tap reaching another instance later never overwrites a
newer one. Both are new and empty; every existing row is unchanged.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "handled_updates",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("handled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("update_id", name=op.f("pk_handled_updates")),
    )
    op.create_index(
        op.f("ix_handled_updates_handled_at"), "handled_updates", ["handled_at"], unique=False
    )
    # Plain ADD COLUMN (no table copy) on both databases.
    op.add_column("checkins", sa.Column("update_id", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("checkins", "update_id")
    op.drop_index(op.f("ix_handled_updates_handled_at"), table_name="handled_updates")
    op.drop_table("handled_updates")
