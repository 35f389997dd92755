"""Use cases for the files of a version and the content objects behind them."""

from __future__ import annotations

import builtins
import functools
import hashlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from cargohold.blobs import ObjectDB
from cargohold.domain.ids import check_sha256
from cargohold.domain.layout import pack_index_key
from cargohold.domain.listing import list_page
from cargohold.domain.models import Dataset, FileEntry, ListedEntry, ObjectLocation, Version
from cargohold.domain.packs import PackMember, Span, encode_index
from cargohold.domain.paths import check_key, dir_prefix, user_path
from cargohold.errors import HashMismatch, SourcePathError, VersionCommitted
from cargohold.services.context import Context

STALE_UPLOAD_SECONDS = 24 * 3600


class VersionWriter:
    """The upload side of one uncommitted version, resolved once and shared by threads.

    `send_*` put bytes into the store (a pack is recorded as soon as it is whole); `stage`
    then records, in one catalog transaction, whole objects that landed and the files.
    """

    def __init__(self, ctx: Context, ds: Dataset, version: Version) -> None:
        check_writable(version)
        self.ctx, self.ds, self.version = ctx, ds, version
        self.settings = ctx.stores.settings
        self.team, self.provider = ctx.team.id, ds.storage_provider.id

    @functools.cached_property
    def odb(self) -> ObjectDB:
        """Opened on first use (see `ObjectService.open_ahead`)."""
        return self.ctx.odb(self.ds)

    def clean_stale_uploads(self, older_than: float = STALE_UPLOAD_SECONDS) -> int:
        """Abort the team's unfinished multipart uploads older than a day: a killed run's
        parts would otherwise stay billed forever (recent ones may still be resumed)."""
        return self.odb.store.cleanup_incomplete(f"{self.team}/", older_than)

    @property
    def pack_size(self) -> int:
        """The size a pack is closed at."""
        return self.settings.pack_size

    def packed(self, size: int) -> bool:
        """Whether content of this size travels in a pack."""
        return self.odb.packs_small_files and size < self.settings.pack_threshold

    def missing(self, sizes: dict[str, int]) -> set[str]:
        """Which objects the provider lacks. The catalog answers for what it knows; unknown
        whole objects cost a HEAD each, unknown small ones one LIST of the pack indexes (that
        heals objects sent by a run killed before it recorded them). Refuses, before any byte
        is sent, a write that would exceed the managed provider's quota."""
        catalog = self.ctx.catalog
        unknown = set(sizes) - catalog.known_objects(self.team, self.provider, sizes)
        small = {sha for sha in unknown if self.packed(sizes[sha])}
        large = unknown - small
        found = {sha: sizes[sha] for sha in large if self.odb.exists(sha, sizes[sha])}
        if found:
            catalog.record_objects(self.team, self.provider, found)
        if small:
            self._heal_packs()
            small -= catalog.known_objects(self.team, self.provider, small)
        missing = (large - set(found)) | small
        self._check_quota({sha: sizes[sha] for sha in missing})
        return missing

    def _heal_packs(self) -> None:
        for pack in self.odb.packs_in_store() - self.ctx.catalog.known_packs(
            self.team, self.provider
        ):
            members = self.odb.pack_index(pack)
            size = self.odb.pack_size(pack)
            if size is not None and size >= max((m.end for m in members), default=0):
                self.ctx.catalog.record_pack(self.team, self.provider, pack, size, members)

    def _check_quota(self, sizes: dict[str, int]) -> None:
        """Reserve room for the missing contents in the managed provider, or raise
        QuotaExceeded: checked and reserved in one catalog transaction per team, so clients
        of a team that each fit cannot together exceed the quota. The room is released when
        the content is recorded, or after a day (an upload that never finished)."""
        quota = self.settings.managed_quota
        if not quota or not sizes or not self.ds.storage_provider.is_managed:
            return
        self.ctx.catalog.reserve(self.team, self.provider, sizes, quota, STALE_UPLOAD_SECONDS)

    def send_file(self, sha256: str, source: str) -> int:
        """Store one local file (parts read in place, no stream to regroup), verified."""
        try:
            return self.odb.add_file(check_sha256(sha256), Path(source))
        except OSError as exc:
            raise SourcePathError.unreadable(source, exc) from None

    def send_pack(self, files: Sequence[tuple[FileEntry, str]]) -> int:
        """Store small files as one pack (each verified as read) and record it."""
        contents: list[bytes] = []
        members: list[PackMember] = []
        offset = 0
        for entry, source in files:
            content = read_verified(entry, source)
            members.append(PackMember(entry.sha256, offset, len(content)))
            contents.append(content)
            offset += len(content)
        data = b"".join(contents)
        del contents
        pack = self.odb.add_pack(data, members)
        self.ctx.catalog.record_pack(self.team, self.provider, pack, len(data), members)
        return len(data)

    def stage(self, entries: Sequence[FileEntry], landed: dict[str, int] | None = None) -> None:
        _check_entries(entries)
        self.ctx.catalog.stage_files(self.ds.id, self.version.version, entries, landed)

    # -- what the catalog holds for the provider (the server's half of an upload) ----------

    def known(self, shas: Iterable[str]) -> set[str]:
        """Which of these contents the catalog has recorded for the provider."""
        return self.ctx.catalog.known_objects(self.team, self.provider, shas)

    def recorded(self, sha256: str) -> int | None:
        """The size of a content the catalog has recorded (whole and verified): such an
        object is never written again, so nothing can change what a committed version reads."""
        loc = self.ctx.catalog.object_locations(self.team, self.provider, [sha256]).get(sha256)
        return loc.size if loc is not None else None

    def record(self, sizes: dict[str, int]) -> None:
        """Remember whole objects that are now in the store, verified."""
        self.ctx.catalog.record_objects(self.team, self.provider, sizes)

    def index_pack(self, pack: str, size: int, members: Sequence[PackMember]) -> None:
        """Write the index of a pack that is whole in the store, and record it; a pack the
        catalog has recorded already keeps its index."""
        if not self.ctx.catalog.pack_sizes(self.team, self.provider, [pack]):
            self.odb.store.put_bytes(pack_index_key(self.team, pack), encode_index(members))
            self.ctx.catalog.record_pack(self.team, self.provider, pack, size, members)


