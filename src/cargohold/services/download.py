"""The `get` verb: a version's files into a local directory, through the cache.

Each object is fetched once into the cache (verified by SHA-256 on the way in), then placed at
its destination by hardlink, reflink or copy (read-only in every case). Local paths follow
GRADIENT.md §1.17: a source ending in '/' lands its contents in the target, a directory
without it keeps its own name, a single file lands at the target (or inside it when the target
is an existing directory).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from cargohold.cache import Materializer
from cargohold.domain.models import FileEntry
from cargohold.domain.paths import basename, dir_prefix, relative_to, user_path
from cargohold.errors import FileNotInVersion, InvalidPath
from cargohold.services.files import VersionReader
from cargohold.services.progress import NoProgress, Progress
from cargohold.services.root import Services

READ_CHUNK = 1024 * 1024


@dataclass
class GetSummary:
    files: int = 0
    bytes: int = 0
    fetched: int = 0
    bytes_fetched: int = 0
    methods: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def to_json(self) -> dict[str, object]:
        return {
            "files": self.files,
            "bytes": self.bytes,
            "fetchedObjects": self.fetched,
            "bytesFetched": self.bytes_fetched,
            "methods": dict(self.methods),
        }


def plan(
    services: Services, ref: str, sources: Sequence[str], target: Path
) -> list[tuple[FileEntry, Path]]:
    """(file, destination) pairs for every source path (the whole version by default)."""
    pairs: dict[Path, FileEntry] = {}
    for source in sources or ("/",):
        for entry, dest in _one_source(services, ref, source, target):
            pairs[dest] = entry
    return [(e, d) for d, e in sorted(pairs.items(), key=lambda p: str(p[0]))]


def _one_source(
    services: Services, ref: str, source: str, target: Path
) -> list[tuple[FileEntry, Path]]:
    key, is_dir = user_path(source, "source path")
    if not is_dir:
        single = services.files.find(ref, key)
        if single is not None:
            dest = target / basename(key) if target.is_dir() else target
            return [(single, dest)]
    prefix = dir_prefix(key)
    _, entries = services.files.entries(ref, prefix)
    if not entries and prefix:
        raise FileNotInVersion(f"No such file or directory in {ref}: {source}", path=source)
    # 'dir/' lands its contents in the target; 'dir' lands at <target>/<full key>
    return [
        (e, _inside(target, relative_to(e.path, prefix) if is_dir else e.path)) for e in entries
    ]


def _inside(target: Path, key: str) -> Path:
    dest = target.joinpath(*key.split("/"))
    if os.path.commonpath([os.path.abspath(dest), os.path.abspath(target)]) != os.path.abspath(
        target
    ):
        raise InvalidPath(f"File path {key!r} would leave the target directory", path=key)
    return dest


def get(
    services: Services,
    ref: str,
    target: Path,
    sources: Sequence[str] = (),
    progress: Progress | None = None,
    jobs: int | None = None,
) -> GetSummary:
    progress = progress or NoProgress()
    reader = services.objects.reader(ref)  # 'latest' and tags resolve once
    pinned = reader.version.ref
    pairs = plan(services, pinned, sources, target)
    summary = GetSummary(files=len(pairs), bytes=sum(e.size for e, _ in pairs))
    progress.start("Downloading", len(pairs), summary.bytes)
    materializer = Materializer()
    by_sha: dict[str, list[tuple[FileEntry, Path]]] = {}
    for entry, dest in pairs:
        by_sha.setdefault(entry.sha256, []).append((entry, dest))

    def one(group: list[tuple[FileEntry, Path]]) -> None:
        for entry, dest in group:  # the first fetches into the cache, the rest link to it
            method = _place(services, reader, materializer, entry, dest, summary)
            with summary.lock:
                summary.methods[method] += 1
            progress.advance(1, entry.size)

    with ThreadPoolExecutor(max_workers=jobs or services.settings.jobs) as pool:
        list(pool.map(one, by_sha.values()))
    progress.finish()
    return summary


def _place(
    services: Services,
    reader: VersionReader,
    materializer: Materializer,
    entry: FileEntry,
    dest: Path,
    summary: GetSummary,
) -> str:
    for _attempt in range(3):
        cached = services.cache.lookup(entry.sha256)
        if cached is None:
            cached = _fetch(services, reader, entry)
            with summary.lock:
                summary.fetched += 1
                summary.bytes_fetched += entry.size
        try:
            return materializer.place(cached, dest)
        except FileNotFoundError:
            if not cached.exists():
                continue  # evicted by someone else between fetch and link: fetch again
            raise _cannot_write(dest) from None
        except (NotADirectoryError, FileExistsError, PermissionError) as exc:
            raise _cannot_write(dest, exc) from None
    raise FileNotInVersion(f"Could not materialize {entry.path}", path=entry.path)


def _cannot_write(dest: Path, exc: OSError | None = None) -> InvalidPath:
    blocker = next((p for p in dest.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        return InvalidPath(
            f"Cannot write {dest}: {blocker} is a file, not a directory",
            hint="Choose another --target-path, or remove the file in the way",
            path=str(dest),
        )
    reason = exc.strerror if exc is not None else "a parent directory is missing"
    return InvalidPath(f"Cannot write {dest}: {reason}", path=str(dest))


def _fetch(services: Services, reader: VersionReader, entry: FileEntry) -> Path:
    with reader.open(entry.sha256) as stream:
        chunks = iter(lambda: stream.read(READ_CHUNK), b"")
        return services.cache.insert_stream(entry.sha256, entry.size, chunks)
