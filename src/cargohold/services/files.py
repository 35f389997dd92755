"""Use cases for the files of a version and the content objects behind them."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import BinaryIO

from cargohold.domain.ids import check_sha256
from cargohold.domain.listing import list_dir
from cargohold.domain.models import Dataset, FileEntry, ListedEntry, Version
from cargohold.domain.paths import check_key, dir_prefix, user_path
from cargohold.errors import VersionCommitted
from cargohold.services.context import Context


class VersionWriter:
    """The upload side of one uncommitted version, resolved once and shared by threads.

    `send_*` only puts bytes into the store; `stage` then records, in one catalog
    transaction, the objects that landed and the files that use them.
    """

    def __init__(self, ctx: Context, ds: Dataset, version: Version) -> None:
        _writable(version)
        self.ctx, self.ds, self.version = ctx, ds, version
        self.odb = ctx.odb(ds)

    def missing(self, sizes: dict[str, int]) -> set[str]:
        """Which objects the provider lacks; asks the store only about objects the catalog
        does not know (found ones, e.g. sent by a run that was killed, are remembered)."""
        team, provider = self.ctx.team.id, self.ds.storage_provider.id
        unknown = set(sizes) - self.ctx.catalog.known_objects(team, provider, sizes)
        found = {sha: sizes[sha] for sha in unknown if self.odb.exists(sha, sizes[sha])}
        if found:
            self.ctx.catalog.record_objects(team, provider, found)
        return unknown - set(found)

    def send_file(self, sha256: str, source: Path) -> int:
        return self.send_stream(sha256, _chunks(source))

    def send_stream(self, sha256: str, chunks: Iterable[bytes]) -> int:
        """Store one object, verified against its SHA-256; returns the bytes sent."""
        return self.odb.add_stream(check_sha256(sha256), chunks)

    def stage(self, entries: Sequence[FileEntry], landed: dict[str, int] | None = None) -> None:
        _check_entries(entries)
        self.ctx.catalog.stage_files(self.ds.id, self.version.version, entries, landed)


class VersionReader:
    """The read side of one version (a reference resolved once, so 'latest' cannot move)."""

    def __init__(self, ctx: Context, ds: Dataset, version: Version) -> None:
        self.ctx, self.ds, self.version = ctx, ds, version
        self.odb = ctx.odb(ds)

    def open(self, sha256: str) -> BinaryIO:
        return self.odb.open(check_sha256(sha256))


class ObjectService:
    """Content objects behind the files of a version."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def writer(self, ref: str) -> VersionWriter:
        return VersionWriter(self.ctx, *self.ctx.version(ref))

    def reader(self, ref: str) -> VersionReader:
        return VersionReader(self.ctx, *self.ctx.version(ref))


class FileService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def stage(self, ref: str, entries: Sequence[FileEntry]) -> None:
        """Record files in an uncommitted version; their objects must already be stored."""
        _check_entries(entries)
        ds, v = self.ctx.version(ref)
        self.ctx.catalog.stage_files(ds.id, v.version, entries)

    def list(self, ref: str, path: str | None = None, recursive: bool = False) -> list[ListedEntry]:
        ds, v = self.ctx.version(ref)
        prefix = dir_prefix(path)
        rows = list_dir(self.ctx.catalog.files(ds.id, v.version, prefix), prefix, recursive)
        if rows or not prefix:
            return rows
        single = self.ctx.catalog.file(ds.id, v.version, prefix.rstrip("/"))
        return (
            [ListedEntry(name=single.path.rsplit("/", 1)[-1], size=single.size)] if single else []
        )

    def entries(
        self, ref: str, path: str | None = None
    ) -> tuple[Version, builtins.list[FileEntry]]:
        """The resolved version and its files under a directory (all files by default)."""
        ds, v = self.ctx.version(ref)
        return v, self.ctx.catalog.files(ds.id, v.version, dir_prefix(path))

    def find(self, ref: str, key: str) -> FileEntry | None:
        ds, v = self.ctx.version(ref)
        return self.ctx.catalog.file(ds.id, v.version, check_key(key))

    def delete(self, ref: str, paths: Sequence[str] = ("/",)) -> int:
        """Delete files or directories; a path without a trailing '/' that names a file
        deletes just that file. Returns how many files went."""
        ds, v = self.ctx.version(ref)
        _writable(v)
        keys: list[str] = []
        prefixes: list[str] = []
        for raw in paths or ("/",):
            key, is_dir = user_path(raw)
            if not is_dir and self.ctx.catalog.file(ds.id, v.version, key):
                keys.append(key)
            else:
                prefixes.append(dir_prefix(key))
        return self.ctx.catalog.remove_files(ds.id, v.version, keys, prefixes)


def _writable(v: Version) -> None:
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


def _chunks(source: Path) -> Iterable[bytes]:
    from cargohold.blobs.base import file_chunks

    return file_chunks(source)
