"""how long each person's check-ins are kept

Revision ID: 0005
Revises: 0004

A person's own choice of how many days their check-ins and notes are kept. Nullable: existing
rows keep the practice's default (checkin_keep_days) until the person chooses.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMN (no table copy) on both databases.
    op.add_column("people", sa.Column("keep_checkins_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("people", "keep_checkins_days")
