"""The local cache: inserts, verification, LRU eviction, healing, sharing between processes."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargohold.cache import Cache, CacheStatus, PruneResult, format_size, parse_size, store
from cargohold.errors import HashMismatch, InvalidInput


def blob(label: str, size: int = 40) -> tuple[str, bytes]:
    data = (label.encode() * size)[:size]
    return hashlib.sha256(data).hexdigest(), data


def put(cache: Cache, label: str, size: int = 40) -> str:
    sha, data = blob(label, size)
    cache.insert_stream(sha, size, [data[: size // 2], data[size // 2 :]])
    return sha


def object_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "objects").rglob("*") if p.is_file())


def temp_files(root: Path) -> list[Path]:
    return sorted((root / "tmp").glob("*")) if (root / "tmp").exists() else []


def index_rows(root: Path) -> set[str]:
    with sqlite3.connect(root / "index.sqlite") as conn:
        return {row[0] for row in conn.execute("SELECT sha256 FROM entries")}


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def cache(root: Path) -> Iterator[Cache]:
    with Cache(root, limit=100) as c:
        yield c


# --- inserts and lookups ---------------------------------------------------------------


def test_insert_then_lookup_returns_the_file(cache: Cache, root: Path) -> None:
    sha, data = blob("a")
    path = cache.insert_stream(sha, len(data), iter([data]))
    assert path == cache.path_for(sha) == root / "objects" / sha[:2] / sha[2:4] / sha
    assert path.read_bytes() == data
    assert cache.lookup(sha) == path
    assert cache.status() == CacheStatus(root=root, entries=1, size=40, limit=100)


def test_insert_file_copies_the_source(cache: Cache, tmp_path: Path) -> None:
    sha, data = blob("f")
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    assert cache.insert_file(sha, source).read_bytes() == data
    assert source.read_bytes() == data


def test_lookup_of_an_absent_object_is_none(cache: Cache) -> None:
    assert cache.lookup(blob("nothing")[0]) is None


def test_the_root_is_created_only_by_a_write(root: Path) -> None:
    cache = Cache(root, limit=100)
    assert cache.lookup(blob("a")[0]) is None
    assert cache.status() == CacheStatus(root=root, entries=0, size=0, limit=100)
    assert cache.prune() == PruneResult(removed=0, freed=0)
    assert not root.exists()


def test_cache_files_are_read_only(cache: Cache) -> None:
    path = cache.path_for(put(cache, "a"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_an_existing_entry_is_not_rewritten(cache: Cache) -> None:
    sha = put(cache, "a")
    inode = cache.path_for(sha).stat().st_ino

    def never_read() -> Iterator[bytes]:
        raise AssertionError("the chunks of an existing entry were read")
        yield b""

    cache.insert_stream(sha, 40, never_read())
    assert cache.path_for(sha).stat().st_ino == inode


@pytest.mark.parametrize("bad", ["ABC", "a" * 63, "g" * 64, "../" + "a" * 61, "A" * 64])
def test_a_malformed_sha256_is_invalid_input(cache: Cache, bad: str) -> None:
    with pytest.raises(InvalidInput):
        cache.path_for(bad)
    with pytest.raises(InvalidInput):
        cache.lookup(bad)


def test_a_negative_limit_is_invalid_input(root: Path) -> None:
    with pytest.raises(InvalidInput):
        Cache(root, limit=-1)


# --- verification --------------------------------------------------------------------------


def test_a_hash_mismatch_rejects_and_leaves_nothing(cache: Cache, root: Path) -> None:
    sha, _ = blob("a")
    _, other = blob("b")
    with pytest.raises(HashMismatch) as caught:
        cache.insert_stream(sha, 40, [other])
    assert sha in str(caught.value)
    assert caught.value.details["sha256"] == sha
    assert object_files(root) == [] and temp_files(root) == []
    assert cache.lookup(sha) is None
    assert cache.status().entries == 0


def test_a_size_mismatch_rejects(cache: Cache, root: Path) -> None:
    sha, data = blob("a")
    with pytest.raises(HashMismatch):
        cache.insert_stream(sha, 41, [data])
    assert object_files(root) == [] and temp_files(root) == []


def test_a_failing_stream_leaves_no_temp_file(cache: Cache, root: Path) -> None:
    sha, data = blob("a")

    def broken() -> Iterator[bytes]:
        yield data[:10]
        raise ConnectionError("network went away")

    with pytest.raises(ConnectionError):
        cache.insert_stream(sha, 40, broken())
    assert object_files(root) == [] and temp_files(root) == []


def test_verify_accepts_a_good_entry_and_evicts_a_corrupt_one(cache: Cache) -> None:
    good, bad = put(cache, "a"), put(cache, "b")
    path = cache.path_for(bad)
    path.chmod(0o644)
    path.write_bytes(b"bit rot" * 5)
    assert cache.verify(good) is True
    assert cache.verify(bad) is False
    assert not path.exists()
    assert cache.lookup(bad) is None
    assert cache.status().entries == 1
    assert cache.verify(blob("never inserted")[0]) is False


# --- LRU eviction and prune --------------------------------------------------------------


def test_the_least_recently_used_entry_is_evicted_first(cache: Cache) -> None:
    a, b, c = put(cache, "a"), put(cache, "b"), put(cache, "c")
    assert cache.lookup(a) is None
    assert cache.lookup(b) is not None and cache.lookup(c) is not None
    assert cache.status().size == 80


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two minutes pass between recorded uses: longer than the cache's relatime window."""
    now = iter(range(1_000_000, 10**9, 120))
    monkeypatch.setattr(store, "_now", lambda: float(next(now)))


