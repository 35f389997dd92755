"""Rows to domain objects, and the small SQL helpers the catalog modules share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_

from cargohold.catalog.schema import version_files
from cargohold.domain.models import Dataset, FileEntry, StorageProvider, Tag, Team, Version


def now() -> datetime:
    return datetime.now(UTC)


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def team(row: Any) -> Team:
    return Team(id=row.id, name=row.name, dt_created=utc(row.dt_created) or now())


def provider(row: Any) -> StorageProvider:
    return StorageProvider(
        id=row.id,
        team_id=row.team_id,
        name=row.name,
        type=row.type,
        config=dict(row.config or {}),
        is_managed=bool(row.is_managed),
        dt_created=utc(row.dt_created),
        dt_modified=utc(row.dt_modified),
    )


def dataset(row: Any, sp: StorageProvider) -> Dataset:
    return Dataset(
        id=row.id,
        team_id=row.team_id,
        name=row.name,
        description=row.description,
        storage_provider=sp,
        dt_created=utc(row.dt_created) or now(),
        dt_modified=utc(row.dt_modified) or now(),
    )


def version(row: Any, tag_names: tuple[str, ...], count: int, size: int) -> Version:
    return Version(
        dataset_id=row.dataset_id,
        version=row.version,
        message=row.message,
        is_committed=bool(row.is_committed),
        tags=tag_names,
        dt_created=utc(row.dt_created) or now(),
        dt_modified=utc(row.dt_modified) or now(),
        dt_committed=utc(row.dt_committed),
        file_count=count,
        size=size,
        manifest_sha256=row.manifest_sha256,
        parent=row.parent,
    )


def tag(row: Any) -> Tag:
    return Tag(
        dataset_id=row.dataset_id,
        name=row.name,
        version=row.version,
        message=row.message,
        dt_created=utc(row.dt_created) or now(),
        dt_modified=utc(row.dt_modified) or now(),
    )


def file_entry(row: Any) -> FileEntry:
    return FileEntry(row.path, row.size, row.sha256, row.content_type)


def under(prefix: str) -> ColumnElement[bool]:
    """version_files.path inside a directory prefix ('a/b/'), as a bytewise range."""
    if not prefix:
        return version_files.c.path.is_not(None)
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(version_files.c.path >= prefix, version_files.c.path < end)
