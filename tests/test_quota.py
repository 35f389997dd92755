"""The managed quota across all of a team's clients: reservations of pending content.

Every test runs on SQLite and on the real PostgreSQL (``catalog_url``). Two `Catalog`
instances on one database stand for two server processes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cargohold.catalog import Catalog, rows
from cargohold.catalog.schema import pending_objects
from cargohold.domain import ids
from cargohold.domain.models import MANAGED_PROVIDER_NAME, FileEntry, StorageProvider
from cargohold.domain.packs import PackMember
from cargohold.errors import QuotaExceeded
from cargohold.services import Services
from cargohold.services.root import Platform, ensure_default_team
from cargohold.services.upload import put
from cargohold.settings import Settings
from tests.cli_helpers import write_tree

DAY = 24 * 3600


def sha(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


@dataclasses.dataclass
class Team:
    catalog: Catalog
    team: str
    provider: str

    def reserve(self, sizes: dict[str, int], quota: int, ttl: float = DAY) -> None:
        self.catalog.reserve(self.team, self.provider, sizes, quota, ttl)

    def pending(self) -> dict[str, int]:
        """The reservation rows (expired or not), SHA-256 -> size."""
        query = sa.select(pending_objects.c.sha256, pending_objects.c.size).where(
            pending_objects.c.team_id == self.team
        )
        with self.catalog.engine.connect() as conn:
            return {row.sha256: row.size for row in conn.execute(query)}

    def reserved(self) -> int:
        return self.catalog.reserved_by_provider(self.team).get(self.provider, 0)


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    cat = Catalog(catalog_url)
    yield cat
    cat.close()


@pytest.fixture
def team(catalog: Catalog) -> Team:
    t = catalog.add_team(ids.new_team_id(), "main", is_default=True)
    sp = StorageProvider(
        id=ids.new_provider_id(),
        team_id=t.id,
        name=MANAGED_PROVIDER_NAME,
        type="local",
        is_managed=True,
    )
    catalog.add_provider(sp)
    return Team(catalog, t.id, sp.id)


def on_second_catalog(team: Team, url: str) -> Team:
    """The same team seen by another server process (its own engine and pool)."""
    return dataclasses.replace(team, catalog=Catalog(url))


# -- reserve ---------------------------------------------------------------------------------


def test_a_reservation_counts_until_the_quota(team: Team) -> None:
    team.reserve({sha("a"): 60}, quota=100)
    assert team.reserved() == 60
    assert team.catalog.usage(team.team, team.provider) == 0  # usage: recorded bytes only
    with pytest.raises(QuotaExceeded) as caught:
        team.reserve({sha("b"): 50}, quota=100)
    assert caught.value.message == (
        "This upload needs 50 more bytes in the managed provider: 60 of the team's 100 bytes "
        "are used (60 by uploads in progress)"
    )
    assert caught.value.details == {"used": 60, "reserved": 60, "quota": 100, "needed": 50}
    assert team.pending() == {sha("a"): 60}  # a refused reservation leaves nothing
    team.reserve({sha("c"): 40}, quota=100)  # exactly the quota fits
    assert team.reserved() == 100


def test_recorded_and_reserved_bytes_add_up(team: Team) -> None:
    team.catalog.record_objects(team.team, team.provider, {sha("x"): 50})
    team.reserve({sha("a"): 40}, quota=100)
    with pytest.raises(QuotaExceeded, match="90 of the team's 100 bytes are used") as caught:
        team.reserve({sha("b"): 20}, quota=100)
    assert caught.value.details == {"used": 90, "reserved": 40, "quota": 100, "needed": 20}


def test_the_same_content_reserved_twice_counts_once(team: Team) -> None:
    team.reserve({sha("a"): 60}, quota=100)
    team.reserve({sha("a"): 60}, quota=100)  # another client with the same content
    team.reserve({sha("a"): 60, sha("b"): 40}, quota=100)  # only b is new
    assert team.reserved() == 100
    assert team.pending() == {sha("a"): 60, sha("b"): 40}
    with pytest.raises(QuotaExceeded, match="needs 1 more bytes"):
        team.reserve({sha("a"): 60, sha("c"): 1}, quota=100)


def test_recorded_content_needs_no_room(team: Team) -> None:
    team.catalog.record_objects(team.team, team.provider, {sha("x"): 80})
    team.reserve({sha("x"): 80}, quota=100)
    assert team.pending() == {}


def test_content_already_reserved_is_not_refused_again(team: Team) -> None:
    """A quota lowered below what is used refuses new bytes, not content already reserved."""
    team.reserve({sha("a"): 60}, quota=100)
    team.reserve({sha("a"): 60}, quota=10)
    with pytest.raises(QuotaExceeded):
        team.reserve({sha("b"): 1}, quota=10)


class Clock:
    """The catalog's clock, moved by hand."""

    def __init__(self) -> None:
        self.at = rows.now()

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(rows, "now", fake)
    return fake


