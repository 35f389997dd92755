"""The wire shapes (domain/wire.py) read back into domain objects, on the client side."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cargohold.domain.models import Dataset, ListedEntry, StorageProvider, Tag, Team, Version

Json = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def team(j: Json) -> Team:
    return Team(id=j["id"], name=j["name"], dt_created=ts(j.get("dtCreated")) or EPOCH)


def storage_provider(j: Json, team_id: str) -> StorageProvider:
    return StorageProvider(
        id=j["id"],
        team_id=team_id,
        name=j["name"],
        type=j["type"],
        config=dict(j.get("config") or {}),
        is_managed=bool(j.get("isManaged", False)),
        dt_created=ts(j.get("dtCreated")),
        dt_modified=ts(j.get("dtModified")),
    )


def dataset(j: Json, team_id: str) -> Dataset:
    return Dataset(
        id=j["id"],
        team_id=team_id,
        name=j["name"],
        description=j.get("description"),
        storage_provider=storage_provider(j["storageProvider"], team_id),
        dt_created=ts(j.get("dtCreated")) or EPOCH,
        dt_modified=ts(j.get("dtModified")) or EPOCH,
    )


def version(j: Json) -> Version:
    return Version(
        dataset_id=j["datasetId"],
        version=j["version"],
        message=j.get("message"),
        is_committed=bool(j["isCommitted"]),
        tags=tuple(t["name"] for t in j.get("tags") or ()),
        dt_created=ts(j.get("dtCreated")) or EPOCH,
        dt_modified=ts(j.get("dtModified")) or EPOCH,
        dt_committed=ts(j.get("dtCommitted")),
        file_count=int(j.get("fileCount") or 0),
        size=int(j.get("size") or 0),
        manifest_sha256=j.get("manifestSha256"),
        parent=j.get("parent"),
    )


def tag(j: Json) -> Tag:
    return Tag(
        dataset_id=j["datasetId"],
        name=j["name"],
        version=j["version"]["version"],
        message=j["version"].get("message"),
        dt_created=ts(j.get("dtCreated")) or EPOCH,
        dt_modified=ts(j.get("dtModified")) or EPOCH,
    )


def listed_entry(j: Json) -> ListedEntry:
    return ListedEntry(name=j["name"], size=j.get("size"))