class VersionReader:
    """The read side of one version (a reference resolved once, so 'latest' cannot move)."""

    def __init__(self, ctx: Context, ds: Dataset, version: Version) -> None:
        self.ctx, self.ds, self.version = ctx, ds, version
        self.team, self.provider = ctx.team.id, ds.storage_provider.id

    @functools.cached_property
    def odb(self) -> ObjectDB:
        """The provider's objects, opened on first use: a version read wholly from the cache
        never builds a client for its provider (boto3 alone takes 0.2 s to import)."""
        return self.ctx.odb(self.ds)

    def locations(self, sizes: dict[str, int]) -> dict[str, ObjectLocation]:
        """Where each object sits; one the catalog does not know is taken to be whole."""
        known = self.ctx.catalog.object_locations(self.team, self.provider, sizes)
        return {sha: known.get(sha) or ObjectLocation(sha, size) for sha, size in sizes.items()}

    def pack_sizes(self, packs: Iterable[str]) -> dict[str, int]:
        return self.ctx.catalog.pack_sizes(self.team, self.provider, packs)

    def recorded(self, sha256: str) -> ObjectLocation | None:
        """Where the catalog has recorded this content for the provider, if it has."""
        return self.ctx.catalog.object_locations(self.team, self.provider, [sha256]).get(sha256)

    def open(self, sha256: str) -> BinaryIO:
        return self.odb.open(check_sha256(sha256))

    def files(
        self, prefix: str = "", after: str | None = None, limit: int | None = None
    ) -> builtins.list[FileEntry]:
        """The version's files under a directory prefix, in path order (a page of `limit`
        after the path `after`, when given)."""
        return self.ctx.catalog.files(self.ds.id, self.version.version, prefix, after, limit)

    def file(self, key: str) -> FileEntry | None:
        return self.ctx.catalog.file(self.ds.id, self.version.version, check_key(key))

    def read_span(self, pack: str, span: Span) -> dict[str, memoryview]:
        """The members a ranged read of a pack serves, as views into one buffer (no copy per
        member). Not verified here: the cache verifies each member as it goes in."""
        blob = memoryview(self.odb.read_pack_range(pack, span.offset, span.length))
        if len(blob) != span.length:
            raise HashMismatch(
                f"Pack {pack} is shorter than its index says ({span.offset + len(blob)} bytes)",
                hint="The provider holds damaged data; upload the files again",
                pack=pack,
            )
        return {m.sha256: blob[m.offset - span.offset : m.end - span.offset] for m in span.members}