def test_a_reservation_expires_and_frees_its_room(team: Team, clock: Clock) -> None:
    team.reserve({sha("a"): 80}, quota=100, ttl=60)
    clock.advance(59)
    with pytest.raises(QuotaExceeded):
        team.reserve({sha("b"): 80}, quota=100)
    clock.advance(1)
    assert team.reserved() == 0  # expired: no longer counted, even before it is deleted
    assert team.pending() == {sha("a"): 80}
    team.reserve({sha("b"): 80}, quota=100)
    assert team.pending() == {sha("b"): 80}  # the expired row went in that transaction


def test_reserving_again_extends_a_reservation(team: Team, clock: Clock) -> None:
    team.reserve({sha("a"): 80}, quota=100, ttl=60)
    clock.advance(50)
    team.reserve({sha("a"): 80}, quota=100, ttl=60)
    clock.advance(50)
    with pytest.raises(QuotaExceeded):
        team.reserve({sha("b"): 80}, quota=100)
    clock.advance(10)
    team.reserve({sha("b"): 80}, quota=100)


def test_a_reservation_expires_in_real_time(team: Team) -> None:
    team.reserve({sha("a"): 80}, quota=100, ttl=0.01)
    time.sleep(0.05)
    team.reserve({sha("b"): 80}, quota=100)


def test_recording_an_object_releases_its_reservation(team: Team) -> None:
    cat = team.catalog
    team.reserve({sha("a"): 50, sha("b"): 30, sha("c"): 10}, quota=100)
    cat.record_objects(team.team, team.provider, {sha("a"): 50})
    assert team.pending() == {sha("b"): 30, sha("c"): 10}
    members = [PackMember(sha("b"), 0, 30), PackMember(sha("c"), 30, 10)]
    cat.record_pack(team.team, team.provider, "f" * 64, 40, members)
    assert team.pending() == {}
    assert (team.reserved(), cat.usage(team.team, team.provider)) == (0, 90)
    team.reserve({sha("d"): 10}, quota=100)
    with pytest.raises(QuotaExceeded, match="100 of the team's 100 bytes are used"):
        team.reserve({sha("e"): 1}, quota=100)


def test_staging_with_landed_objects_releases_their_reservations(team: Team) -> None:
    cat = team.catalog
    ds = cat.add_dataset(team.team, ids.new_dataset_id(), "d", None, team.provider)
    v = cat.add_version(ds.id, None)
    team.reserve({sha("a"): 50}, quota=100)
    cat.stage_files(ds.id, v.version, [FileEntry("a", 50, sha("a"), "x")], {sha("a"): 50})
    assert team.pending() == {}