def test_a_use_within_a_minute_is_not_written_again(cache: Cache) -> None:
    a, b = put(cache, "a"), put(cache, "b")
    assert cache.lookup(a) is not None  # just inserted: the use is not recorded again
    put(cache, "c")
    assert cache.lookup(a) is None
    assert cache.lookup(b) is not None


@pytest.mark.usefixtures("clock")
def test_lookup_refreshes_recency(cache: Cache) -> None:
    a, b = put(cache, "a"), put(cache, "b")
    assert cache.lookup(a) is not None
    put(cache, "c")
    assert cache.lookup(b) is None
    assert cache.lookup(a) is not None


@pytest.mark.usefixtures("clock")
def test_recency_survives_closing_the_cache(root: Path) -> None:
    with Cache(root, limit=100) as first:
        a, b = put(first, "a"), put(first, "b")
        first.lookup(a)
    with Cache(root, limit=100) as second:
        put(second, "c")
        assert second.lookup(b) is None
        assert second.lookup(a) is not None


def test_the_entry_just_inserted_is_never_evicted(cache: Cache) -> None:
    small = put(cache, "a")
    big = put(cache, "big", size=150)
    assert cache.lookup(big) is not None
    assert cache.lookup(small) is None
    assert cache.status() == CacheStatus(root=cache.root, entries=1, size=150, limit=100)


def test_prune_goes_down_to_the_limit_then_to_zero(root: Path) -> None:
    with Cache(root, limit=1000) as roomy:
        shas = [put(roomy, label) for label in "abcde"]
        assert roomy.status().size == 200
    with Cache(root, limit=100) as tight:
        assert tight.prune() == PruneResult(removed=3, freed=120)
        assert [tight.lookup(s) is not None for s in shas] == [False] * 3 + [True] * 2
        assert tight.prune(0) == PruneResult(removed=2, freed=80)
        assert tight.status().entries == 0
        assert object_files(root) == []


def test_prune_to_a_negative_size_is_invalid(cache: Cache) -> None:
    with pytest.raises(InvalidInput):
        cache.prune(-1)


def test_status_counts_entries_and_bytes(root: Path) -> None:
    with Cache(root, limit=10_000) as cache:
        for label, size in [("a", 10), ("b", 20), ("c", 30)]:
            put(cache, label, size)
        assert cache.status() == CacheStatus(root=root, entries=3, size=60, limit=10_000)


def test_prune_removes_only_stale_temp_files(cache: Cache, root: Path) -> None:
    put(cache, "a")
    stale, fresh = root / "tmp" / "stale.tmp", root / "tmp" / "fresh.tmp"
    stale.write_bytes(b"left by a killed process")
    fresh.write_bytes(b"being written right now")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    cache.prune()
    assert temp_files(root) == [fresh]


