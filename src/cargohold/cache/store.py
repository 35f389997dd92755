"""The local cache: whole files, one per SHA-256, evicted least recently used first.

The files are the truth; ``index.sqlite`` records their sizes and use times and heals
whenever it disagrees with them. Several processes may share one cache directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cargohold.errors import HashMismatch, InvalidInput

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 256 * 1024  # below the mmap threshold, as blobs.base.CHUNK
_STALE_TEMP_SECONDS = 3600.0
_FLUSH_SECONDS = 1.0
_FLUSH_BATCH = 256
_RELATIME_SECONDS = 60
_BUSY_MS = 30_000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    sha256 TEXT PRIMARY KEY, size INTEGER NOT NULL, last_used REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_last_used ON entries (last_used);
CREATE TABLE IF NOT EXISTS stats (id INTEGER PRIMARY KEY CHECK (id = 0), total INTEGER NOT NULL);
INSERT OR IGNORE INTO stats VALUES (0, (SELECT COALESCE(SUM(size), 0) FROM entries));
CREATE TRIGGER IF NOT EXISTS entries_added AFTER INSERT ON entries
BEGIN UPDATE stats SET total = total + NEW.size WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS entries_removed AFTER DELETE ON entries
BEGIN UPDATE stats SET total = total - OLD.size WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS entries_resized AFTER UPDATE OF size ON entries
BEGIN UPDATE stats SET total = total - OLD.size + NEW.size WHERE id = 0; END;
"""
# `stats.total` is kept by the triggers, so eviction never sums the whole table.
_TOTAL = "SELECT total FROM stats WHERE id = 0"
_UPSERT = f"""INSERT INTO entries (sha256, size, last_used) VALUES (?, ?, ?)
ON CONFLICT (sha256) DO UPDATE SET size = excluded.size, last_used = excluded.last_used
WHERE size != excluded.size OR last_used < excluded.last_used - {_RELATIME_SECONDS}"""
# Uses are recorded as `relatime` records file access: an entry used within the last minute is
# not written again. Materializing a 20,000-file version twice in a row then writes nothing,
# where rewriting every row (and its place in the last_used index) took 0.18 s.


def _now() -> float:
    """The time a use is recorded at (one place, so tests can move the clock)."""
    return time.time()


@dataclass(frozen=True)
class CacheStatus:
    root: Path
    entries: int
    size: int
    limit: int


@dataclass(frozen=True)
class PruneResult:
    removed: int
    freed: int


def object_location(root: Path, sha256: str) -> str:
    """Where the cache keeps `sha256`: root/objects/ab/cd/<sha256>, as a string (loops over
    many files build no Path objects)."""
    if not _SHA256.fullmatch(sha256):
        raise InvalidInput(
            f"not a SHA-256: {sha256!r}", hint="Use 64 lowercase hex digits", sha256=sha256
        )
    return f"{root}/objects/{sha256[:2]}/{sha256[2:4]}/{sha256}"


def object_path(root: Path, sha256: str) -> Path:
    return Path(object_location(root, sha256))


def _scan(root: Path) -> Iterator[tuple[str, int, float]]:
    """(sha256, size, last use) of every file under root/objects, by directory walk."""
    for dirpath, _dirs, names in os.walk(root / "objects"):
        for name in names:
            path = Path(dirpath, name)
            if not _SHA256.fullmatch(name) or object_path(root, name) != path:
                continue
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            yield name, st.st_size, max(st.st_atime, st.st_mtime)


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction, taken up front so concurrent writers queue on busy_timeout."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _inode(path: Path) -> int:
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return -1