def test_reservations_are_per_team(catalog: Catalog, team: Team) -> None:
    other_team = catalog.add_team(ids.new_team_id(), "other").id
    sp = StorageProvider(
        id=ids.new_provider_id(), team_id=other_team, name=MANAGED_PROVIDER_NAME, type="local"
    )
    other = Team(catalog, other_team, catalog.add_provider(sp).id)
    team.reserve({sha("a"): 90}, quota=100)
    other.reserve({sha("b"): 90}, quota=100)
    assert (team.reserved(), other.reserved()) == (90, 90)


# -- concurrency -----------------------------------------------------------------------------


def race(calls: list[Callable[[], object]]) -> tuple[int, list[BaseException]]:
    """Run the calls at once (a barrier releases them together); how many returned, and
    what the others raised."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> BaseException | None:
        barrier.wait()
        try:
            call()
        except BaseException as exc:
            return exc
        return None

    with ThreadPoolExecutor(len(calls)) as pool:
        outcomes = list(pool.map(run, calls))
    errors = [e for e in outcomes if e is not None]
    return len(outcomes) - len(errors), errors


def test_clients_reserving_at_once_never_exceed_the_quota(team: Team, catalog_url: str) -> None:
    """Sixteen clients, on two catalogs (two server processes), each reserve a content that
    fits alone: exactly as many as fit together succeed, the others are refused."""
    second = on_second_catalog(team, catalog_url)
    try:
        clients = [team, second]
        calls: list[Callable[[], object]] = [
            lambda i=i: clients[i % 2].reserve({sha(f"c{i}"): 7}, quota=50) for i in range(16)
        ]
        succeeded, errors = race(calls)
        assert all(isinstance(e, QuotaExceeded) for e in errors), errors
        assert succeeded == 7  # 7 x 7 = 49 <= 50 < 56
        assert team.reserved() == sum(team.pending().values()) == 49
    finally:
        second.catalog.close()


def test_clients_reserving_overlapping_contents_at_once(team: Team, catalog_url: str) -> None:
    """Batches that share contents: what is reserved never exceeds the quota, each content
    is counted once, and a batch is reserved whole or not at all."""
    second = on_second_catalog(team, catalog_url)
    try:
        clients = [team, second]
        batches = [{sha(f"c{(i + k) % 12}"): 10 for k in range(3)} for i in range(12)]
        calls: list[Callable[[], object]] = [
            lambda i=i: clients[i % 2].reserve(batches[i], quota=65) for i in range(12)
        ]
        succeeded, errors = race(calls)
        assert all(isinstance(e, QuotaExceeded) for e in errors), errors
        assert succeeded >= 2
        pending = team.pending()
        assert sum(pending.values()) <= 65
        winners = [b for b in batches if set(b) <= set(pending)]
        assert set().union(*winners) == set(pending)
    finally:
        second.catalog.close()


def test_a_reservation_waits_for_one_in_progress(
    team: Team, catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deterministic interleaving: another process's reservation is paused inside its
    transaction; this one waits for it, then counts it and is refused."""
    second = on_second_catalog(team, catalog_url)
    inside, resume = threading.Event(), threading.Event()
    hold = second.catalog._hold

    def paused_hold(*args: Any) -> None:
        hold(*args)
        inside.set()
        assert resume.wait(30)

    monkeypatch.setattr(second.catalog, "_hold", paused_hold)
    try:
        first = threading.Thread(target=lambda: second.reserve({sha("a"): 80}, quota=100))
        first.start()
        assert inside.wait(30)
        refused: list[BaseException] = []

        def reserve_b() -> None:
            try:
                team.reserve({sha("b"): 30}, quota=100)
            except BaseException as exc:
                refused.append(exc)

        waiting = threading.Thread(target=reserve_b)
        waiting.start()
        waiting.join(0.5)
        assert waiting.is_alive(), "the second reservation did not wait for the first"
        resume.set()
        first.join(30)
        waiting.join(30)
        assert not first.is_alive() and not waiting.is_alive()
        assert [type(e) for e in refused] == [QuotaExceeded]
        assert team.pending() == {sha("a"): 80}
    finally:
        resume.set()
        second.catalog.close()


