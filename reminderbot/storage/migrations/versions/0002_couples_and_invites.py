"""couples and invites

Revision ID: 0002
Revises: 0001

Existing people stay single and unchanged: not paired, no couple prompts, sharing nothing
(server defaults fill the new NOT NULL columns on their rows).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "couples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_couples")),
    )
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_invites_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("person_id", name=op.f("uq_invites_person_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invites_token_hash")),
    )
    op.create_table(
        "partner_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("mood", sa.String(length=24), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("send_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["checkin_id"],
            ["checkins.id"],
            name=op.f("fk_partner_notices_checkin_id_checkins"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_partner_notices_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_partner_notices")),
        sa.UniqueConstraint("checkin_id", name=op.f("uq_partner_notices_checkin_id")),
    )
    with op.batch_alter_table("partner_notices", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_partner_notices_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_partner_notices_send_after"), ["send_after"], unique=False
        )

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("couple_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "wants_couple_prompts", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(
            sa.Column(
                "sharing",
                sa.Enum(
                    "nothing",
                    "need_space",
                    "all",
                    name="sharinglevel",
                    native_enum=False,
                    length=24,
                ),
                nullable=False,
                server_default="nothing",
            )
        )
        batch_op.add_column(sa.Column("shared_hold_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("shared_hold_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("shared_paused_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("shared_paused_until", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_people_couple_id"), ["couple_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_people_couple_id_couples"),
            "couples",
            ["couple_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_people_couple_id_couples"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_people_couple_id"))
        batch_op.drop_column("shared_paused_until")
        batch_op.drop_column("shared_paused_at")
        batch_op.drop_column("shared_hold_until")
        batch_op.drop_column("shared_hold_at")
        batch_op.drop_column("sharing")
        batch_op.drop_column("wants_couple_prompts")
        batch_op.drop_column("couple_id")

    with op.batch_alter_table("partner_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_partner_notices_send_after"))
        batch_op.drop_index(batch_op.f("ix_partner_notices_person_id"))

    op.drop_table("partner_notices")
    op.drop_table("invites")
    op.drop_table("couples")
