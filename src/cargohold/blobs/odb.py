"""Content-addressed objects of one team in one provider: SHA-256 → key (two-level fan-out)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from cargohold.blobs.base import BlobStore
from cargohold.domain.layout import object_key


class ObjectDB:
    def __init__(self, store: BlobStore, team_id: str) -> None:
        self.store = store
        self.team_id = team_id

    def key(self, sha256: str) -> str:
        return object_key(self.team_id, sha256)

    def exists(self, sha256: str, size: int | None = None) -> bool:
        found = self.store.size(self.key(sha256))
        return found is not None and (size is None or found == size)

    def add_file(self, sha256: str, source: Path) -> int:
        return self.store.put_file(self.key(sha256), source, sha256)

    def add_stream(self, sha256: str, chunks: Iterable[bytes]) -> int:
        return self.store.put_stream(self.key(sha256), chunks, sha256)

    def open(self, sha256: str) -> BinaryIO:
        return self.store.open(self.key(sha256))