# -- through the writer ----------------------------------------------------------------------


@pytest.fixture
def settings(cargohold_home: Path, catalog_url: str) -> Settings:
    return dataclasses.replace(
        Settings.from_env(), database_url=catalog_url, managed_quota=150_000, jobs=2
    )


def services_of(settings: Settings) -> Services:
    """A process's services for the default team (each call: another server process)."""
    platform = Platform(settings)
    svc = platform.services(ensure_default_team(platform.catalog))
    svc.on_close.append(platform.close)
    return svc


def stored(settings: Settings) -> list[Path]:
    return [p for p in settings.managed_dir.rglob("*") if p.is_file()]


def recorded_and_reserved(settings: Settings) -> tuple[int, int]:
    """Bytes recorded and reserved in the default team's managed provider."""
    catalog = Catalog(settings.database_url)
    try:
        team = catalog.default_team()
        assert team is not None
        managed = catalog.managed_provider(team.id)
        assert managed is not None
        reserved = catalog.reserved_by_provider(team.id).get(managed.id, 0)
        return catalog.usage(team.id, managed.id), reserved
    finally:
        catalog.close()


def test_two_writers_that_fit_alone_but_not_together(settings: Settings, tmp_path: Path) -> None:
    """Two clients of a team, on two server processes: the first's `missing` reserves its
    content; the second's is refused before any byte is sent; the first then uploads."""
    one, two = services_of(settings), services_of(settings)
    try:
        write_tree(tmp_path / "one", {"a.bin": os.urandom(100_000)})
        write_tree(tmp_path / "two", {"b.bin": os.urandom(60_000), "c.bin": os.urandom(1000)})
        ref_one = one.versions.create(one.datasets.create("one").id).ref
        ref_two = two.versions.create(two.datasets.create("two").id).ref
        a = hashlib.sha256((tmp_path / "one/a.bin").read_bytes()).hexdigest()
        assert one.objects.writer(ref_one).missing({a: 100_000}) == {a}
        assert recorded_and_reserved(settings) == (0, 100_000)
        with pytest.raises(QuotaExceeded, match="100,000 of the team's 150,000 bytes") as caught:
            put(two, ref_two, [f"{tmp_path / 'two'}/"])
        assert caught.value.details["reserved"] == 100_000
        assert stored(settings) == []  # no byte of either upload was sent
        summary = put(one, ref_one, [f"{tmp_path / 'one'}/"])  # its own reservation: no cost
        assert summary.bytes_sent == 100_000
        assert recorded_and_reserved(settings) == (100_000, 0)
        with pytest.raises(QuotaExceeded, match=r"100,000 of the team's 150,000 bytes are used$"):
            put(two, ref_two, [f"{tmp_path / 'two'}/"])
    finally:
        one.close()
        two.close()


def test_writers_uploading_at_once_stay_under_the_quota(settings: Settings, tmp_path: Path) -> None:
    """Six uploads of 40 kB each, on two processes at once, under a 150 kB quota: three
    succeed, three are refused, and the provider holds no more than the quota."""
    processes = [services_of(settings), services_of(settings)]
    try:
        refs = []
        for i in range(6):
            svc = processes[i % 2]
            write_tree(tmp_path / f"s{i}", {f"f{i}.bin": os.urandom(40_000)})
            refs.append(svc.versions.create(svc.datasets.create(f"d{i}").id).ref)
        calls: list[Callable[[], object]] = [
            lambda i=i: put(processes[i % 2], refs[i], [f"{tmp_path / f's{i}'}/"]) for i in range(6)
        ]
        succeeded, errors = race(calls)
        assert all(isinstance(e, QuotaExceeded) for e in errors), errors
        assert succeeded == 3
        assert sum(p.stat().st_size for p in stored(settings)) == 120_000
        assert recorded_and_reserved(settings) == (120_000, 0)
    finally:
        for svc in processes:
            svc.close()