class _Index:
    """Sizes and use times in SQLite (WAL); lookups are recorded in batches."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / "index.sqlite"
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._ino = -1
        self._abandoned: list[sqlite3.Connection] = []
        self._pending: dict[str, tuple[int, float]] = {}
        self._added = 0  # bytes inserted since the last flush
        self._total = 0  # the cache's total at the last flush
        self._flushed = time.monotonic()

    def conn(self) -> sqlite3.Connection:
        """The connection, reopened after a fork or when the index file was replaced."""
        if self._conn is not None and (os.getpid() != self._pid or _inode(self.path) != self._ino):
            # Never close it: closing may checkpoint and delete a -wal now used by others.
            self._abandoned.append(self._conn)
            self._conn = None
        if self._conn is None:
            self._conn = self._open()
            self._pid = os.getpid()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / "index.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fresh = not self.path.exists()
            if fresh:  # a -wal left beside a deleted index must not be replayed into a new one
                for suffix in ("-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(_SCHEMA)
            self._ino = _inode(self.path)
            if fresh:
                self.reconcile(conn)
            self._total = int(conn.execute(_TOTAL).fetchone()[0])
        return conn

    def tx(self) -> AbstractContextManager[sqlite3.Connection]:
        return _transaction(self.conn())

    def touch(self, sha256: str, size: int) -> None:
        """Record a use; written with the next batch."""
        self._pending[sha256] = (size, _now())
        due = time.monotonic() - self._flushed >= _FLUSH_SECONDS
        if due or len(self._pending) >= _FLUSH_BATCH:
            self.flush()

    def touch_many(self, sizes: dict[str, int]) -> None:
        """Record uses of many entries, written in one transaction."""
        now = _now()
        self._pending.update((sha, (size, now)) for sha, size in sizes.items())
        self.flush()

    def flush(self) -> None:
        self._flushed = time.monotonic()
        rows = [(sha, size, used) for sha, (size, used) in self._pending.items()]
        self._pending.clear()
        self._added = 0
        if rows:
            with self.tx() as conn:
                conn.executemany(_UPSERT, rows)
                self._total = int(conn.execute(_TOTAL).fetchone()[0])

    def record(self, sha256: str, size: int, limit: int) -> None:
        """Record an insert. Inserts are written in batches, like uses; as soon as the cache
        may be over `limit`, the batch is written and others are evicted (never this one)."""
        self.conn()  # opened (and `_total` read) before it is trusted
        self._pending[sha256] = (size, _now())
        self._added += size
        due = time.monotonic() - self._flushed >= _FLUSH_SECONDS
        if self._total + self._added <= limit and not due and len(self._pending) < _FLUSH_BATCH:
            return
        self.flush()
        with self.tx() as conn:
            self._evict(conn, limit, keep=sha256)
            self._total = int(conn.execute(_TOTAL).fetchone()[0])

    def drop(self, sha256: str) -> None:
        self._pending.pop(sha256, None)
        with self.tx() as conn:
            conn.execute("DELETE FROM entries WHERE sha256 = ?", (sha256,))

    def totals(self) -> tuple[int, int]:
        query = "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entries"
        count, size = self.conn().execute(query).fetchone()
        return int(count), int(size)

    def reconcile(self, conn: sqlite3.Connection | None = None) -> None:
        """Make the rows match the files: add the missing, drop the orphaned, fix sizes."""
        conn = conn or self.conn()
        rows = dict(conn.execute("SELECT sha256, size FROM entries").fetchall())
        files = {sha: (size, used) for sha, size, used in _scan(self.root)}
        with _transaction(conn):
            for sha in rows.keys() - files.keys():
                if not object_path(self.root, sha).exists():  # not inserted since the scan
                    conn.execute("DELETE FROM entries WHERE sha256 = ?", (sha,))
            for sha, (size, used) in files.items():
                if rows.get(sha) != size:
                    conn.execute(_UPSERT, (sha, size, used))

    def evict_to(self, target: int) -> PruneResult:
        self.flush()
        with self.tx() as conn:
            return self._evict(conn, target, keep=None)

    def _evict(self, conn: sqlite3.Connection, target: int, keep: str | None) -> PruneResult:
        """Remove least recently used entries (never `keep`) until the total is `target`."""
        total = int(conn.execute(_TOTAL).fetchone()[0])
        removed = freed = 0
        query = "SELECT sha256, size FROM entries WHERE sha256 != ? ORDER BY last_used LIMIT 256"
        while total > target and (batch := conn.execute(query, (keep or "",)).fetchall()):
            for sha, size in batch:
                if total <= target:
                    break
                object_path(self.root, sha).unlink(missing_ok=True)
                conn.execute("DELETE FROM entries WHERE sha256 = ?", (sha,))
                total, removed, freed = total - size, removed + 1, freed + size
        return PruneResult(removed=removed, freed=freed)

    def close(self) -> None:
        """Write pending uses and close; a connection inherited over fork is left alone."""
        if os.getpid() != self._pid:
            return
        if self._pending and self.path.exists():
            self.flush()
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Cache:
    """Whole files by SHA-256 under `root`, kept under `limit` bytes."""

    def __init__(self, root: Path, limit: int) -> None:
        if limit < 0:
            raise InvalidInput(f"the cache size limit is negative: {limit}", limit=limit)
        self.root = Path(root)
        self.limit = limit
        self._index = _Index(self.root)
        self._lock = threading.RLock()
        self._finalizer = weakref.finalize(self, self._index.close)

    def close(self) -> None:
        """Write pending use times and close the index (reopened on next use)."""
        with self._lock:
            self._index.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def path_for(self, sha256: str) -> Path:
        return object_path(self.root, sha256)

    def location(self, sha256: str) -> str:
        return object_location(self.root, sha256)

    def holds_many(self, sizes: dict[str, int]) -> set[str]:
        """Which of these entries are there with these sizes (a wrong-sized one is evicted);
        their uses are recorded in one batch."""
        found: dict[str, int] = {}
        for sha, size in sizes.items():
            try:
                st_size = os.stat(self.location(sha)).st_size
            except FileNotFoundError:
                continue
            if st_size == size:
                found[sha] = size
            else:
                self.evict(sha)
        with self._lock:
            self._index.touch_many(found)
        return set(found)

    def lookup(self, sha256: str) -> Path | None:
        """The entry's path, marked as recently used; None when absent."""
        path = self.path_for(sha256)
        with self._lock:
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                if self._index.path.exists():
                    self._index.drop(sha256)
                return None
            self._index.touch(sha256, size)
        return path

    def insert_stream(self, sha256: str, size: int, chunks: Iterable[bytes | memoryview]) -> Path:
        """Store `chunks` as `sha256`, verified against it and `size`; an entry is kept as is."""
        path = self.path_for(sha256)
        if not _has_size(path, size):
            temp = self._write_temp(sha256, size, chunks)
            path.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temp, path)
        with self._lock:
            self._index.record(sha256, size, self.limit)
        return path

    def insert_file(self, sha256: str, source: Path) -> Path:
        """Copy `source` in as `sha256` (verified)."""
        return self.insert_stream(sha256, Path(source).stat().st_size, _read_chunks(source))

    def verify(self, sha256: str) -> bool:
        """Re-hash the entry; a corrupt one is evicted. False when corrupt or absent."""
        path = self.path_for(sha256)
        try:
            good = _hash_chunks(_read_chunks(path))[0] == sha256
        except FileNotFoundError:
            good = False
        if not good:
            self.evict(sha256)
        return good

    def evict(self, sha256: str) -> None:
        """Remove the entry; hardlinks materialized elsewhere stay intact."""
        path = self.path_for(sha256)
        with self._lock:
            path.unlink(missing_ok=True)
            if self.root.exists():
                self._index.drop(sha256)

    def verify_all(self) -> PruneResult:
        """Re-hash every entry; corrupt ones are evicted (and fetched again when next read)."""
        removed = freed = 0
        for sha256, size, _used in list(_scan(self.root)):
            if not self.verify(sha256):
                removed, freed = removed + 1, freed + size
        return PruneResult(removed=removed, freed=freed)

    def status(self) -> CacheStatus:
        """Entries and bytes, after making the index match the files."""
        if not self.root.exists():
            return CacheStatus(root=self.root, entries=0, size=0, limit=self.limit)
        with self._lock:
            self._index.flush()
            self._index.reconcile()
            entries, size = self._index.totals()
        return CacheStatus(root=self.root, entries=entries, size=size, limit=self.limit)

    def prune(self, target: int | None = None) -> PruneResult:
        """Evict least recently used entries down to `target` bytes (default: the limit)."""
        target = self.limit if target is None else target
        if target < 0:
            raise InvalidInput(f"cannot prune to a negative size: {target}", target=target)
        if not self.root.exists():
            return PruneResult(removed=0, freed=0)
        _remove_stale_temps(self.root / "tmp")
        with self._lock:
            self._index.reconcile()
            return self._index.evict_to(target)

    def _write_temp(self, sha256: str, size: int, chunks: Iterable[bytes | memoryview]) -> Path:
        """Write, hash, check and make read-only a temp file inside the cache. No fsync: the
        cache is not where data is kept, a crash can lose entries but not versions, and a
        damaged entry is caught by its size, or by `verify`."""
        temp_dir = self.root / "tmp"
        temp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=temp_dir, prefix=f"{sha256[:16]}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                digest, written = _hash_chunks(chunks, f)
                _check(sha256, size, digest, written)
                os.fchmod(f.fileno(), 0o444)
        except BaseException:
            os.unlink(name)
            raise
        return Path(name)


