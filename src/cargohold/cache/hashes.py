"""A stat cache: local file → SHA-256, trusted while the file's inode, size, mtime and ctime
are unchanged, so a file that has not changed is not read again to learn its hash.

Entries are written only for files not modified in the second before they were hashed (a
write within the same timestamp tick could otherwise go unseen), and ctime changes on every
write, rename or chmod, so a changed file always misses.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,
    mtime_ns INTEGER, ctime_ns INTEGER, sha256 TEXT NOT NULL)
"""
_SETTLED_NS = 1_000_000_000
_BATCH = 500

Stamp = tuple[int, int, int, int, int]


def stamp(st: os.stat_result) -> Stamp:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class HashCache:
    def __init__(self, path: Path) -> None:
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(_SCHEMA)
        return conn

    def known(self, files: Sequence[tuple[str, Stamp]]) -> dict[str, str]:
        """Hashes of the files whose stamp is unchanged since they were hashed."""
        found: dict[str, str] = {}
        try:
            conn = self._connect()
        except sqlite3.Error:
            return found  # a cache that cannot be read is an empty one
        with conn:
            wanted = dict(files)
            names = list(wanted)
            for i in range(0, len(names), _BATCH):
                part = names[i : i + _BATCH]
                marks = ",".join("?" * len(part))
                query = f"SELECT path, dev, ino, size, mtime_ns, ctime_ns, sha256 FROM hashes WHERE path IN ({marks})"  # noqa: E501
                for path, *saved, sha in conn.execute(query, part):
                    if tuple(saved) == wanted[path]:
                        found[path] = sha
        return found

    def remember(self, hashed: Iterable[tuple[str, Stamp, str]]) -> None:
        """Record fresh hashes (only of files that had settled when they were read)."""
        now = time.time_ns()
        rows = [(path, *st, sha) for path, st, sha in hashed if now - st[3] > _SETTLED_NS]
        if not rows:
            return
        try:
            conn = self._connect()
            with conn:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany("INSERT OR REPLACE INTO hashes VALUES (?,?,?,?,?,?,?)", rows)
                conn.execute("COMMIT")
        except sqlite3.Error:
            pass  # the stat cache only saves time; failing to write it loses nothing