class ObjectService:
    """Content objects behind the files of a version."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def writer(self, ref: str) -> VersionWriter:
        return VersionWriter(self.ctx, *self.ctx.version(ref))

    def reader(self, ref: str) -> VersionReader:
        return VersionReader(self.ctx, *self.ctx.version(ref))

    def open_ahead(self, ds: Dataset) -> None:
        """Have the dataset's store opened in the background while the caller does other work."""
        self.ctx.stores.open_ahead(ds.storage_provider)


class FileService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def list(
        self,
        ref: str,
        path: str | None = None,
        recursive: bool = False,
        limit: int | None = None,
        after: str | None = None,
    ) -> list[ListedEntry]:
        """A page of the listing (everything without `limit`), after the row named `after`."""
        ds, v = self.ctx.version(ref)
        prefix = dir_prefix(path)

        def fetch(cursor: str | None, n: int) -> builtins.list[FileEntry]:
            return self.ctx.catalog.files(ds.id, v.version, prefix, cursor, n)

        rows = list_page(fetch, prefix, recursive, limit, after)
        if rows or not prefix or after:
            return rows
        single = self.ctx.catalog.file(ds.id, v.version, prefix.rstrip("/"))
        return (
            [ListedEntry(name=single.path.rsplit("/", 1)[-1], size=single.size)] if single else []
        )

    def delete(self, ref: str, paths: Sequence[str] = ("/",)) -> int:
        """Delete files or directories; a path without a trailing '/' that names a file
        deletes just that file. Returns how many files went."""
        ds, v = self.ctx.version(ref)
        check_writable(v)
        keys: list[str] = []
        prefixes: list[str] = []
        for raw in paths or ("/",):
            key, is_dir = user_path(raw)
            if not is_dir and self.ctx.catalog.file(ds.id, v.version, key):
                keys.append(key)
            else:
                prefixes.append(dir_prefix(key))
        return self.ctx.catalog.remove_files(ds.id, v.version, keys, prefixes)


def check_writable(v: Version) -> None:
    if v.is_committed:
        raise VersionCommitted(
            f"Version {v.ref} is committed and cannot be changed",
            dataset=v.dataset_id,
            version=v.version,
        )


def _check_entries(entries: Sequence[FileEntry]) -> None:
    for e in entries:
        check_key(e.path)
        check_sha256(e.sha256)


def read_verified(entry: FileEntry, source: str | Path) -> bytes:
    """The whole file at `source`, which must still be `entry`'s content (size, SHA-256)."""
    try:
        with open(source, "rb") as f:
            content = f.read()
    except OSError as exc:
        raise SourcePathError.unreadable(source, exc) from None
    if len(content) != entry.size or hashlib.sha256(content).hexdigest() != entry.sha256:
        raise changed(source)
    return content


def changed(source: str | Path) -> HashMismatch:
    """The error for a source file whose content changed while it was uploaded."""
    return HashMismatch(
        f"{source} changed while it was uploaded",
        hint="Run the command again once the file has stopped changing",
        path=str(source),
    )
