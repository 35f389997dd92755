"""pending_objects: content an upload has reserved room for and not yet recorded

A managed provider's quota counts recorded objects and these reservations, so that two
clients of a team (on one server process or several sharing the database) cannot both pass
the check and together exceed it. A row goes when its object is recorded or it expires.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pending_objects",
        sa.Column("team_id", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["storage_providers.id"],
            name=op.f("fk_pending_objects_provider_id_storage_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_pending_objects_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "team_id", "provider_id", "sha256", name=op.f("pk_pending_objects")
        ),
    )


def downgrade() -> None:
    op.drop_table("pending_objects")
