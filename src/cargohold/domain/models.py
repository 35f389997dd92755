"""The objects of the catalog, as plain frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from cargohold.domain.workflows import Lineage

MANAGED_PROVIDER_NAME = "Managed"


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    dt_created: datetime


@dataclass(frozen=True)
class ApiKey:
    """An API key of a team, as the catalog knows it: never its text, nor the text's digest."""

    id: str
    team_id: str
    name: str | None
    prefix: str
    dt_created: datetime
    dt_revoked: datetime | None = None

    @property
    def is_revoked(self) -> bool:
        return self.dt_revoked is not None


@dataclass(frozen=True)
class StorageProvider:
    id: str
    team_id: str
    name: str
    type: str
    config: dict[str, Any] = field(default_factory=dict)
    is_managed: bool = False
    dt_created: datetime | None = None
    dt_modified: datetime | None = None


@dataclass(frozen=True)
class Dataset:
    id: str
    team_id: str
    name: str
    description: str | None
    storage_provider: StorageProvider
    dt_created: datetime
    dt_modified: datetime


@dataclass(frozen=True)
class Version:
    dataset_id: str
    version: str
    message: str | None
    is_committed: bool
    tags: tuple[str, ...]
    dt_created: datetime
    dt_modified: datetime
    dt_committed: datetime | None = None
    file_count: int = 0
    size: int = 0
    manifest_sha256: str | None = None
    parent: str | None = None
    lineage: Lineage | None = None
    """How a workflow made it (single-version lookups carry it; listings leave it out)."""

    @property
    def ref(self) -> str:
        return f"{self.dataset_id}:{self.version}"


@dataclass(frozen=True)
class Tag:
    dataset_id: str
    name: str
    version: str
    message: str | None
    dt_created: datetime
    dt_modified: datetime


class FileEntry(NamedTuple):
    """One file of a version: where it sits in the version and which content it holds.

    A named tuple, not a dataclass: versions hold millions of these, and a tuple is built
    several times faster (straight from a database row with `FileEntry._make(row)`)."""

    path: str
    size: int
    sha256: str
    content_type: str = "application/octet-stream"


@dataclass(frozen=True)
class ListedEntry:
    """A row of `files list`: a file, or a directory (name ends with '/', size None)."""

    name: str
    size: int | None

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")


@dataclass(frozen=True)
class ObjectLocation:
    """Where a content object sits in a provider: whole, or inside a pack at an offset."""

    sha256: str
    size: int
    pack: str | None = None
    offset: int | None = None
