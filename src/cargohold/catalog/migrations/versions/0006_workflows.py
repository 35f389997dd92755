"""workflows: secrets, workflows, runs, jobs and their logs, and versions' lineage

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
NAME = sa.String(100).with_variant(sa.String(100, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "secrets",
        sa.Column("team_id", sa.String(length=16), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("dt_created", TS, nullable=False),
        sa.Column("dt_modified", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_secrets_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("team_id", "name", name=op.f("pk_secrets")),
    )
    op.create_table(
        "version_lineage",
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("run", sa.Integer(), nullable=False),
        sa.Column("job", NAME, nullable=False),
        sa.Column("output", NAME, nullable=False),
        sa.Column("spec_sha256", sa.String(length=64), nullable=False),
        sa.Column("strings", sa.JSON(), nullable=False),
        sa.Column("dt_created", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["versions.pk"],
            name=op.f("fk_version_lineage_version_pk_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_pk", name=op.f("pk_version_lineage")),
    )
    op.create_table(
        "lineage_inputs",
        sa.Column("version_pk", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("dataset_id", sa.String(length=16), nullable=False),
        sa.Column("version", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_pk"],
            ["versions.pk"],
            name=op.f("fk_lineage_inputs_version_pk_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("version_pk", "name", name=op.f("pk_lineage_inputs")),
    )
    op.create_index(
        op.f("ix_lineage_inputs_dataset_id_version"),
        "lineage_inputs",
        ["dataset_id", "version"],
    )
    op.create_table(
        "workflows",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("team_id", sa.String(length=16), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("dt_created", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["team_id"], ["teams.id"], name=op.f("fk_workflows_team_id_teams"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
        sa.UniqueConstraint("team_id", "name", name=op.f("uq_workflows_team_id_name")),
    )
    op.create_table(
        "workflow_runs",
        sa.Column("pk", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workflow_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.String(length=40), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("spec_sha256", sa.String(length=64), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("dt_created", TS, nullable=False),
        sa.Column("started", TS, nullable=True),
        sa.Column("finished", TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_runs_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_workflow_runs")),
        sa.UniqueConstraint("log_id", name=op.f("uq_workflow_runs_log_id")),
        sa.UniqueConstraint(
            "workflow_id", "number", name=op.f("uq_workflow_runs_workflow_id_number")
        ),
    )
    op.create_table(
        "workflow_jobs",
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("log_id", sa.String(length=40), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started", TS, nullable=True),
        sa.Column("finished", TS, nullable=True),
        sa.Column("log_bytes", sa.BigInteger(), nullable=False),
        sa.Column("log_dropped", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_pk"],
            ["workflow_runs.pk"],
            name=op.f("fk_workflow_jobs_run_pk_workflow_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_pk", "name", name=op.f("pk_workflow_jobs")),
        sa.UniqueConstraint("log_id", name=op.f("uq_workflow_jobs_log_id")),
    )
    op.create_table(
        "job_log_lines",
        sa.Column("log_id", sa.String(length=40), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("log_id", "line", name=op.f("pk_job_log_lines")),
    )


def downgrade() -> None:
    for table in (
        "job_log_lines",
        "workflow_jobs",
        "workflow_runs",
        "workflows",
        "lineage_inputs",
        "version_lineage",
        "secrets",
    ):
        op.drop_table(table)
