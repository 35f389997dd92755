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

from cargohold.blobs import CHUNK
from cargohold.cache import Materializer
from cargohold.domain.models import FileEntry
from cargohold.domain.packs import PackMember, Span, plan_reads
from cargohold.domain.paths import basename, dir_prefix, relative_to, user_path
from cargohold.errors import FileNotInVersion, InvalidPath
from cargohold.services.progress import NoProgress, Progress
from cargohold.services.protocol import Reader
from cargohold.services.root import Services

LINK_THREADS = 2  # 20,000 links: 0.27 s by one thread, 0.14 s by two, no better by four


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


def plan(reader: Reader, sources: Sequence[str], target: Path) -> list[tuple[FileEntry, str]]:
    """(file, destination) pairs for every source path (the whole version by default).
    Destinations are strings: 20,000 Path objects cost more than the links they name."""
    pairs: dict[str, FileEntry] = {}
    for source in sources or ("/",):
        for entry, dest in _one_source(reader, source, target):
            pairs[dest] = entry
    return [(e, d) for d, e in sorted(pairs.items())]


def _one_source(reader: Reader, source: str, target: Path) -> list[tuple[FileEntry, str]]:
    key, is_dir = user_path(source, "source path")
    if not is_dir:
        single = reader.file(key)
        if single is not None:
            dest = target / basename(key) if target.is_dir() else target
            return [(single, str(dest))]
    prefix = dir_prefix(key)
    entries = reader.files(prefix)
    if not entries and prefix:
        raise FileNotInVersion(
            f"No such file or directory in {reader.version.ref}: {source}", path=source
        )
    # 'dir/' lands its contents in the target; 'dir' lands at <target>/<full key>
    return [
        (e, _inside(target, relative_to(e.path, prefix) if is_dir else e.path)) for e in entries
    ]


def _inside(target: Path, key: str) -> str:
    """`key` under `target`. Keys are checked when they enter a version (no '..', no empty or
    absolute part: `paths.check_key`); checking again here guards a damaged catalog."""
    if key.startswith("/") or "/../" in f"/{key}/" or "\x00" in key:
        raise InvalidPath(f"File path {key!r} would leave the target directory", path=key)
    return f"{target}/{key}"


def get(
    services: Services,
    ref: str,
    target: Path,
    sources: Sequence[str] = (),
    progress: Progress | None = None,
    jobs: int | None = None,
    verify: bool = False,
) -> GetSummary:
    """Materialize files of `ref` under `target`; with `verify`, cache entries are re-hashed
    first (a corrupt one is evicted and fetched again; a wrong size always is)."""
    progress = progress or NoProgress()
    jobs = jobs or services.settings.jobs
    reader = services.objects.reader(ref)  # 'latest' and tags resolve once
    pairs = plan(reader, sources, target)
    summary = GetSummary(files=len(pairs), bytes=sum(e.size for e, _ in pairs))
    by_sha: dict[str, list[tuple[FileEntry, str]]] = {}
    for entry, dest in pairs:
        by_sha.setdefault(entry.sha256, []).append((entry, dest))
    sizes = {sha: g[0][0].size for sha, g in by_sha.items()}
    held = services.cache.holds_many(sizes)
    if verify:
        held = {sha for sha in held if services.cache.verify(sha)}
    need = {sha: size for sha, size in sizes.items() if sha not in held}
    progress.start("Downloading", len(need), sum(need.values()))
    _fetch_all(services, reader, need, summary, jobs, progress)
    progress.finish()
    _place_all(services, reader, by_sha, summary)
    return summary


def _place_all(
    services: Services,
    reader: Reader,
    by_sha: dict[str, list[tuple[FileEntry, str]]],
    summary: GetSummary,
) -> None:
    """Hard-link every file from the cache: one system call per file when the destination is
    new (folders made once each, links made by two threads: links in different folders do not
    wait for each other); otherwise the full chain (replace, reflink, copy), one by one."""
    materializer = Materializer()
    for folder in sorted(
        {dest.rpartition("/")[0] for group in by_sha.values() for _, dest in group}
    ):
        try:
            os.makedirs(folder, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as exc:
            raise _cannot_write(Path(folder, "x"), exc) from None
    todo = [
        (services.cache.location(sha), entry, dest)
        for sha, group in by_sha.items()
        for entry, dest in group
    ]

    def link(part: list[tuple[str, FileEntry, str]]) -> list[tuple[FileEntry, str]]:
        return [(e, d) for s, e, d in part if not materializer.link_new(s, d)]

    step = max(1, -(-len(todo) // LINK_THREADS))  # one contiguous run (of folders) per thread
    with ThreadPoolExecutor(max_workers=LINK_THREADS) as pool:
        parts = [todo[i : i + step] for i in range(0, len(todo), step)]
        slow = [p for left in pool.map(link, parts) for p in left]
    summary.methods["hardlink"] += len(todo) - len(slow)
    for entry, dest in slow:
        summary.methods[_place(services, reader, materializer, entry, Path(dest), summary)] += 1


def _fetch_all(
    services: Services,
    reader: Reader,
    need: dict[str, int],
    summary: GetSummary,
    jobs: int,
    progress: Progress,
) -> None:
    """Bring these objects into the cache: whole objects by GET, packed ones by ranged GETs
    that serve neighbouring members together."""
    locations = reader.locations(need)
    by_pack: dict[str, list[PackMember]] = {}
    whole: list[str] = []
    for sha, loc in locations.items():
        if loc.pack is None or loc.offset is None:
            whole.append(sha)
        else:
            by_pack.setdefault(loc.pack, []).append(PackMember(sha, loc.offset, loc.size))
    sizes = reader.pack_sizes(by_pack)
    spans = [
        (pack, span)
        for pack, members in by_pack.items()
        for span in plan_reads(members, sizes.get(pack, max(m.end for m in members)))
    ]

    def fetch_whole(sha: str) -> None:
        _fetch(services, reader, sha, need[sha])
        _count(summary, progress, 1, need[sha])

    def fetch_span(item: tuple[str, Span]) -> None:
        pack, span = item
        for sha, content in reader.read_span(pack, span).items():
            services.cache.insert_stream(sha, len(content), [content])
        _count(summary, progress, len(span.members), sum(m.length for m in span.members))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(fetch_whole, whole))
        list(pool.map(fetch_span, spans))


def _count(summary: GetSummary, progress: Progress, objects: int, nbytes: int) -> None:
    with summary.lock:
        summary.fetched += objects
        summary.bytes_fetched += nbytes
    progress.advance(objects, nbytes)


def _place(
    services: Services,
    reader: Reader,
    materializer: Materializer,
    entry: FileEntry,
    dest: Path,
    summary: GetSummary,
) -> str:
    for _attempt in range(3):
        cached = services.cache.lookup(entry.sha256)
        if cached is None:  # evicted since it was fetched (a cache smaller than the version)
            cached = _fetch(services, reader, entry.sha256, entry.size)
            _count(summary, NoProgress(), 1, entry.size)
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


def _fetch(services: Services, reader: Reader, sha: str, size: int) -> Path:
    """One object into the cache, verified on the way in."""
    loc = reader.locations({sha: size})[sha]
    if loc.pack is not None and loc.offset is not None:
        span = Span(loc.offset, size, (PackMember(sha, loc.offset, size),))
        content = reader.read_span(loc.pack, span)[sha]
        return services.cache.insert_stream(sha, size, [content])
    with reader.open(sha) as stream:
        chunks = iter(lambda: stream.read(CHUNK), b"")
        return services.cache.insert_stream(sha, size, chunks)
