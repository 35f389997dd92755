"""The `put` verb: local files into an uncommitted version, sending only content not yet stored.

Steps: plan (which local file becomes which key, GRADIENT.md §1.18), hash (in threads), ask
which objects the provider lacks, send those (verified, each whole before it is recorded), and
stage the files in batches as their objects land. A crash at any point loses nothing: what
was sent is recorded and is not sent again by the next run.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from cargohold.cache.hashes import HashCache, Stamp, stamp
from cargohold.domain.models import FileEntry
from cargohold.domain.paths import check_key, dir_prefix, upload_key
from cargohold.errors import CargoholdError, InvalidInput, SourcePathError
from cargohold.services.progress import NoProgress, Progress
from cargohold.services.protocol import Writer
from cargohold.services.root import Services

STAGE_EVERY = 1000
STAGE_SECONDS = 2.0


@dataclass(frozen=True)
class LocalFile:
    source: str  # absolute
    key: str
    stamp: Stamp  # as the walk saw it: the stat cache's key, and the size

    @property
    def size(self) -> int:
        return self.stamp[2]


@dataclass
class PutSummary:
    files: int = 0
    new_objects: int = 0
    bytes_sent: int = 0
    bytes_skipped: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "files": self.files,
            "newObjects": self.new_objects,
            "bytesSent": self.bytes_sent,
            "bytesSkipped": self.bytes_skipped,
        }


def check_sources(sources: Sequence[str]) -> None:
    """Refuse missing source paths before anything is created or sent."""
    for source in sources:
        if not os.path.exists(source):
            raise SourcePathError(f"Source path not found: {source}", path=source)


def plan(sources: Sequence[str], target: str | None) -> list[LocalFile]:
    """Which key each local file gets; symlinks are followed, loops are skipped."""
    prefix = dir_prefix(target, "target path")
    by_key: dict[str, LocalFile] = {}
    for source in sources:
        for file in _expand(source, prefix):
            other = by_key.get(file.key)
            if other is not None and other.source != file.source:
                raise InvalidInput(
                    f"Two source files map to the same path {file.key!r}: "
                    f"{other.source} and {file.source}",
                    path=file.key,
                )
            by_key[file.key] = file
    return sorted(by_key.values(), key=lambda f: f.key)


def _expand(source: str, prefix: str) -> Iterator[LocalFile]:
    path = Path(source)
    absolute = os.path.abspath(source)
    if path.is_file():
        yield LocalFile(absolute, upload_key(prefix, None, path.name), stamp(os.stat(absolute)))
    elif path.is_dir():
        contents_only = source.endswith(("/", os.sep))
        top = None if contents_only else path.resolve().name
        for file, rel, st in _walk(absolute):
            yield LocalFile(file, upload_key(prefix, top, rel), stamp(st))
    elif os.path.lexists(source):
        raise SourcePathError(_not_a_file(path), path=source)
    else:
        raise SourcePathError(f"Invalid source path: {source}", path=source)


def _walk(root: str) -> Iterator[tuple[str, str, os.stat_result]]:
    """Regular files below `root` with their path relative to it and their stat, following
    symbolic links; a link back to one of its own ancestors (a loop) is not followed again.
    Broken links and special files are refused. Paths stay strings: a Path per file cost
    more than the walk's system calls."""
    stack: list[tuple[str, str, frozenset[tuple[int, int]]]] = [(root, "", frozenset())]
    while stack:
        folder, rel, ancestors = stack.pop()
        st = os.stat(folder)
        here = (st.st_dev, st.st_ino)
        if here in ancestors:
            continue
        below = ancestors | {here}
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            raise SourcePathError.unreadable(folder, exc, "the folder") from None
        for entry in entries:
            if entry.is_dir():
                stack.append((entry.path, f"{rel}{entry.name}/", below))
            elif entry.is_file():
                yield entry.path, f"{rel}{entry.name}", entry.stat()
            else:
                raise SourcePathError(_not_a_file(Path(entry.path)), path=entry.path)


