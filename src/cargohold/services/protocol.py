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
from cargohold.domain.workflows import (
    JobStatus,
    Lineage,
    LineageGraph,
    LogLine,
    Run,
    Secret,
    Workflow,
)


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

    def commit(self, ref: str, lineage: Lineage | None = None) -> Version:
        """Commit; with `lineage` (a workflow's output) recorded in the same transaction."""
        ...

    def lineage(self, ref: str) -> LineageGraph:
        """Where this version came from (up) and what was made from it (down)."""
        ...

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


class SecretsAPI(Protocol):
    """Team secrets, encrypted at rest; listings never hold values."""

    def create(self, name: str, value: str) -> Secret: ...

    def update(self, name: str, value: str) -> Secret:
        """A new value for an existing secret (SecretNotFound otherwise)."""
        ...

    def list(self) -> builtins.list[Secret]: ...

    def delete(self, name: str) -> Secret: ...

    def reveal(self, names: Sequence[str]) -> dict[str, str]:
        """The values of these secrets, for a job's environment (SecretNotFound names the
        first missing one)."""
        ...


class WorkflowsAPI(Protocol):
    """Workflows and the records of their runs: phases, per-job status, per-job logs."""

    def create(self, name: str) -> Workflow: ...

    def list(self) -> builtins.list[Workflow]: ...

    def get(self, key: str) -> Workflow:
        """By UUID or by name."""
        ...

    def start_run(
        self,
        workflow: str,
        spec: dict[str, Any],
        spec_sha256: str,
        inputs: dict[str, Any],
        jobs: Sequence[str],
    ) -> Run:
        """A new run (next number), PENDING, with every job PENDING and its log ID."""
        ...

    def runs(self, workflow: str) -> builtins.list[Run]: ...

    def run(self, workflow: str, number: int) -> Run: ...

    def set_run(
        self,
        workflow: str,
        number: int,
        phase: str,
        *,
        inputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Run:
        """Move a run to `phase` (RUNNING sets `started`, a finished phase `finished`); a
        finished run never changes again (Conflict)."""
        ...

    def set_job(
        self,
        workflow: str,
        number: int,
        job: str,
        phase: str,
        *,
        exit_code: int | None = None,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> JobStatus: ...

    def append_log(self, log_id: str, messages: Sequence[str]) -> int:
        """Add lines to a job's log; answers the number of the last line."""
        ...

    def logs(self, log_id: str, line: int = 0, limit: int = 10000) -> builtins.list[LogLine]:
        """Lines after `line` (0: from the start), at most `limit`."""
        ...