def _has_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except FileNotFoundError:
        return False


def _hash_chunks(
    chunks: Iterable[bytes | memoryview], out: BinaryIO | None = None
) -> tuple[str, int]:
    """SHA-256 hex and length of `chunks`, copied to `out` on the way."""
    digest = hashlib.sha256()
    written = 0
    for chunk in chunks:
        digest.update(chunk)
        written += len(chunk)
        if out is not None:
            out.write(chunk)
    return digest.hexdigest(), written


def _check(sha256: str, size: int, digest: str, written: int) -> None:
    if digest == sha256 and written == size:
        return
    raise HashMismatch(
        f"object {sha256} failed verification: expected {size} bytes, "
        f"got {written} bytes hashing to {digest}",
        hint="Fetch the object again; if this repeats, its copy in storage is damaged",
        sha256=sha256,
        expected_size=size,
        actual_size=written,
        actual_sha256=digest,
    )


def _read_chunks(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            yield chunk


def _remove_stale_temps(temp_dir: Path) -> None:
    """Delete temp files a killed process left behind (untouched for an hour)."""
    cutoff = time.time() - _STALE_TEMP_SECONDS
    try:
        entries = list(os.scandir(temp_dir))
    except FileNotFoundError:
        return
    for entry in entries:
        try:
            if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
        except FileNotFoundError:
            continue
