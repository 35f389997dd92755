"""Files of a version addressed by Gradient's keys: the work behind `api/gradient_s3.py`.

Gradient's clients name files by path (`Key`), cargohold stores contents by SHA-256; so a body
is spooled to a temporary file under `$CARGOHOLD_HOME/spool` while it is hashed, then stored by
`services.upload.put_one` (only content the provider lacks is sent) and staged at its Key.
Multipart parts wait in the provider's store under `<team>/uploads/gradient/<upload>/` until
`complete` joins them into one content object. Reads are verified against the SHA-256 on the
way out; listings are built from the catalog a page at a time (ListObjectsV2's rules).

Keys are paths in the version: a leading '/' is the version's root, '..' and empty segments
are refused, so no Key leaves the version or the team's prefix. Every write checks that the
version is still uncommitted.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cargohold.blobs import CHUNK, BlobStore
from cargohold.domain.models import FileEntry, ListedEntry
from cargohold.domain.packs import PackMember, Span
from cargohold.domain.paths import check_key, dir_prefix, user_path
from cargohold.errors import FileNotInVersion, HashMismatch, InvalidInput, InvalidPath
from cargohold.services.files import check_writable
from cargohold.services.protocol import Reader
from cargohold.services.root import Services
from cargohold.services.stores import StoreRegistry
from cargohold.services.upload import put_one
from cargohold.settings import Settings

MAX_BODY_BYTES = 5 * 1024**3
"""S3's limit for one PUT (an object, or a part)."""
MAX_KEYS = 1000
"""The most rows one ListObjectsV2 page holds."""
UPLOADS = "uploads/gradient"
"""Where multipart parts wait, under the team's prefix in the provider's store."""


@dataclass(frozen=True)
class Body:
    """A request body as it arrives: its chunks, and what its headers said about it."""

    chunks: Iterable[bytes]
    length: str | None = None  # Content-Length, as sent
    md5: str | None = None  # Content-MD5 (base64), as sent


@dataclass
class Received:
    """A body spooled to `path` (removed afterwards), with its size and digests."""

    path: str
    size: int = 0
    sha256: str = ""
    md5: str = ""


@dataclass(frozen=True)
class Page:
    """One ListObjectsV2 page: rows named relative to the Prefix's directory."""

    rows: list[ListedEntry]
    truncated: bool


def key_of(raw: object) -> str:
    """The Key as a path in the version. Gradient's CLI sends '/dir/file' for `files put`
    (its paths start at the version's root), so a leading '/' means the root; '..' or an
    empty path is refused, so no Key leaves the version."""
    if not isinstance(raw, str) or not raw.strip("/"):
        raise InvalidPath(
            "Every call needs a Key: the file's path in the version", key=str(raw or "")
        )
    key, is_dir = user_path(raw, "Key")
    if is_dir:
        raise InvalidPath(f"Key {raw!r} names a directory, not a file", key=raw)
    return check_key(key)


def split_prefix(prefix: str) -> tuple[str, str]:
    """A Prefix as (directory prefix, start of a name in it): '/a/b/' → ('a/b/', ''),
    'a/b' → ('a/', 'b'). '..' is refused."""
    key, is_dir = user_path(prefix, "Prefix")
    if is_dir:
        return dir_prefix(key), ""
    folder, _, stem = key.rpartition("/")
    return (f"{folder}/" if folder else ""), stem


