"""The transfer engine: packs of small files, healing after a crash, ranged reads, quotas.

Packs are what S3 stores get; here a local store that asks for packs stands in, so these run
without a server. The same paths run against SeaweedFS in the S3 tests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cargohold.blobs import BlobStore, LocalBlobStore
from cargohold.errors import HashMismatch, QuotaExceeded
from cargohold.services import Services
from cargohold.services.download import get
from cargohold.services.root import Platform, ensure_default_team
from cargohold.services.stores import StoreRegistry
from cargohold.services.upload import put
from cargohold.settings import Settings
from tests.cli_helpers import write_tree


class PackingStore(LocalBlobStore):
    """A local store that asks for packs and counts the requests an S3 store would get."""

    packs_small_files = True

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.puts = 0
        self.ranged_reads = 0

    def put_stream(self, key: str, chunks: object, sha256: str | None = None) -> int:
        self.puts += 1
        return super().put_stream(key, chunks, sha256)  # type: ignore[arg-type]

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        self.ranged_reads += 1
        return super().read_range(key, offset, length)


@pytest.fixture
def settings(cargohold_home: Path) -> Settings:
    return dataclasses.replace(
        Settings.from_env(), pack_threshold=64 * 1024, pack_size=256 * 1024, jobs=4
    )


class PackingRegistry(StoreRegistry):
    """The managed provider backed by a PackingStore."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.store = PackingStore(settings.managed_dir)

    def _managed(self) -> BlobStore:
        return self.store


def make(settings: Settings) -> tuple[Services, PackingStore, Platform]:
    stores = PackingRegistry(settings)
    platform = Platform(settings, stores)
    svc = platform.services(ensure_default_team(platform.catalog))
    svc.on_close.append(platform.close)
    return svc, stores.store, platform


@pytest.fixture
def svc(settings: Settings) -> Iterator[tuple[Services, PackingStore, Platform]]:
    services, store, platform = make(settings)
    yield services, store, platform
    services.close()


def small_files(root: Path, n: int, size: int = 2000) -> dict[str, bytes]:
    files = {f"class-{i % 7}/img-{i:05}.bin": os.urandom(size) for i in range(n)}
    write_tree(root, files)
    return files


def new_ref(services: Services, name: str = "d") -> str:
    ds = services.datasets.create(name)
    return services.versions.create(ds.id).ref


def test_small_files_travel_in_few_packs_and_read_back(
    svc: tuple[Services, PackingStore, Platform], tmp_path: Path
) -> None:
    services, store, _ = svc
    files = small_files(tmp_path / "src", 1000)  # 2 MB in 2 kB files, 256 kB packs
    ref = new_ref(services)
    summary = put(services, ref, [f"{tmp_path / 'src'}/"])
    assert summary.new_objects == 1000 and summary.bytes_sent == 2000 * 1000
    packs = list((store.root / services.team.id / "packs").iterdir())
    assert 8 <= len(packs) <= 2 * 10  # about 8 packs, each with its .idx
    assert store.puts <= 2 * 10
    services.versions.commit(ref)
    out = tmp_path / "out"
    result = get(services, ref, out)
    assert result.fetched == 1000
    assert store.ranged_reads <= 10  # whole packs, not one read per file
    for rel, content in files.items():
        assert (out / rel).read_bytes() == content


def test_pack_indexes_let_plain_tools_find_every_file(
    svc: tuple[Services, PackingStore, Platform], tmp_path: Path
) -> None:
    services, store, _ = svc
    files = small_files(tmp_path / "src", 50)
    ref = new_ref(services)
    put(services, ref, [f"{tmp_path / 'src'}/"])
    wanted = {hashlib.sha256(c).hexdigest() for c in files.values()}
    seen = set()
    for idx in (store.root / services.team.id / "packs").glob("*.idx"):
        pack = idx.with_suffix("").read_bytes()
        assert hashlib.sha256(pack).hexdigest() == idx.stem
        lines = idx.read_text().splitlines()
        assert lines[0] == "cargohold-pack-index 1"
        for line in lines[1:]:
            sha, offset, length = line.split()
            member = pack[int(offset) : int(offset) + int(length)]
            assert hashlib.sha256(member).hexdigest() == sha
            seen.add(sha)
    assert seen == wanted


def test_a_pack_sent_but_not_recorded_is_found_again(
    svc: tuple[Services, PackingStore, Platform], tmp_path: Path
) -> None:
    """A run killed between the pack landing and the catalog recording it: the next run
    finds the pack through its index and sends nothing again."""
    services, _, platform = svc
    small_files(tmp_path / "src", 300)
    ref = new_ref(services)
    put(services, ref, [f"{tmp_path / 'src'}/"])
    with platform.catalog.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM version_files"))
        conn.execute(sa.text("DELETE FROM objects"))
        conn.execute(sa.text("DELETE FROM packs"))
    again = put(services, ref, [f"{tmp_path / 'src'}/"])
    assert again.bytes_sent == 0 and again.new_objects == 0
    services.versions.commit(ref)
    assert services.versions.get(ref).file_count == 300


def test_getting_one_folder_reads_only_its_part_of_the_packs(
    svc: tuple[Services, PackingStore, Platform], tmp_path: Path
) -> None:
    services, store, _ = svc
    files = {f"{d}/f-{i:04}.bin": os.urandom(3000) for d in ("a", "b", "c") for i in range(100)}
    write_tree(tmp_path / "src", files)
    ref = new_ref(services)
    put(services, ref, [f"{tmp_path / 'src'}/"])
    services.versions.commit(ref)
    result = get(services, ref, tmp_path / "out", sources=["b/"])
    assert result.files == 100 and result.bytes_fetched == 100 * 3000
    assert store.ranged_reads <= 4
    assert sorted(p.name for p in (tmp_path / "out").iterdir())[:2] == ["f-0000.bin", "f-0001.bin"]


def test_a_damaged_pack_member_is_an_error_naming_the_object(
    svc: tuple[Services, PackingStore, Platform], tmp_path: Path
) -> None:
    services, store, _ = svc
    small_files(tmp_path / "src", 20)
    ref = new_ref(services)
    put(services, ref, [f"{tmp_path / 'src'}/"])
    services.versions.commit(ref)
    [pack] = [p for p in (store.root / services.team.id / "packs").iterdir() if p.suffix != ".idx"]
    data = bytearray(pack.read_bytes())
    data[100] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    with pytest.raises(HashMismatch, match="failed verification"):
        get(services, ref, tmp_path / "out")


def test_the_managed_quota_refuses_before_any_byte_is_sent(
    settings: Settings, tmp_path: Path
) -> None:
    services, store, _ = make(dataclasses.replace(settings, managed_quota=150_000))
    try:
        write_tree(tmp_path / "fits", {"a.bin": os.urandom(100_000)})
        write_tree(tmp_path / "over", {"b.bin": os.urandom(60_000), "c.bin": os.urandom(1000)})
        ref = new_ref(services)
        put(services, ref, [f"{tmp_path / 'fits'}/"])
        puts = store.puts
        with pytest.raises(QuotaExceeded, match="100,000 of the team's 150,000 bytes"):
            put(services, ref, [f"{tmp_path / 'over'}/"])
        assert store.puts == puts
        assert [e.path for e in services.objects.reader(ref).files()] == ["a.bin"]
    finally:
        services.close()
