"""packs: small files rest in pack objects; objects record where they sit

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("objects") as batch:
        batch.add_column(sa.Column("pack", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("pack_offset", sa.BigInteger(), nullable=True))
    op.create_table(
        "packs",
        sa.Column("team_id", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("members", sa.Integer(), nullable=False),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["storage_providers.id"],
            name=op.f("fk_packs_provider_id_storage_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_packs_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "provider_id", "sha256", name=op.f("pk_packs")),
    )


def downgrade() -> None:
    op.drop_table("packs")
    with op.batch_alter_table("objects") as batch:
        batch.drop_column("pack_offset")
        batch.drop_column("pack")
