"""A provider in a local directory: ``<root>/<key>``, written by temp file + fsync + rename."""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from cargohold.blobs.base import file_chunks
from cargohold.errors import HashMismatch, InvalidPath, ObjectNotFound, StorageError

TMP_DIR = ".tmp"


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise InvalidPath(f"Invalid object key: {key!r}", key=key)
        return self.root.joinpath(*parts)

    def has(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def put_stream(self, key: str, chunks: Iterable[bytes], sha256: str | None = None) -> int:
        target = self._path(key)
        tmp_dir = self.root / TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{uuid.uuid4().hex}.part"
        try:
            written = _write_verified(tmp, chunks, sha256, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if isinstance(exc, HashMismatch | StorageError):
                raise
            raise StorageError(f"Cannot write {key}: {exc.strerror or exc}", key=key) from exc
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        return written

    def put_file(self, key: str, source: Path, sha256: str | None = None) -> int:
        return self.put_stream(key, file_chunks(source), sha256)

    def put_bytes(self, key: str, data: bytes) -> None:
        self.put_stream(key, [data])

    def open(self, key: str) -> BinaryIO:
        try:
            return self._path(key).open("rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"Object not found in the provider: {key}", key=key) from None

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        with self.open(key) as f:
            f.seek(offset)
            return f.read(length)

    def cleanup_incomplete(self, prefix: str, older_than: float) -> int:
        """Temp files are not per prefix here: stale ones anywhere in the store go."""
        cutoff = time.time() - older_than
        removed = 0
        for tmp in (self.root / TMP_DIR).glob("*.part"):
            with contextlib.suppress(FileNotFoundError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
        return removed

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[str]:
        base = self.root
        for dirpath, dirnames, filenames in os.walk(base):
            rel = Path(dirpath).relative_to(base).as_posix()
            if rel == TMP_DIR or rel.startswith(TMP_DIR + "/"):
                dirnames.clear()
                continue
            for name in filenames:
                key = name if rel == "." else f"{rel}/{name}"
                if key.startswith(prefix):
                    yield key

    def presign(self, key: str, method: str, expires: int) -> str | None:
        return None


def _write_verified(tmp: Path, chunks: Iterable[bytes], sha256: str | None, key: str) -> int:
    digest = hashlib.sha256()
    written = 0
    with tmp.open("wb") as f:
        for block in chunks:
            digest.update(block)
            f.write(block)
            written += len(block)
        f.flush()
        os.fsync(f.fileno())
    if sha256 is not None and digest.hexdigest() != sha256:
        raise HashMismatch(
            f"Content of {key} changed while it was written (SHA-256 mismatch)",
            hint="The source file changed during the upload; run the command again",
            key=key,
        )
    return written


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
