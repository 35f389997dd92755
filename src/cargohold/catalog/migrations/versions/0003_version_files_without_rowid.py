"""version_files without rowid on SQLite: rows live in their primary key's order

A version's files are then one contiguous run of the table, in path order: counting,
summing and reading a version of 1,000,000 files (commit, listings) scan it in place instead
of looking up each row from a separate primary-key index, and the catalog is smaller by that
index. PostgreSQL is unchanged.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLE = """CREATE TABLE {name} (
    version_pk INTEGER NOT NULL,
    path VARCHAR(1024) NOT NULL,
    size BIGINT NOT NULL,
    sha256 VARCHAR(64) NOT NULL,
    content_type VARCHAR(255) NOT NULL,
    CONSTRAINT pk_version_files PRIMARY KEY (version_pk, path),
    CONSTRAINT fk_version_files_version_pk_versions FOREIGN KEY(version_pk)
        REFERENCES versions (pk) ON DELETE CASCADE
){options}"""


def _rebuild(options: str) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(_TABLE.format(name="version_files_new", options=options))
    op.execute(
        "INSERT INTO version_files_new (version_pk, path, size, sha256, content_type) "
        "SELECT version_pk, path, size, sha256, content_type FROM version_files"
    )
    op.execute("DROP TABLE version_files")
    op.execute("ALTER TABLE version_files_new RENAME TO version_files")


def upgrade() -> None:
    _rebuild(" WITHOUT ROWID")


def downgrade() -> None:
    _rebuild("")
