"""The stat cache: unchanged files are not read again; any change is seen."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from cargohold.cache.hashes import HashCache
from cargohold.services import upload
from cargohold.services.progress import NoProgress


def settle(root: Path) -> None:
    """Age every file's mtime by a minute, as files that have not just been written."""
    past = time.time() - 60
    for p in root.rglob("*"):
        os.utime(p, (past, past))


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = upload.hash_file

    def counting(path: str | Path) -> str:
        seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(upload, "hash_file", counting)
    return seen


def hashed(root: Path, cache: HashCache) -> dict[str, str]:
    files = upload.plan([f"{root}/"], None)
    return {e.path: e.sha256 for e in upload.hash_all(files, 2, NoProgress(), cache)}


def test_unchanged_files_are_not_read_again(tmp_path: Path, reads: list[Path]) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for i in range(20):
        (root / f"f{i}").write_bytes(os.urandom(100))
    settle(root)
    cache = HashCache(tmp_path / "hashes.sqlite")
    first = hashed(root, cache)
    assert len(reads) == 20
    assert hashed(root, cache) == first and len(reads) == 20  # nothing read the second time


def test_every_kind_of_change_is_seen(tmp_path: Path, reads: list[Path]) -> None:
    root = tmp_path / "d"
    root.mkdir()
    for name in "abcd":
        (root / name).write_bytes(b"0123456789")
    settle(root)
    cache = HashCache(tmp_path / "hashes.sqlite")
    hashed(root, cache)
    (root / "a").write_bytes(b"ABCDEFGHIJ")  # same size, new mtime
    st = (root / "b").stat()
    (root / "b").write_bytes(b"abcdefghij")
    os.utime(root / "b", ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime put back: ctime moved
    (root / "c").write_bytes(b"0123456789" * 2)  # size
    reads.clear()
    again = hashed(root, cache)
    assert sorted(p.name for p in reads) == ["a", "b", "c"]
    for name in "abcd":
        assert again[name] == hashlib.sha256((root / name).read_bytes()).hexdigest()


def test_files_written_just_now_are_not_trusted(tmp_path: Path, reads: list[Path]) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "fresh").write_bytes(b"x")
    cache = HashCache(tmp_path / "hashes.sqlite")
    hashed(root, cache)
    hashed(root, cache)
    assert len(reads) == 2


def test_an_unreadable_stat_cache_is_an_empty_one(tmp_path: Path, reads: list[Path]) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "f").write_bytes(b"x")
    settle(root)
    broken = tmp_path / "hashes.sqlite"
    broken.write_bytes(b"this is not a database")
    assert hashed(root, HashCache(broken)) == {"f": hashlib.sha256(b"x").hexdigest()}
