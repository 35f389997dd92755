"""Content-addressed objects of one team in one provider.

Whole objects: SHA-256 → ``<team>/objects/sha256/<h[0:2]>/<h[2:4]>/<h>``. Packs: many small
objects in ``<team>/packs/<p>`` with an index ``<p>.idx`` (domain/packs.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from cargohold.blobs.base import BlobStore
from cargohold.domain.layout import object_key, pack_index_key, pack_key, packs_prefix
from cargohold.domain.packs import PackMember, decode_index, encode_index


class ObjectDB:
    def __init__(self, store: BlobStore, team_id: str) -> None:
        self.store = store
        self.team_id = team_id

    @property
    def packs_small_files(self) -> bool:
        """Whether small files should travel in packs (stores that charge per request)."""
        return bool(getattr(self.store, "packs_small_files", False))

    def key(self, sha256: str) -> str:
        return object_key(self.team_id, sha256)

    def exists(self, sha256: str, size: int | None = None) -> bool:
        found = self.store.size(self.key(sha256))
        return found is not None and (size is None or found == size)

    def add_file(self, sha256: str, source: Path) -> int:
        return self.store.put_file(self.key(sha256), source, sha256)

    def open(self, sha256: str) -> BinaryIO:
        return self.store.open(self.key(sha256))

    # -- packs ---------------------------------------------------------------------------

    def add_pack(self, data: bytes, members: Sequence[PackMember]) -> str:
        """Store a pack, then its index (an index names a pack that is whole)."""
        pack = hashlib.sha256(data).hexdigest()
        self.store.put_stream(pack_key(self.team_id, pack), [data], pack)
        self.store.put_bytes(pack_index_key(self.team_id, pack), encode_index(members))
        return pack

    def read_pack_range(self, pack: str, offset: int, length: int) -> bytes:
        return self.store.read_range(pack_key(self.team_id, pack), offset, length)

    def packs_in_store(self) -> set[str]:
        """Packs whose index exists in the store (one LIST, paged)."""
        prefix = packs_prefix(self.team_id)
        return {
            key[len(prefix) : -len(".idx")]
            for key in self.store.list(prefix)
            if key.endswith(".idx")
        }

    def pack_index(self, pack: str) -> list[PackMember]:
        return decode_index(self.store.read_bytes(pack_index_key(self.team_id, pack)))

    def pack_size(self, pack: str) -> int | None:
        return self.store.size(pack_key(self.team_id, pack))
