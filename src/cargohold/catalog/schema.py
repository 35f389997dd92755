"""The catalog's tables (SQLAlchemy Core). Every change here needs an Alembic migration."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TS = DateTime(timezone=True)
PATH = String(1024).with_variant(String(1024, collation="C"), "postgresql")
"""File paths sort bytewise on every backend, so prefix ranges mean the same everywhere."""
NAME = String(100).with_variant(String(100, collation="C"), "postgresql")
TAG = String(64).with_variant(String(64, collation="C"), "postgresql")
"""Names too sort the same on SQLite and on PostgreSQL, whatever the server's locale."""

teams = Table(
    "teams",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", NAME, nullable=False, unique=True),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("dt_created", TS, nullable=False),
)

storage_providers = Table(
    "storage_providers",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("team_id", String(16), ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("name", NAME, nullable=False),
    Column("type", String(16), nullable=False),
    Column("config", JSON, nullable=False),
    Column("is_managed", Boolean, nullable=False, default=False),
    Column("dt_created", TS, nullable=False),
    Column("dt_modified", TS, nullable=False),
    UniqueConstraint("team_id", "name"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("team_id", String(16), ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("name", NAME, nullable=False),
    Column("description", Text, nullable=True),
    Column("storage_provider_id", String(16), ForeignKey("storage_providers.id"), nullable=False),
    Column("dt_created", TS, nullable=False),
    Column("dt_modified", TS, nullable=False),
    UniqueConstraint("team_id", "name"),
)

versions = Table(
    "versions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", String(16), ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version", String(16), nullable=False),
    Column("message", Text, nullable=True),
    Column("is_committed", Boolean, nullable=False, default=False),
    Column("parent", String(40), nullable=True),
    Column("manifest_sha256", String(64), nullable=True),
    Column("file_count", BigInteger, nullable=False, default=0),
    Column("size", BigInteger, nullable=False, default=0),
    Column("dt_created", TS, nullable=False),
    Column("dt_modified", TS, nullable=False),
    Column("dt_committed", TS, nullable=True),
    UniqueConstraint("dataset_id", "version"),
    Index(None, "dataset_id", "is_committed", "pk"),
)

tags = Table(
    "tags",
    metadata,
    Column(
        "dataset_id",
        String(16),
        ForeignKey("datasets.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", TAG, primary_key=True),
    Column("version_pk", Integer, ForeignKey("versions.pk", ondelete="CASCADE"), nullable=False),
    Column("dt_created", TS, nullable=False),
    Column("dt_modified", TS, nullable=False),
)

version_files = Table(
    "version_files",
    metadata,
    Column(
        "version_pk",
        Integer,
        ForeignKey("versions.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("path", PATH, primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content_type", String(255), nullable=False),
    sqlite_with_rowid=False,  # a version's files are one run of the table (migration 0003)
)

objects = Table(
    "objects",
    metadata,
    Column("team_id", String(16), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "provider_id",
        String(16),
        ForeignKey("storage_providers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("dt_created", TS, nullable=False),
    Column("pack", String(64), nullable=True),
    Column("pack_offset", BigInteger, nullable=True),
)

packs = Table(
    "packs",
    metadata,
    Column("team_id", String(16), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "provider_id",
        String(16),
        ForeignKey("storage_providers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("members", Integer, nullable=False),
    Column("dt_created", TS, nullable=False),
)

pending_objects = Table(
    "pending_objects",
    metadata,
    Column("team_id", String(16), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "provider_id",
        String(16),
        ForeignKey("storage_providers.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("sha256", String(64), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("expires_at", TS, nullable=False),
)
"""Room reserved in a provider for content an upload is sending (catalog/quota.py): counted
against the quota until its object is recorded (which deletes the row) or it expires."""

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("team_id", String(16), ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("name", NAME, nullable=True),
    Column("prefix", String(16), nullable=False, index=True),
    # SHA-256 of the key's whole text (domain/ids.key_digest); the text is never stored.
    Column("digest", String(64), nullable=False, unique=True),
    Column("dt_created", TS, nullable=False),
    Column("dt_revoked", TS, nullable=True),
)

secrets = Table(
    "secrets",
    metadata,
    Column("team_id", String(16), ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
    Column("name", NAME, primary_key=True),
    Column("value", Text, nullable=False),  # encrypted (services/crypto.py), never in clear
    Column("dt_created", TS, nullable=False),
    Column("dt_modified", TS, nullable=False),
)

version_lineage = Table(
    "version_lineage",
    metadata,
    Column(
        "version_pk",
        Integer,
        ForeignKey("versions.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("workflow_id", String(36), nullable=False),
    Column("run", Integer, nullable=False),
    Column("job", NAME, nullable=False),
    Column("output", NAME, nullable=False),
    Column("spec_sha256", String(64), nullable=False),
    Column("strings", JSON, nullable=False),
    Column("dt_created", TS, nullable=False),
)
"""How a workflow made a version (domain/workflows.Lineage). Recorded with the commit."""

lineage_inputs = Table(
    "lineage_inputs",
    metadata,
    Column(
        "version_pk",
        Integer,
        ForeignKey("versions.pk", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("name", NAME, primary_key=True),
    # By dataset ID and version, not by key: deleting an input version keeps the history.
    Column("dataset_id", String(16), nullable=False),
    Column("version", String(16), nullable=False),
    Index(None, "dataset_id", "version"),
)
"""The exact input versions of a version's making; the index walks lineage downwards."""

workflows = Table(
    "workflows",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("team_id", String(16), ForeignKey("teams.id", ondelete="CASCADE"), nullable=False),
    Column("name", NAME, nullable=False),
    Column("dt_created", TS, nullable=False),
    UniqueConstraint("team_id", "name"),
)

workflow_runs = Table(
    "workflow_runs",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column(
        "workflow_id", String(36), ForeignKey("workflows.id", ondelete="CASCADE"), nullable=False
    ),
    Column("number", Integer, nullable=False),
    Column("log_id", String(40), nullable=False, unique=True),
    Column("phase", String(16), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("spec_sha256", String(64), nullable=False),
    Column("inputs", JSON, nullable=False),
    Column("error", Text, nullable=True),
    Column("dt_created", TS, nullable=False),
    Column("started", TS, nullable=True),
    Column("finished", TS, nullable=True),
    UniqueConstraint("workflow_id", "number"),
)

workflow_jobs = Table(
    "workflow_jobs",
    metadata,
    Column("run_pk", Integer, ForeignKey("workflow_runs.pk", ondelete="CASCADE"), primary_key=True),
    Column("name", NAME, primary_key=True),
    Column("position", Integer, nullable=False),  # the job's place in its run: 0, 1, ...
    Column("log_id", String(40), nullable=False, unique=True),
    Column("phase", String(16), nullable=False),
    Column("exit_code", Integer, nullable=True),
    Column("outputs", JSON, nullable=False),
    Column("error", Text, nullable=True),
    Column("started", TS, nullable=True),
    Column("finished", TS, nullable=True),
    # What its log keeps (catalog/job_logs.py caps it) and how many lines it dropped.
    Column("log_bytes", BigInteger, nullable=False),
    Column("log_dropped", BigInteger, nullable=False),
)

job_log_lines = Table(
    "job_log_lines",
    metadata,
    Column("log_id", String(40), primary_key=True),  # workflow_jobs.log_id
    Column("line", Integer, primary_key=True),  # 1, 2, 3, ...
    Column("message", Text, nullable=False),
)
"""Each job's log, line by line (catalog/job_logs.py). No foreign key: whatever deletes a job
must delete its lines (nothing deletes workflows, runs or jobs yet)."""
