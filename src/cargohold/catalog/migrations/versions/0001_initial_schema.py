"""initial schema

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# Text columns that sort bytewise on PostgreSQL too (the "C" collation), as in schema.py.
PATH = sa.String(length=1024).with_variant(sa.String(length=1024, collation="C"), "postgresql")
NAME = sa.String(length=100).with_variant(sa.String(length=100, collation="C"), "postgresql")
TAG = sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql")

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "teams",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_teams")),
        sa.UniqueConstraint("name", name=op.f("uq_teams_name")),
    )
    op.create_table(
        "storage_providers",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.String(length=16), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("is_managed", sa.Boolean(), nullable=False),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dt_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"],
            ["teams.id"],
            name=op.f("fk_storage_providers_team_id_teams"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_storage_providers")),
        sa.UniqueConstraint("team_id", "name", name=op.f("uq_storage_providers_team_id_name")),
    )
    op.create_table(
        "datasets",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("team_id", sa.String(length=16), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("storage_provider_id", sa.String(length=16), nullable=False),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dt_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["storage_provider_id"],
            ["storage_providers.id"],
            name=op.f("fk_datasets_storage_provider_id_storage_providers"),
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_datasets_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("team_id", "name", name=op.f("uq_datasets_team_id_name")),
    )
    op.create_table(
        "objects",
        sa.Column("team_id", sa.String(length=16), nullable=False),
        sa.Column("provider_id", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["storage_providers.id"],
            name=op.f("fk_objects_provider_id_storage_providers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_objects_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "provider_id", "sha256", name=op.f("pk_objects")),
    )
    op.create_table(
        "versions",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dataset_id", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("is_committed", sa.Boolean(), nullable=False),
        sa.Column("parent", sa.String(length=40), nullable=True),
        sa.Column("manifest_sha256", sa.String(length=64), nullable=True),
        sa.Column("file_count", sa.BigInteger(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dt_modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dt_committed", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_versions_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_versions")),
        sa.UniqueConstraint("dataset_id", "version", name=op.f("uq_versions_dataset_id_version")),
    )
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_versions_dataset_id_is_committed_pk"),
            ["dataset_id", "is_committed", "pk"],
            unique=False,
        )

    op.create_table(
        "tags",
        sa.Column("dataset_id", sa.String(length=16), nullable=False),
        sa.Column("name", TAG, nullable=False),
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("dt_created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dt_modified", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["datasets.id"],
            name=op.f("fk_tags_dataset_id_datasets"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["versions.pk"],
            name=op.f("fk_tags_version_pk_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "name", name=op.f("pk_tags")),
    )
    op.create_table(
        "version_files",
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("path", PATH, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["versions.pk"],
            name=op.f("fk_version_files_version_pk_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_pk", "path", name=op.f("pk_version_files")),
    )


def downgrade() -> None:
    op.drop_table("version_files")
    op.drop_table("tags")
    with op.batch_alter_table("versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_versions_dataset_id_is_committed_pk"))

    op.drop_table("versions")
    op.drop_table("objects")
    op.drop_table("datasets")
    op.drop_table("storage_providers")
    op.drop_table("teams")