def _not_a_file(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return f"Broken symbolic link in the source: {path}"
    return f"Not a regular file or directory: {path}"


def hash_file(path: str | Path) -> str:
    try:
        with open(path, "rb") as f:
            digest = hashlib.file_digest(f, "sha256")  # one reused buffer, no allocations
    except OSError as exc:
        raise SourcePathError.unreadable(path, exc) from None
    return digest.hexdigest()


def content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def hash_all(
    files: Sequence[LocalFile], jobs: int, progress: Progress, hashes: HashCache | None = None
) -> list[FileEntry]:
    """Every file's entry; files the stat cache vouches for are not read again.

    Files are hashed in batches (runs of small files, or one large file), one batch per task,
    by at most one thread per core: one task per small file cost more in thread hand-offs
    than the hashing itself (20,000 files: 2.8 s with a task each, 1.3 s in batches)."""
    known = hashes.known([(f.source, f.stamp) for f in files]) if hashes is not None else {}
    progress.start("Hashing", len(files), sum(f.size for f in files))

    def batch(span: range) -> list[FileEntry]:
        done = []
        for file in files[span.start : span.stop]:
            sha = known.get(file.source) or hash_file(file.source)
            done.append(FileEntry(file.key, file.size, sha, content_type(file.key)))
        progress.advance(len(done), sum(e.size for e in done))
        return done

    spans = _batches([0 if f.source in known else f.size for f in files])
    threads = max(1, min(jobs, os.cpu_count() or 1, len(spans)))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        entries = [e for done in pool.map(batch, spans) for e in done]
    progress.finish()
    if hashes is not None:
        fresh = zip(files, entries, strict=True)
        hashes.remember((f.source, f.stamp, e.sha256) for f, e in fresh if f.source not in known)
    return entries


def _batches(sizes: Sequence[int], files: int = 256, nbytes: int = 16 << 20) -> list[range]:
    """Consecutive runs of at most `files` files or about `nbytes` bytes to read."""
    spans: list[range] = []
    start, held = 0, 0
    for i, size in enumerate(sizes):
        if i > start and (i - start >= files or held + size > nbytes):
            spans.append(range(start, i))
            start, held = i, 0
        held += size
    if start < len(sizes):
        spans.append(range(start, len(sizes)))
    return spans


@dataclass(frozen=True)
class Prepared:
    """Local files planned and hashed: everything a put needs to know before it sends."""

    files: list[LocalFile]
    entries: list[FileEntry]


def prepare(
    sources: Sequence[str],
    target: str | None,
    jobs: int,
    progress: Progress | None = None,
    hashes: HashCache | None = None,
) -> Prepared:
    """Plan and hash; a bad source fails here, before anything is created or sent."""
    check_sources(sources)
    files = plan(sources, target)
    return Prepared(files, hash_all(files, jobs, progress or NoProgress(), hashes))


def put(
    services: Services,
    ref: str,
    sources: Sequence[str],
    target: str | None = None,
    progress: Progress | None = None,
    jobs: int | None = None,
    prepared: Prepared | None = None,
) -> PutSummary:
    """Upload `sources` into the version `ref` (which must be uncommitted)."""
    progress = progress or NoProgress()
    jobs = jobs or services.settings.jobs
    writer = services.objects.writer(ref)
    if prepared is None:
        services.objects.open_ahead(writer.ds)
        prepared = prepare(sources, target, jobs, progress, services.hashes)
    writer.clean_stale_uploads()
    entries = prepared.entries
    sources_by_sha = {e.sha256: f.source for f, e in zip(prepared.files, entries, strict=True)}
    missing = writer.missing({e.sha256: e.size for e in entries})
    summary = PutSummary(files=len(entries))
    ready = [e for e in entries if e.sha256 not in missing]
    summary.bytes_skipped = sum(e.size for e in ready)
    if ready:
        writer.stage(ready)
    waiting = [e for e in entries if e.sha256 in missing]
    _send(writer, waiting, sources_by_sha, summary, jobs, progress)
    return summary


def put_one(
    services: Services,
    ref: str,
    key: str,
    source: str,
    sha256: str | None = None,
    mime: str | None = None,
) -> PutSummary:
    """One local file into the version `ref` at `key` (a body the server received, for
    instance), through `put`: its content is stored once per provider, the file staged once
    the content is whole. `sha256` spares a second read when the caller hashed it already."""
    absolute = os.path.abspath(source)
    file = LocalFile(absolute, check_key(key), stamp(os.stat(absolute)))
    entry = FileEntry(
        file.key, file.size, sha256 or hash_file(absolute), mime or content_type(file.key)
    )
    return put(services, ref, [absolute], jobs=1, prepared=Prepared([file], [entry]))


class _Stager:
    """Stages files in batches as their objects land, with the whole objects' records."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.entries: list[FileEntry] = []
        self.landed: dict[str, int] = {}
        self.last = time.monotonic()

    def add(self, groups: list[list[FileEntry]], whole_sent: int | None) -> None:
        for group in groups:
            self.entries.extend(group)
            if whole_sent is not None:
                self.landed[group[0].sha256] = whole_sent

    def maybe_flush(self) -> None:
        if len(self.entries) >= STAGE_EVERY or time.monotonic() - self.last > STAGE_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.entries:
            self.writer.stage(self.entries, self.landed)
        self.entries, self.landed, self.last = [], {}, time.monotonic()


@dataclass
class _Task:
    """One thing to send: a whole object, or a pack of small ones."""

    groups: list[list[FileEntry]]  # files by content; the first of each group is sent
    packed: bool

    @property
    def nbytes(self) -> int:
        return sum(g[0].size for g in self.groups)


def _tasks(writer: Writer, by_sha: dict[str, list[FileEntry]]) -> Iterator[_Task]:
    """Whole objects one by one; small contents gathered, in path order, into packs."""
    pack: list[list[FileEntry]] = []
    filled = 0
    limit = writer.pack_size
    for group in by_sha.values():
        if not writer.packed(group[0].size):
            yield _Task([group], packed=False)
            continue
        if pack and filled + group[0].size > limit:
            yield _Task(pack, packed=True)
            pack, filled = [], 0
        pack.append(group)
        filled += group[0].size
    if pack:
        yield _Task(pack, packed=True)


def _run(writer: Writer, task: _Task, sources: dict[str, str]) -> int:
    """Send one task; a failure names the local file(s) it was about."""
    try:
        if task.packed:
            return writer.send_pack([(g[0], sources[g[0].sha256]) for g in task.groups])
        head = task.groups[0][0]
        return writer.send_file(head.sha256, sources[head.sha256])
    except CargoholdError as exc:
        raise _naming(exc, [sources[g[0].sha256] for g in task.groups]) from exc


def _naming(exc: CargoholdError, paths: list[str]) -> CargoholdError:
    """The same error, its message saying which file could not be sent."""
    if any(str(p) in exc.message for p in paths):
        return exc
    what = str(paths[0]) if len(paths) == 1 else f"{paths[0]} and {len(paths) - 1} more files"
    details = {**exc.details, "path": str(paths[0])}
    return type(exc)(f"Could not upload {what}: {exc.message}", hint=exc.hint, **details)


def _send(
    writer: Writer,
    waiting: list[FileEntry],
    sources: dict[str, str],
    summary: PutSummary,
    jobs: int,
    progress: Progress,
) -> None:
    """Send each missing content once: a few tasks per thread in flight, and never more
    pack bytes held in memory than a few packs' worth."""
    by_sha: dict[str, list[FileEntry]] = {}
    for e in waiting:
        by_sha.setdefault(e.sha256, []).append(e)
    progress.start("Uploading", len(by_sha), sum(v[0].size for v in by_sha.values()))
    stager = _Stager(writer)
    todo = _tasks(writer, by_sha)
    budget = 2 * writer.pack_size
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        in_flight: dict[Future[int], _Task] = {}
        held = 0
        try:
            while True:
                while len(in_flight) < jobs * 4 and (not in_flight or held < budget):
                    task = next(todo, None)
                    if task is None:
                        break
                    held += task.nbytes if task.packed else 0
                    in_flight[pool.submit(_run, writer, task, sources)] = task
                if not in_flight:
                    break
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = in_flight.pop(fut)
                    sent = fut.result()
                    held -= task.nbytes if task.packed else 0
                    stager.add(task.groups, None if task.packed else sent)
                    summary.new_objects += len(task.groups)
                    summary.bytes_sent += sent
                    summary.bytes_skipped += sum(e.size for g in task.groups for e in g[1:])
                    progress.advance(len(task.groups), task.nbytes)
                stager.maybe_flush()
        finally:
            for fut in in_flight:
                fut.cancel()
            stager.flush()  # what landed stays recorded, even when another file failed
    progress.finish()
