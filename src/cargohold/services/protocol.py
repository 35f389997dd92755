"""The service protocol: what every entry point may call.

The classes of this package implement it in-process; `cargohold.client` implements it over
HTTP against a server. Both raise the exception classes of `cargohold.errors`, and one
contract suite (tests/test_contract.py) runs against both.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO, Protocol

from cargohold.domain.models import (
    Dataset,
    FileEntry,
    ListedEntry,
    ObjectLocation,
    StorageProvider,
    Tag,
    Version,
)
from cargohold.domain.packs import Span


class ProvidersAPI(Protocol):
    def list(self) -> builtins.list[StorageProvider]: ...

    def get(self, provider_id: str) -> StorageProvider: ...

    def managed(self) -> StorageProvider: ...

    def create_s3(
        self,
        name: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        endpoint: str | None = None,
        region: str | None = None,
        signature_version: str | None = None,
    ) -> StorageProvider: ...

    def update_s3(
        self,
        provider_id: str,
        *,
        name: str | None = None,
        bucket: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        signature_version: str | None = None,
    ) -> StorageProvider: ...

    def delete(self, provider_id: str) -> StorageProvider: ...

    def cors(self, provider_id: str, origins: Sequence[str]) -> dict[str, Any]: ...

    def usage(self) -> dict[str, Any]: ...


class DatasetsAPI(Protocol):
    def create(
        self, name: str, storage_provider_id: str | None = None, description: str | None = None
    ) -> Dataset: ...

    def list(self, limit: int | None = None, offset: int = 0) -> builtins.list[Dataset]: ...

    def get(self, key: str) -> Dataset: ...

    def update(
        self, key: str, name: str | None = None, description: str | None = None
    ) -> Dataset: ...

    def delete(self, key: str) -> Dataset: ...


class VersionsAPI(Protocol):
    def create(
        self, dataset: str, message: str | None = None, parent: str | None = None
    ) -> Version: ...

    def list(self, dataset: str, committed: bool | None = True) -> builtins.list[Version]: ...

    def get(self, ref: str) -> Version: ...

    def update(self, ref: str, message: str | None) -> Version: ...

    def commit(self, ref: str) -> Version: ...

    def delete(self, ref: str) -> Version: ...


class TagsAPI(Protocol):
    def set(self, ref: str, name: str) -> Tag: ...

    def list(self, dataset: str) -> builtins.list[Tag]: ...

    def delete(self, ref: str) -> Tag: ...


class FilesAPI(Protocol):
    def list(
        self,
        ref: str,
        path: str | None = None,
        recursive: bool = False,
        limit: int | None = None,
        after: str | None = None,
    ) -> builtins.list[ListedEntry]: ...

    def delete(self, ref: str, paths: Sequence[str] = ("/",)) -> int: ...


class Writer(Protocol):
    """The upload side of one uncommitted version (see `files.VersionWriter`)."""

    ds: Dataset
    version: Version

    @property
    def pack_size(self) -> int: ...

    def clean_stale_uploads(self) -> int: ...

    def packed(self, size: int) -> bool: ...

    def missing(self, sizes: dict[str, int]) -> set[str]: ...

    def send_file(self, sha256: str, source: str) -> int: ...

    def send_pack(self, files: Sequence[tuple[FileEntry, str]]) -> int: ...

    def stage(self, entries: Sequence[FileEntry], landed: dict[str, int] | None = None) -> None: ...


class Reader(Protocol):
    """The read side of one version (see `files.VersionReader`)."""

    ds: Dataset
    version: Version

    def locations(self, sizes: dict[str, int]) -> dict[str, ObjectLocation]: ...

    def pack_sizes(self, packs: Iterable[str]) -> dict[str, int]: ...

    def open(self, sha256: str) -> BinaryIO: ...

    def files(self, prefix: str = "") -> builtins.list[FileEntry]: ...

    def file(self, key: str) -> FileEntry | None: ...

    def read_span(self, pack: str, span: Span) -> dict[str, memoryview]: ...


class ObjectsAPI(Protocol):
    def writer(self, ref: str) -> Writer: ...

    def reader(self, ref: str) -> Reader: ...

    def open_ahead(self, ds: Dataset) -> None: ...