class GradientFiles:
    """The files of one version of the team's `dataset`, by Key."""

    def __init__(
        self, services: Services, stores: StoreRegistry, dataset: str, version: str
    ) -> None:
        self.services, self.stores = services, stores
        self.dataset, self.version = dataset, version
        self.ref = f"{dataset}:{version}"

    # -- objects ---------------------------------------------------------------------------

    def put(self, key: str, body: Body, mime: str | None) -> Received:
        """Store a body at `key`: spooled while hashed, then stored once per provider."""
        self._check_writable()
        with _received(body, self.services.settings) as got:
            put_one(self.services, self.ref, key, got.path, got.sha256, mime)
        return got

    def head(self, key: str) -> FileEntry:
        return self._file(self._reader(), key)

    def get(self, key: str) -> tuple[FileEntry, Iterator[bytes]]:
        """The file and its bytes, verified against its SHA-256 as they stream (a damaged
        object breaks the connection rather than pass as the file)."""
        reader = self._reader()
        entry = self._file(reader, key)
        loc = reader.locations({entry.sha256: entry.size})[entry.sha256]
        if loc.pack is not None and loc.offset is not None:  # small: one ranged read
            span = Span(loc.offset, entry.size, (PackMember(entry.sha256, loc.offset, entry.size),))
            content = bytes(reader.read_span(loc.pack, span)[entry.sha256])
            return entry, _verified(entry, iter([content]))
        return entry, _verified(entry, _chunks(reader.open(entry.sha256)))

    def delete(self, key: str) -> None:
        """Remove the file at `key` (that file only; nothing when there is none)."""
        self._check_writable()
        if self._reader().file(key) is not None:
            self.services.files.delete(self.ref, [key])  # names a file: that file only

    # -- multipart -------------------------------------------------------------------------

    def put_part(self, upload: str, part: int, body: Body) -> Received:
        """Keep one part of a multipart upload in the provider's store until `complete`."""
        self._check_writable()
        store = self._store()
        with _received(body, self.services.settings) as got:
            store.put_file(self._part_key(upload, part), Path(got.path), got.sha256)
        return got

    def complete(self, key: str, upload: str, parts: list[tuple[int, str]]) -> str:
        """Join the parts (number, ETag) in order into one file while hashing it, store that
        as one content object at `key` (`put_one`: deduplicated), then delete the parts.
        Returns the ETag."""
        store = self._store()
        with _spool(self.services.settings) as (out, path):
            digest = hashlib.sha256()
            for number, etag in parts:
                self._append_part(store, upload, number, etag, out, digest)
            out.flush()
            put_one(self.services, self.ref, key, path, sha256=digest.hexdigest())
        for number, _ in parts:
            store.delete(self._part_key(upload, number))
        return f'"{digest.hexdigest()}-{len(parts)}"'

    def _append_part(
        self,
        store: BlobStore,
        upload: str,
        number: int,
        etag: str,
        out: BinaryIO,
        digest: hashlib._Hash,
    ) -> None:
        """Copy one stored part to `out` and into `digest`, checking its ETag (MD5)."""
        md5 = hashlib.md5(usedforsecurity=False)
        try:
            stream = store.open(self._part_key(upload, number))
        except FileNotFoundError:
            raise InvalidInput(
                f"Part {number} of upload {upload} was not uploaded", partNumber=number
            ) from None
        with stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                md5.update(chunk)
                out.write(chunk)
        if etag and etag != md5.hexdigest():
            raise InvalidInput(f"Part {number} does not match its ETag {etag!r}", partNumber=number)

    # -- listing ---------------------------------------------------------------------------

    def list_page(self, prefix: str, recursive: bool, max_keys: int, after: str) -> Page:
        """A page of rows under `prefix` (names relative to its directory) after the row
        named `after`, and whether more follow. Rows come from the catalog in name order,
        a page at a time."""
        folder, stem = split_prefix(prefix)
        if max_keys == 0:
            return Page([], False)
        batch = max_keys + 1
        # start just before the stem's run of names (rows before it are skipped below)
        cursor: str | None = after or stem[:-1] or None
        rows: list[ListedEntry] = []
        first = not after
        while len(rows) <= max_keys:
            page = self.services.files.list(self.ref, folder, recursive, batch, cursor)
            if first and cursor is None and self._names_a_file(folder, page):
                page = []
            first = False
            for row in page:
                cursor = row.name
                if row.name.startswith(stem):
                    rows.append(row)
                    if len(rows) > max_keys:
                        break
                elif row.name > stem:  # past the names that start with the stem
                    return Page(rows, False)
            if len(page) < batch:
                break
        return Page(rows[:max_keys], len(rows) > max_keys)

    def _names_a_file(self, folder: str, page: list[ListedEntry]) -> bool:
        """Whether `files list` answered a folder prefix that is a file with that file (its
        `files list --path FILE` convenience): S3 lists nothing under 'file/'."""
        if not folder or len(page) != 1 or page[0].is_dir:
            return False
        return self._reader().file(folder + page[0].name) is None

    # -- helpers ---------------------------------------------------------------------------

    def _check_writable(self) -> None:
        """Refuse a write to a version committed since its URL was minted."""
        check_writable(self.services.versions.get(self.ref))

    def _file(self, reader: Reader, key: str) -> FileEntry:
        entry = reader.file(key)
        if entry is None:
            raise FileNotInVersion(
                f"No such file in {self.ref}: {key}", dataset=self.dataset, path=key
            )
        return entry

    def _reader(self) -> Reader:
        return self.services.objects.reader(self.ref)

    def _store(self) -> BlobStore:
        dataset = self.services.datasets.get(self.dataset)  # the team's, or DatasetNotFound
        return self.stores.for_provider(dataset.storage_provider)

    def _part_key(self, upload: str, part: int) -> str:
        return f"{self.services.team.id}/{UPLOADS}/{upload}/{part:05d}"


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK):
            yield chunk


def _verified(entry: FileEntry, chunks: Iterator[bytes]) -> Iterator[bytes]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        yield chunk
    if size != entry.size or digest.hexdigest() != entry.sha256:
        raise HashMismatch(
            f"The stored content of {entry.path} does not match its SHA-256", path=entry.path
        )


# -- bodies -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _spool(settings: Settings) -> Iterator[tuple[BinaryIO, str]]:
    """A temporary file in the server's home, removed afterwards."""
    folder = settings.home / "spool"
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, prefix="gradient-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out, path
    finally:
        Path(path).unlink(missing_ok=True)


@contextlib.contextmanager
def _received(body: Body, settings: Settings) -> Iterator[Received]:
    """The body in a temporary file, hashed (SHA-256, MD5) as it arrives: never whole in
    memory. A declared length over the limit is refused before any byte is read; a
    `Content-MD5` is checked."""
    if body.length and body.length.isdigit() and int(body.length) > MAX_BODY_BYTES:
        raise _too_large()
    with _spool(settings) as (out, path):
        got = Received(path)
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        for chunk in body.chunks:
            got.size += len(chunk)
            if got.size > MAX_BODY_BYTES:
                raise _too_large()
            sha.update(chunk)
            md5.update(chunk)
            out.write(chunk)
        out.flush()
        got.sha256, got.md5 = sha.hexdigest(), md5.hexdigest()
        if body.md5 and body.md5 != base64.b64encode(md5.digest()).decode():
            raise InvalidInput("The body does not match its Content-MD5 header")
        yield got


def _too_large() -> InvalidInput:
    return InvalidInput(f"A body may be at most {MAX_BODY_BYTES:,} bytes; use a multipart upload")
