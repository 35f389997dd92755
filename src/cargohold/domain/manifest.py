"""A committed version's manifest: one JSON line per file, sorted by path, gzip-compressed.

Written into the provider at commit (``layout.manifest_key``), so that a bucket alone is
enough to rebuild the catalog. The encoding is deterministic: the same files give the same
bytes, hence the same SHA-256.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import zlib
from collections.abc import Iterable

from cargohold.domain.ids import check_sha256
from cargohold.domain.models import FileEntry
from cargohold.domain.paths import check_key
from cargohold.errors import IntegrityError


def encode(entries: Iterable[FileEntry]) -> bytes:
    lines = []
    for e in sorted(entries, key=lambda e: e.path):
        record = {"path": e.path, "size": e.size, "sha256": e.sha256, "contentType": e.content_type}
        lines.append(json.dumps(record, ensure_ascii=False, separators=(",", ":")))
    text = "\n".join(lines) + ("\n" if lines else "")
    return gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)


def decode(blob: bytes) -> list[FileEntry]:
    if not blob:
        raise IntegrityError("Corrupt manifest: it is empty")
    try:
        text = gzip.decompress(blob).decode("utf-8")
        entries = [_entry(json.loads(line)) for line in text.split("\n") if line]
    except (OSError, EOFError, zlib.error, ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"Corrupt manifest: {exc}") from exc
    return entries


def _entry(record: dict[str, object]) -> FileEntry:
    size = record["size"]
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"bad size in manifest entry {record!r}")
    return FileEntry(
        path=check_key(str(record["path"])),
        size=size,
        sha256=check_sha256(str(record["sha256"])),
        content_type=str(record.get("contentType") or "application/octet-stream"),
    )


def digest(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()
