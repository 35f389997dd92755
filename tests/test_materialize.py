"""Materializing cache files into working trees: hardlink, reflink, copy; read-only."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cargohold.cache import Cache, Materializer, Method
from cargohold.errors import InvalidInput, StorageError

NOBODY = 65534
DATA = b"weights and biases\n" * 10
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    with Cache(tmp_path / "cache", limit=1 << 20) as c:
        yield c


@pytest.fixture
def entry(cache: Cache) -> Path:
    return cache.insert_stream(SHA, len(DATA), [DATA])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_hardlink_shares_the_cache_files_inode(entry: Path, tmp_path: Path) -> None:
    target = tmp_path / "job" / "inputs" / "data" / "w.bin"
    assert Materializer().place(entry, target) == "hardlink"
    assert target.stat().st_ino == entry.stat().st_ino
    assert target.read_bytes() == DATA
    assert mode(target) == 0o444


def test_placing_replaces_an_existing_file(entry: Path, tmp_path: Path) -> None:
    target = tmp_path / "w.bin"
    target.write_bytes(b"old contents")
    target.chmod(0o444)
    assert Materializer().place(entry, target) == "hardlink"
    assert target.read_bytes() == DATA
    assert [p.name for p in tmp_path.iterdir()] == ["cache", "w.bin"]


def test_placing_the_same_file_twice_is_a_no_op(entry: Path, tmp_path: Path) -> None:
    materializer = Materializer()
    target = tmp_path / "w.bin"
    materializer.place(entry, target)
    assert materializer.place(entry, target) == "hardlink"
    assert target.stat().st_ino == entry.stat().st_ino


def test_a_directory_in_the_way_is_invalid_input(entry: Path, tmp_path: Path) -> None:
    target = tmp_path / "w.bin"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(InvalidInput, match="already exists and is a directory"):
        Materializer().place(entry, target)
    assert (target / "inside").is_dir()


def test_forced_copy_makes_a_read_only_copy(entry: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "w.bin"
    assert Materializer(methods=("copy",)).place(entry, target) == "copy"
    assert target.stat().st_ino != entry.stat().st_ino
    assert target.read_bytes() == DATA
    assert mode(target) == 0o444


def test_reflink_falls_back_to_copy_and_is_remembered(entry: Path, tmp_path: Path) -> None:
    materializer = Materializer(methods=("reflink", "copy"))
    first = materializer.place(entry, tmp_path / "a.bin")
    assert first in ("reflink", "copy")
    pair = (entry.stat().st_dev, tmp_path.stat().st_dev)
    failed = materializer.failed_methods(*pair)
    assert failed == ({"reflink"} if first == "copy" else set())
    assert materializer.place(entry, tmp_path / "b.bin") == first
    for name in ("a.bin", "b.bin"):
        assert (tmp_path / name).read_bytes() == DATA
        assert mode(tmp_path / name) == 0o444


def test_across_devices_hardlink_is_skipped(entry: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        pytest.skip("no writable /dev/shm")
    if shm.stat().st_dev == entry.stat().st_dev:
        pytest.skip("/dev/shm is on the cache's filesystem")
    elsewhere = Path(tempfile.mkdtemp(dir=shm))
    try:
        assert Materializer().place(entry, elsewhere / "w.bin") in ("reflink", "copy")
        assert mode(elsewhere / "w.bin") == 0o444
        with pytest.raises(StorageError):
            Materializer(methods=("hardlink",)).place(entry, elsewhere / "x.bin")
        assert not (elsewhere / "x.bin").exists()
    finally:
        shutil.rmtree(elsewhere)


def test_an_evicted_source_raises_file_not_found(cache: Cache, entry: Path, tmp_path: Path) -> None:
    cache.evict(SHA)
    with pytest.raises(FileNotFoundError):
        Materializer().place(entry, tmp_path / "w.bin")
    assert not (tmp_path / "w.bin").exists()


def test_evicting_keeps_materialized_hardlinks(cache: Cache, entry: Path, tmp_path: Path) -> None:
    target = tmp_path / "w.bin"
    Materializer().place(entry, target)
    cache.evict(SHA)
    assert not entry.exists()
    assert target.read_bytes() == DATA


def test_unknown_methods_are_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        Materializer(methods=("symlink",))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        Materializer(methods=())


def _child_writes(paths: list[Path]) -> int:
    """In a child process as nobody: 0 if only the control file was writable."""
    try:
        os.setgid(NOBODY)
        os.setuid(NOBODY)
        with open(paths[0], "r+b"):
            pass
        for path in paths[1:]:
            try:
                with open(path, "r+b"):
                    return 2
            except PermissionError:
                continue
        return 0
    except BaseException:
        return 1


@pytest.mark.parametrize("methods", [("hardlink",), ("copy",)])
def test_writes_to_materialized_files_are_refused(entry: Path, methods: tuple[Method]) -> None:
    base = Path(tempfile.mkdtemp())
    try:
        (base / "job").mkdir()
        for directory in (base, base / "job"):
            directory.chmod(0o755)
        target = base / "job" / "w.bin"
        assert Materializer(methods=methods).place(entry, target) == methods[0]
        if os.geteuid() != 0:
            with pytest.raises(PermissionError):
                open(target, "r+b")  # noqa: SIM115
            return
        control = base / "job" / "control.bin"
        control.write_bytes(b"writable")
        for path in (control, target):  # owned by the job's user, as in real use
            os.chown(path, NOBODY, NOBODY)
        pid = os.fork()
        if pid == 0:
            os._exit(_child_writes([control, target]))
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, "0: refused; 1: control failed; 2: wrote"
    finally:
        shutil.rmtree(base)
