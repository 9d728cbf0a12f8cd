"""couple prompts need both yeses; the receiver's own choice; one line per shared check-in

Revision ID: 0003
Revises: 0002

Couples where both partners already said yes keep their couple prompts (the agreement is
filled in from both rows); a yes from one partner alone no longer sends any. Everyone keeps
receiving the check-ins their partner shares until they turn that off. Lines sent before this
revision have no message id, so a later change to their check-in is not shown on them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "couple_prompts_agreed", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column(
                "receives_partner_checkins",
                sa.Boolean(),
                nullable=False,
                server_default=sa.true(),
            )
        )
    with op.batch_alter_table("partner_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("telegram_message_id", sa.BigInteger(), nullable=True))

    people = sa.table(
        "people",
        sa.column("couple_id", sa.Integer()),
        sa.column("wants_couple_prompts", sa.Boolean()),
        sa.column("couple_prompts_agreed", sa.Boolean()),
    )
    other = people.alias("other")
    yeses = (
        sa.select(sa.func.count())
        .select_from(other)
        .where(
            other.c.couple_id == people.c.couple_id,
            other.c.wants_couple_prompts == sa.true(),
        )
        .scalar_subquery()
    )
    op.execute(
        people.update()
        .where(people.c.couple_id.is_not(None), yeses == 2)
        .values(couple_prompts_agreed=sa.true())
    )


def downgrade() -> None:
    with op.batch_alter_table("partner_notices", schema=None) as batch_op:
        batch_op.drop_column("telegram_message_id")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("receives_partner_checkins")
        batch_op.drop_column("couple_prompts_agreed")
