"""JSON shapes of the domain objects, with Gradient's field names.

`--json` prints these and the HTTP API returns them, so both stay the same by construction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cargohold.domain.models import (
    ApiKey,
    Dataset,
    FileEntry,
    ListedEntry,
    StorageProvider,
    Tag,
    Team,
    Version,
)

SECRET_KEYS = frozenset({"secretAccessKey", "secretKey", "password"})
MASK = "********"


def _ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def masked_config(config: dict[str, Any]) -> dict[str, Any]:
    return {k: (MASK if k in SECRET_KEYS else v) for k, v in sorted(config.items())}


def team(t: Team) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "dtCreated": _ts(t.dt_created)}


def api_key(k: ApiKey) -> dict[str, Any]:
    """An API key as listings show it: its prefix, never its text or digest."""
    return {
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "dtCreated": _ts(k.dt_created),
        "dtRevoked": _ts(k.dt_revoked),
        "isRevoked": k.is_revoked,
    }


def storage_provider(p: StorageProvider) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "type": p.type,
        "config": masked_config(p.config),
        "isManaged": p.is_managed,
        "dtCreated": _ts(p.dt_created),
        "dtModified": _ts(p.dt_modified),
    }


def dataset(d: Dataset) -> dict[str, Any]:
    sp = d.storage_provider
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "storageProvider": {"id": sp.id, "name": sp.name, "type": sp.type},
        "dtCreated": _ts(d.dt_created),
        "dtModified": _ts(d.dt_modified),
    }


def version(v: Version) -> dict[str, Any]:
    return {
        "id": v.ref,
        "datasetId": v.dataset_id,
        "version": v.version,
        "message": v.message,
        "isCommitted": v.is_committed,
        "tags": [{"name": t} for t in v.tags],
        "fileCount": v.file_count,
        "size": v.size,
        "manifestSha256": v.manifest_sha256,
        "parent": v.parent,
        "dtCreated": _ts(v.dt_created),
        "dtModified": _ts(v.dt_modified),
        "dtCommitted": _ts(v.dt_committed),
    }


def tag(t: Tag) -> dict[str, Any]:
    return {
        "name": t.name,
        "datasetId": t.dataset_id,
        "version": {"version": t.version, "message": t.message},
        "dtCreated": _ts(t.dt_created),
        "dtModified": _ts(t.dt_modified),
    }


def file_entry(f: FileEntry) -> dict[str, Any]:
    return {"path": f.path, "size": f.size, "sha256": f.sha256, "contentType": f.content_type}


def listed_entry(e: ListedEntry) -> dict[str, Any]:
    return {"name": e.name, "size": e.size, "isDirectory": e.is_dir}