# --- healing ---------------------------------------------------------------------------------


def test_a_file_deleted_by_hand_is_forgotten(cache: Cache, root: Path) -> None:
    a, b = put(cache, "a"), put(cache, "b")
    cache.path_for(a).unlink()
    assert cache.lookup(a) is None
    assert index_rows(root) == {b}
    cache.path_for(b).unlink()
    assert cache.status().entries == 0


def test_a_file_without_a_row_is_counted_and_evictable(cache: Cache, root: Path) -> None:
    a = put(cache, "a")
    with sqlite3.connect(root / "index.sqlite") as conn:
        conn.execute("DELETE FROM entries")
    assert cache.status().entries == 1
    assert cache.prune(0) == PruneResult(removed=1, freed=40)
    assert not cache.path_for(a).exists()


def test_the_index_is_rebuilt_after_it_was_deleted(root: Path) -> None:
    with Cache(root, limit=100) as first:
        a, b = put(first, "a"), put(first, "b")
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (root / name).unlink(missing_ok=True)
    with Cache(root, limit=100) as second:
        assert second.status() == CacheStatus(root=root, entries=2, size=80, limit=100)
        second.lookup(b)
        put(second, "c")
        assert second.lookup(a) is None and second.lookup(b) is not None


def test_an_open_cache_heals_when_its_index_is_deleted(cache: Cache, root: Path) -> None:
    put(cache, "a")
    for name in ("index.sqlite", "index.sqlite-wal", "index.sqlite-shm"):
        (root / name).unlink(missing_ok=True)
    assert cache.status().entries == 1
    put(cache, "b")
    assert cache.status().entries == 2


# --- several processes --------------------------------------------------------------------


def _insert_slowly(root: Path, barrier: multiprocessing.synchronize.Barrier) -> None:
    sha, data = blob("shared", 4000)

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(data), 100):
            time.sleep(0.001)
            yield data[i : i + 100]

    barrier.wait()
    with Cache(root, limit=1_000_000) as cache:
        cache.insert_stream(sha, len(data), chunks())


def test_concurrent_inserts_of_one_object_end_with_one_good_entry(root: Path) -> None:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(4)
    workers = [context.Process(target=_insert_slowly, args=(root, barrier)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0] * 4
    sha, data = blob("shared", 4000)
    cache = Cache(root, limit=1_000_000)
    assert object_files(root) == [cache.path_for(sha)]
    assert cache.path_for(sha).read_bytes() == data
    assert cache.verify(sha)
    assert temp_files(root) == []
    assert cache.status().entries == 1


# --- sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("123", 123),
        ("123B", 123),
        ("1K", 1024),
        ("1kb", 1024),
        ("500M", 500 * 2**20),
        ("500MB", 500 * 2**20),
        ("500MiB", 500 * 2**20),
        ("10G", 10 * 2**30),
        ("10GiB", 10 * 2**30),
        ("1.5g", 3 * 2**29),
        (" 2 TiB ", 2 * 2**40),
        ("1.5 GiB", 3 * 2**29),
        (".5K", 512),
    ],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "ten", "-1G", "1.2.3", "10X", "10 GiBs", "1e3", "1,5G"])
def test_parse_size_rejects_nonsense_with_a_hint(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_size(text)
    assert "10G" in caught.value.hint


@pytest.mark.parametrize(
    ("n", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1024, "1 KiB"), (3 * 2**29, "1.5 GiB"), (2**40 - 1, "1 TiB")],
)
def test_format_size(n: int, text: str) -> None:
    assert format_size(n) == text


@given(st.integers(min_value=0, max_value=1023), st.sampled_from(["", "K", "M", "G", "T", "P"]))
def test_whole_units_round_trip_exactly(number: int, unit: str) -> None:
    n = parse_size(f"{number}{unit}")
    assert parse_size(format_size(n)) == n


@given(st.integers(min_value=0, max_value=2**63))
def test_formatted_sizes_parse_back_within_rounding(n: int) -> None:
    assert abs(parse_size(format_size(n)) - n) <= n * 0.05
