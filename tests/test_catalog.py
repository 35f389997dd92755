"""The catalog contract: every test runs on SQLite and on the real PostgreSQL (``catalog_url``).

A `Catalog(url)` migrates its database itself; each test gets an empty one.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from cargohold.catalog import Catalog
from cargohold.catalog import engine as catalog_engine
from cargohold.catalog import versions as catalog_versions
from cargohold.catalog.schema import metadata, objects
from cargohold.catalog.schema import tags as tags_table
from cargohold.catalog.schema import versions as versions_table
from cargohold.domain import ids, manifest
from cargohold.domain.models import (
    MANAGED_PROVIDER_NAME,
    Dataset,
    FileEntry,
    StorageProvider,
    Team,
    Version,
)
from cargohold.errors import (
    CargoholdError,
    CatalogUnavailable,
    DatasetNotFound,
    InvalidName,
    NameTaken,
    NotFound,
    ObjectMissing,
    ProviderInUse,
    StorageProviderNotFound,
    TagNotFound,
    TeamNotFound,
    VersionCommitted,
    VersionNotFound,
)

# -- helpers -------------------------------------------------------------------------------


def entry(path: str, content: bytes | None = None, content_type: str = "text/plain") -> FileEntry:
    data = path.encode() if content is None else content
    return FileEntry(path, len(data), hashlib.sha256(data).hexdigest(), content_type)


def provider(
    team_id: str, name: str = MANAGED_PROVIDER_NAME, managed: bool = True
) -> StorageProvider:
    config = {"root": "/srv/cargohold", "nested": {"ünï": [1, 2]}} if managed else {"bucket": "b"}
    return StorageProvider(
        id=ids.new_provider_id(),
        team_id=team_id,
        name=name,
        type="local" if managed else "s3",
        config=config,
        is_managed=managed,
    )


@dataclass
class Manifests:
    """A `write_manifest` callback that remembers what it was given."""

    written: list[list[FileEntry]] = field(default_factory=list)

    def __call__(self, entries: Iterator[FileEntry]) -> str:
        listed = list(entries)
        self.written.append(listed)
        return manifest.digest(manifest.encode(listed))


@dataclass
class World:
    """A catalog with a default team, its managed provider and a dataset."""

    catalog: Catalog
    team: Team
    provider: StorageProvider
    dataset: Dataset

    @property
    def ds(self) -> str:
        return self.dataset.id

    def record(self, entries: Sequence[FileEntry]) -> None:
        self.catalog.record_objects(
            self.team.id, self.provider.id, {e.sha256: e.size for e in entries}
        )

    def put(self, version: str, *paths: str) -> list[FileEntry]:
        entries = [entry(p) for p in paths]
        self.record(entries)
        self.catalog.stage_files(self.ds, version, entries)
        return entries

    def paths(self, version: str, prefix: str = "") -> list[str]:
        return [e.path for e in self.catalog.files(self.ds, version, prefix)]

    def committed(self, *paths: str, message: str | None = None) -> Version:
        v = self.catalog.add_version(self.ds, message)
        self.put(v.version, *paths)
        return self.catalog.commit_version(self.ds, v.version, Manifests())


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    cat = Catalog(catalog_url)
    yield cat
    cat.close()


@pytest.fixture
def world(catalog: Catalog) -> World:
    team = catalog.add_team(ids.new_team_id(), "main", is_default=True)
    sp = catalog.add_provider(provider(team.id))
    ds = catalog.add_dataset(team.id, ids.new_dataset_id(), "mnist", "digits", sp.id)
    return World(catalog, team, sp, ds)


def is_postgres(cat: Catalog) -> bool:
    return cat.engine.dialect.name == "postgresql"


# -- teams and providers -------------------------------------------------------------------


def test_team_and_managed_provider_bootstrap(catalog: Catalog) -> None:
    assert catalog.default_team() is None
    team = catalog.add_team("te6x30gzr", "main", is_default=True)
    assert (team.id, team.name) == ("te6x30gzr", "main")
    assert team.dt_created.tzinfo is not None
    other = catalog.add_team(ids.new_team_id(), "other")
    assert catalog.default_team() == team
    assert catalog.get_team(other.id) == other
    with pytest.raises(TeamNotFound):
        catalog.get_team("te0000000")

    assert catalog.managed_provider(team.id) is None
    sp = catalog.add_provider(provider(team.id))
    assert sp.is_managed and sp.name == MANAGED_PROVIDER_NAME and sp.team_id == team.id
    assert sp.config == {"root": "/srv/cargohold", "nested": {"ünï": [1, 2]}}
    assert sp.dt_created is not None and sp.dt_created.tzinfo is not None
    assert catalog.managed_provider(team.id) == sp
    assert catalog.managed_provider(other.id) is None

    s3 = catalog.add_provider(provider(team.id, "A bucket", managed=False))
    assert catalog.list_providers(team.id) == [s3, sp]  # ordered by name
    assert catalog.list_providers(other.id) == []
    assert catalog.get_provider(team.id, s3.id) == s3
    with pytest.raises(StorageProviderNotFound):
        catalog.get_provider(other.id, s3.id)


def test_duplicate_team_and_provider_names_are_name_taken(catalog: Catalog) -> None:
    team = catalog.add_team(ids.new_team_id(), "main", is_default=True)
    other = catalog.add_team(ids.new_team_id(), "other")
    with pytest.raises(NameTaken) as info:
        catalog.add_team(ids.new_team_id(), "main")
    assert info.value.details == {"name": "main"}

    catalog.add_provider(provider(team.id, "store", managed=False))
    with pytest.raises(NameTaken):
        catalog.add_provider(provider(team.id, "store", managed=False))
    assert catalog.add_provider(provider(other.id, "store", managed=False)).team_id == other.id
    assert [p.name for p in catalog.list_providers(team.id)] == ["store"]


def test_delete_provider_only_when_unused(world: World) -> None:
    cat, team = world.catalog, world.team
    spare = cat.add_provider(provider(team.id, "spare", managed=False))
    with pytest.raises(ProviderInUse):
        cat.delete_provider(team.id, world.provider.id)
    cat.delete_provider(team.id, spare.id)
    assert cat.list_providers(team.id) == [world.provider]
    with pytest.raises(StorageProviderNotFound):
        cat.delete_provider(team.id, spare.id)


# -- datasets ------------------------------------------------------------------------------


def test_add_and_get_a_dataset_by_id_and_by_name(world: World) -> None:
    ds = world.dataset
    assert ids.is_dataset_id(ds.id)
    assert (ds.team_id, ds.name, ds.description) == (world.team.id, "mnist", "digits")
    assert ds.storage_provider == world.provider
    assert ds.dt_created.tzinfo is not None
    assert world.catalog.get_dataset(world.team.id, ds.id) == ds
    assert world.catalog.get_dataset(world.team.id, "mnist") == ds
    with pytest.raises(DatasetNotFound) as info:
        world.catalog.get_dataset(world.team.id, "nope")
    assert info.value.details == {"dataset": "nope"}
    with pytest.raises(DatasetNotFound):
        world.catalog.get_dataset(world.team.id, ids.new_dataset_id())


def test_list_datasets_is_ordered_by_name_and_pages(world: World) -> None:
    cat, team = world.catalog, world.team
    for name in ["zeta", "alpha", "beta-2", "beta"]:
        cat.add_dataset(team.id, ids.new_dataset_id(), name, None, world.provider.id)
    names = ["alpha", "beta", "beta-2", "mnist", "zeta"]
    assert [d.name for d in cat.list_datasets(team.id)] == names
    assert [d.name for d in cat.list_datasets(team.id, limit=2)] == names[:2]
    assert [d.name for d in cat.list_datasets(team.id, limit=2, offset=2)] == names[2:4]
    assert [d.name for d in cat.list_datasets(team.id, offset=4)] == names[4:]
    assert all(d.storage_provider == world.provider for d in cat.list_datasets(team.id))


def test_names_list_in_the_same_order_on_every_backend(world: World) -> None:
    """Mixed case sorts bytewise ('B' < 'a'), as SQLite does, whatever the server's locale."""
    cat, team = world.catalog, world.team
    mixed = ["beta", "Alpha", "alpha", "Beta", "_x", "a-b", "a.b"]
    for name in mixed:
        cat.add_dataset(team.id, ids.new_dataset_id(), name, None, world.provider.id)
        cat.add_provider(provider(team.id, name, managed=False))
    v = world.committed("f")
    for name in mixed:
        cat.set_tag(world.ds, name, v.version)
    bytewise = sorted(mixed)
    assert [d.name for d in cat.list_datasets(team.id)] == sorted([*mixed, "mnist"])
    assert [p.name for p in cat.list_providers(team.id)] == sorted([*mixed, "Managed"])
    assert [t.name for t in cat.list_tags(world.ds)] == bytewise
    assert cat.get_version(world.ds, v.version).tags == tuple(bytewise)


def test_update_a_dataset(world: World) -> None:
    cat, team = world.catalog, world.team
    updated = cat.update_dataset(team.id, "mnist", description="handwritten digits")
    assert updated.description == "handwritten digits"
    assert updated.dt_modified >= world.dataset.dt_modified
    renamed = cat.update_dataset(team.id, world.ds, name="digits")
    assert (renamed.id, renamed.name) == (world.ds, "digits")
    assert cat.get_dataset(team.id, "digits") == renamed
    with pytest.raises(DatasetNotFound):
        cat.get_dataset(team.id, "mnist")
    assert cat.update_dataset(team.id, "digits") == renamed  # nothing to change

    cat.add_dataset(team.id, ids.new_dataset_id(), "taken", None, world.provider.id)
    with pytest.raises(NameTaken):
        cat.update_dataset(team.id, "digits", name="taken")
    assert cat.get_dataset(team.id, world.ds).name == "digits"


def test_delete_a_dataset_and_everything_in_it(world: World) -> None:
    cat, team = world.catalog, world.team
    v = world.committed("a.txt")
    cat.set_tag(world.ds, "v1", v.version)
    gone = cat.delete_dataset(team.id, "mnist")
    assert gone.id == world.ds
    with pytest.raises(DatasetNotFound):
        cat.get_dataset(team.id, world.ds)
    with pytest.raises(DatasetNotFound):
        cat.delete_dataset(team.id, world.ds)
    assert cat.list_versions(world.ds, committed=None) == []
    assert cat.list_tags(world.ds) == []
    with pytest.raises(VersionNotFound):
        cat.files(world.ds, v.version)
    # the name is free again
    assert cat.add_dataset(team.id, ids.new_dataset_id(), "mnist", None, world.provider.id)


def test_dataset_names_are_unique_per_team_only(world: World) -> None:
    cat = world.catalog
    with pytest.raises(NameTaken) as info:
        cat.add_dataset(world.team.id, ids.new_dataset_id(), "mnist", None, world.provider.id)
    assert info.value.details == {"name": "mnist"}
    assert [d.id for d in cat.list_datasets(world.team.id)] == [world.ds]

    other = cat.add_team(ids.new_team_id(), "other")
    sp = cat.add_provider(provider(other.id))
    theirs = cat.add_dataset(other.id, ids.new_dataset_id(), "mnist", None, sp.id)
    assert theirs.id != world.ds
    assert cat.get_dataset(other.id, "mnist") == theirs
    assert cat.get_dataset(world.team.id, "mnist") == world.dataset


def test_another_teams_dataset_is_not_found(world: World) -> None:
    cat = world.catalog
    other = cat.add_team(ids.new_team_id(), "other")
    for key in [world.ds, "mnist"]:
        with pytest.raises(DatasetNotFound):
            cat.get_dataset(other.id, key)
        with pytest.raises(DatasetNotFound):
            cat.update_dataset(other.id, key, description="mine now")
        with pytest.raises(DatasetNotFound):
            cat.delete_dataset(other.id, key)
    assert cat.list_datasets(other.id) == []
    assert cat.get_dataset(world.team.id, world.ds) == world.dataset
    # nor may another team put a dataset on this team's provider
    with pytest.raises(StorageProviderNotFound):
        cat.add_dataset(other.id, ids.new_dataset_id(), "x", None, world.provider.id)
    assert cat.list_datasets(other.id) == []


# -- versions ------------------------------------------------------------------------------


def test_add_and_get_a_version(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, "first")
    assert ids.is_version_id(v.version)
    assert (v.dataset_id, v.message, v.is_committed) == (world.ds, "first", False)
    assert (v.tags, v.file_count, v.size, v.parent) == ((), 0, 0, None)
    assert v.manifest_sha256 is None and v.dt_committed is None
    assert v.ref == f"{world.ds}:{v.version}"
    assert cat.get_version(world.ds, v.version) == v
    with pytest.raises(VersionNotFound):
        cat.get_version(world.ds, "zzzzzzz")

    world.put(v.version, "a", "b/c")
    staged = cat.get_version(world.ds, v.version)
    assert (staged.file_count, staged.size) == (2, len("a") + len("b/c"))


def test_list_versions_newest_first_with_a_committed_filter(world: World) -> None:
    cat = world.catalog
    c1 = world.committed("a", message="c1")
    u1 = cat.add_version(world.ds, "u1")
    c2 = world.committed("b", message="c2")
    u2 = cat.add_version(world.ds, "u2")

    def listed(
        committed: bool | None = True, limit: int | None = None, offset: int = 0
    ) -> list[str]:
        return [v.version for v in cat.list_versions(world.ds, committed, limit, offset)]

    assert listed() == [c2.version, c1.version]
    assert listed(committed=True) == [c2.version, c1.version]
    assert listed(committed=False) == [u2.version, u1.version]
    everything = [u2.version, c2.version, u1.version, c1.version]
    assert listed(committed=None) == everything
    assert listed(committed=None, limit=2) == everything[:2]
    assert listed(committed=None, limit=2, offset=1) == everything[1:3]
    assert cat.list_versions(ids.new_dataset_id(), committed=None) == []


def test_update_and_delete_a_version(world: World) -> None:
    cat = world.catalog
    v = world.committed("a")
    cat.set_tag(world.ds, "prod", v.version)
    assert cat.update_version(world.ds, v.version, "better message").message == "better message"
    assert cat.delete_version(world.ds, v.version).version == v.version
    with pytest.raises(VersionNotFound):
        cat.get_version(world.ds, v.version)
    with pytest.raises(VersionNotFound):
        cat.delete_version(world.ds, v.version)
    assert cat.list_tags(world.ds) == []


def test_resolve(world: World) -> None:
    cat = world.catalog
    draft = cat.add_version(world.ds, "draft")
    for selector in [None, "latest"]:
        with pytest.raises(VersionNotFound, match="no committed version"):
            cat.resolve(world.ds, selector)

    old = world.committed("a")
    new = world.committed("b")
    newer_draft = cat.add_version(world.ds, "newer draft")
    cat.set_tag(world.ds, "stable", old.version)
    cat.set_tag(world.ds, "wip", newer_draft.version)

    assert cat.resolve(world.ds, None).version == new.version
    assert cat.resolve(world.ds, "latest").version == new.version
    assert cat.resolve(world.ds, old.version).version == old.version
    assert cat.resolve(world.ds, draft.version).version == draft.version  # uncommitted, by ID
    assert cat.resolve(world.ds, "stable").version == old.version
    assert cat.resolve(world.ds, "wip").version == newer_draft.version

    with pytest.raises(VersionNotFound):
        cat.resolve(world.ds, "zzzzzzz")  # the shape of a version ID
    with pytest.raises(TagNotFound):
        cat.resolve(world.ds, "no-such-tag")
    with pytest.raises(TagNotFound):
        cat.resolve(world.ds, "zzzzzzzz")  # 8 characters: only a tag could be meant

    other = cat.add_dataset(world.team.id, ids.new_dataset_id(), "other", None, world.provider.id)
    with pytest.raises(VersionNotFound):
        cat.resolve(other.id, old.version)
    with pytest.raises(TagNotFound):
        cat.resolve(other.id, "stable")


def test_add_version_with_a_parent_copies_its_files(world: World) -> None:
    cat = world.catalog
    parent = world.committed("a", "dir/b", "dir/c")
    child = cat.add_version(world.ds, "child", parent=(world.ds, parent.version))
    assert child.parent == f"{world.ds}:{parent.version}"
    assert not child.is_committed
    assert cat.files(world.ds, child.version) == cat.files(world.ds, parent.version)
    assert (child.file_count, child.size) == (parent.file_count, parent.size)

    cat.remove_files(world.ds, child.version, ["a"], [])
    world.put(child.version, "new")
    assert world.paths(child.version) == ["dir/b", "dir/c", "new"]
    assert world.paths(parent.version) == ["a", "dir/b", "dir/c"]

    with pytest.raises(VersionNotFound):  # an unknown parent creates nothing
        cat.add_version(world.ds, "orphan", parent=(world.ds, "zzzzzzz"))
    assert len(cat.list_versions(world.ds, committed=None)) == 2


# -- tags ----------------------------------------------------------------------------------


def test_set_move_list_and_delete_tags(world: World) -> None:
    cat = world.catalog
    v1 = world.committed("a", message="one")
    v2 = cat.add_version(world.ds, "two")

    tag = cat.set_tag(world.ds, "prod", v1.version)
    assert (tag.dataset_id, tag.name, tag.version, tag.message) == (
        world.ds,
        "prod",
        v1.version,
        "one",
    )
    cat.set_tag(world.ds, "beta", v1.version)
    assert cat.get_version(world.ds, v1.version).tags == ("beta", "prod")
    assert [t.name for t in cat.list_tags(world.ds)] == ["beta", "prod"]

    moved = cat.set_tag(world.ds, "prod", v2.version)
    assert moved.version == v2.version and moved.dt_created == tag.dt_created
    assert cat.get_tag(world.ds, "prod") == moved
    assert cat.get_version(world.ds, v1.version).tags == ("beta",)
    assert cat.get_version(world.ds, v2.version).tags == ("prod",)
    assert len(cat.list_tags(world.ds)) == 2

    assert cat.delete_tag(world.ds, "prod") == moved
    assert [t.name for t in cat.list_tags(world.ds)] == ["beta"]
    with pytest.raises(TagNotFound):
        cat.delete_tag(world.ds, "prod")
    with pytest.raises(TagNotFound):
        cat.get_tag(world.ds, "prod")
    with pytest.raises(VersionNotFound):
        cat.set_tag(world.ds, "prod", "zzzzzzz")
    assert [t.name for t in cat.list_tags(world.ds)] == ["beta"]


def test_a_tag_may_not_be_named_like_a_version_of_its_dataset(world: World) -> None:
    cat = world.catalog
    v1 = world.committed("a")
    v2 = cat.add_version(world.ds, None)
    with pytest.raises(InvalidName) as info:
        cat.set_tag(world.ds, v2.version, v1.version)
    assert info.value.details == {"name": v2.version}
    assert cat.list_tags(world.ds) == []
    # ... but it may share its name with a version of another dataset
    other = cat.add_dataset(world.team.id, ids.new_dataset_id(), "other", None, world.provider.id)
    ov = cat.add_version(other.id, None)
    assert cat.set_tag(other.id, v1.version, ov.version).name == v1.version


def test_new_version_ids_never_collide_with_tags_or_versions(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    cat = world.catalog
    first = cat.add_version(world.ds, "first")
    tag_names = ["aaaaaaa", "bbbbbbb", "ccccccc"]
    for name in tag_names:
        cat.set_tag(world.ds, name, first.version)

    def proposals() -> Iterator[str]:
        """Every tag name and the existing version ID, before each fresh ID."""
        for i in range(1000):
            yield from tag_names
            yield first.version
            yield f"n{i:06d}"

    draws = proposals()
    real = ids.new_version_id
    monkeypatch.setattr(
        catalog_versions, "new_version_id", lambda taken: real(taken, rand=lambda n: next(draws))
    )
    made = [cat.add_version(world.ds, f"v{i}").version for i in range(25)]
    assert made == [f"n{i:06d}" for i in range(25)]
    assert not set(made) & {*tag_names, first.version}
    assert all(ids.is_version_id(v) for v in made)
    for name in tag_names:
        assert cat.resolve(world.ds, name).version == first.version

    monkeypatch.undo()
    fresh = [cat.add_version(world.ds, None).version for _ in range(20)]
    assert not set(fresh) & {*tag_names, *made, first.version}


# -- files ---------------------------------------------------------------------------------


def test_record_objects_then_stage_files(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, None)
    staged = [entry("b.txt", b"bee"), entry("a/x.png", b"\x89PNG", "image/png")]
    world.record(staged)
    cat.stage_files(world.ds, v.version, staged)
    assert cat.files(world.ds, v.version) == sorted(staged, key=lambda e: e.path)
    assert cat.file(world.ds, v.version, "a/x.png") == staged[1]
    assert cat.file(world.ds, v.version, "a") is None
    got = cat.get_version(world.ds, v.version)
    assert (got.file_count, got.size) == (2, 7)

    # objects that have just landed are recorded in the same transaction
    new = entry("new")
    cat.stage_files(world.ds, v.version, [new], landed={new.sha256: new.size})
    assert world.paths(v.version) == ["a/x.png", "b.txt", "new"]
    assert cat.known_objects(world.team.id, world.provider.id, [new.sha256]) == {new.sha256}


def test_staging_a_file_whose_object_is_not_recorded_stages_nothing(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, None)
    known, unknown = entry("known"), entry("unknown")
    world.record([known])
    with pytest.raises(ObjectMissing) as info:
        cat.stage_files(world.ds, v.version, [known, unknown])
    assert info.value.details["path"] == "unknown"
    assert cat.files(world.ds, v.version) == []

    # an object recorded for another provider or team does not count
    spare = cat.add_provider(provider(world.team.id, "spare", managed=False))
    cat.record_objects(world.team.id, spare.id, {unknown.sha256: unknown.size})
    other = cat.add_team(ids.new_team_id(), "other")
    other_sp = cat.add_provider(provider(other.id))
    cat.record_objects(other.id, other_sp.id, {unknown.sha256: unknown.size})
    with pytest.raises(ObjectMissing):
        cat.stage_files(world.ds, v.version, [unknown])
    assert cat.files(world.ds, v.version) == []


def test_staging_the_same_path_again_replaces_it(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, None)
    world.put(v.version, "a", "b")
    replacement = entry("a", b"new content", "application/json")
    world.record([replacement])
    cat.stage_files(world.ds, v.version, [replacement])
    assert cat.files(world.ds, v.version) == [replacement, entry("b")]
    assert cat.get_version(world.ds, v.version).size == len(b"new content") + 1


def test_staging_one_path_twice_in_one_call_is_a_domain_outcome(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, None)
    first, second = entry("a", b"1"), entry("a", b"2")
    world.record([first, second])
    try:
        cat.stage_files(world.ds, v.version, [first, second])
    except CargoholdError:
        assert cat.files(world.ds, v.version) == []
    else:
        assert cat.files(world.ds, v.version) == [second]


def test_remove_files_by_key_and_by_prefix(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, None)
    world.put(v.version, "a", "a.txt", "a/x", "a/y/z", "a0/x", "ab/x", "b/x", "b/y")
    assert cat.remove_files(world.ds, v.version, [], []) == 0
    assert cat.remove_files(world.ds, v.version, ["a", "b/x", "missing"], []) == 2
    assert world.paths(v.version) == ["a.txt", "a/x", "a/y/z", "a0/x", "ab/x", "b/y"]
    assert cat.remove_files(world.ds, v.version, [], ["a/"]) == 2
    assert world.paths(v.version) == ["a.txt", "a0/x", "ab/x", "b/y"]
    assert cat.remove_files(world.ds, v.version, ["a.txt"], ["b/", "zz/"]) == 2
    assert world.paths(v.version) == ["a0/x", "ab/x"]
    assert cat.remove_files(world.ds, v.version, [], [""]) == 2
    assert world.paths(v.version) == []
    assert cat.get_version(world.ds, v.version).file_count == 0


def test_files_by_prefix_in_path_order_with_paging(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, None)
    paths = ["a", "a.txt", "a/1", "a/2", "a/3/x", "a/4", "a/5", "a0/x", "ab/x", "b"]
    world.put(v.version, *reversed(paths))
    assert world.paths(v.version) == paths
    assert world.paths(v.version, "a/") == ["a/1", "a/2", "a/3/x", "a/4", "a/5"]
    assert world.paths(v.version, "a/3/") == ["a/3/x"]
    assert world.paths(v.version, "c/") == []

    for prefix in ["", "a/"]:
        pages: list[list[str]] = []
        after: str | None = None
        while True:
            page = cat.files(world.ds, v.version, prefix, after=after, limit=2)
            if not page:
                break
            pages.append([e.path for e in page])
            after = page[-1].path
        assert [p for page in pages for p in page] == world.paths(v.version, prefix)
        assert all(len(page) <= 2 for page in pages)
    assert [e.path for e in cat.files(world.ds, v.version, "a/", after="a/2")] == [
        "a/3/x",
        "a/4",
        "a/5",
    ]
    assert cat.files(world.ds, v.version, limit=0) == []


UNICODE_PATHS = [
    "Zebra",
    "a b/space",
    "a-b",
    "a/é",
    "a/z",
    "a~",
    "résumé.pdf",
    "z",
    "é/1",
    "ö",
    "ÿ/x",
    "Ā/x",
    "日本/データ.csv",
    "😀/x",
    "\uffff",
    "a\x01b",
]


def test_unicode_paths_sort_bytewise_on_every_backend(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, None)
    world.put(v.version, *UNICODE_PATHS)
    bytewise = sorted(UNICODE_PATHS, key=lambda p: p.encode("utf-8"))
    assert world.paths(v.version) == bytewise
    assert world.paths(v.version, "é/") == ["é/1"]
    assert world.paths(v.version, "日本/") == ["日本/データ.csv"]
    assert world.paths(v.version, "a/") == ["a/z", "a/é"]
    after = [e.path for e in cat.files(world.ds, v.version, after="z")]
    assert after == [p for p in bytewise if p.encode() > b"z"]
    assert cat.file(world.ds, v.version, "😀/x") == entry("😀/x")

    committed = Manifests()
    cat.commit_version(world.ds, v.version, committed)
    assert [e.path for e in committed.written[0]] == bytewise
    assert manifest.decode(manifest.encode(committed.written[0])) == committed.written[0]


def test_more_files_than_one_batch(world: World) -> None:
    cat = world.catalog
    n = 2 * 2000 + 7
    v = cat.add_version(world.ds, None)
    many = [entry(f"d{i % 3}/f{i:05d}") for i in range(n)]
    world.record(many)
    assert len(cat.known_objects(world.team.id, world.provider.id, [e.sha256 for e in many])) == n
    cat.stage_files(world.ds, v.version, many)
    assert cat.get_version(world.ds, v.version).file_count == n
    assert world.paths(v.version, "d1/") == [e.path for e in many if e.path.startswith("d1/")]
    assert cat.remove_files(world.ds, v.version, [e.path for e in many[:2500]], []) == 2500
    child = cat.add_version(world.ds, None, parent=(world.ds, v.version))
    assert child.file_count == n - 2500


def test_big_sizes_add_up(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, None)
    huge = [FileEntry(f"huge{i}", 5 * 2**40 + i, f"{i:064x}") for i in range(3)]
    world.record(huge)
    cat.stage_files(world.ds, v.version, huge)
    total = sum(e.size for e in huge)
    assert cat.get_version(world.ds, v.version).size == total
    assert cat.commit_version(world.ds, v.version, Manifests()).size == total
    assert cat.files(world.ds, v.version) == huge


# -- commit --------------------------------------------------------------------------------


def test_commit_writes_the_manifest_and_freezes_the_version(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, "msg")
    staged = world.put(v.version, "b", "a/1", "c/d/e")
    world.put(v.version, "gone")
    cat.remove_files(world.ds, v.version, ["gone"], [])
    manifests = Manifests()
    done = cat.commit_version(world.ds, v.version, manifests)

    assert manifests.written == [sorted(staged, key=lambda e: e.path)]
    assert done.is_committed
    assert done.file_count == 3
    assert done.size == sum(e.size for e in staged)
    assert done.manifest_sha256 == manifest.digest(manifest.encode(staged))
    assert isinstance(done.dt_committed, datetime) and done.dt_committed.tzinfo is not None
    assert done.message == "msg"
    assert cat.get_version(world.ds, v.version) == done
    assert cat.resolve(world.ds, "latest") == done
    assert cat.files(world.ds, v.version) == manifests.written[0]

    empty = cat.add_version(world.ds, None)
    done = cat.commit_version(world.ds, empty.version, manifests)
    assert manifests.written[1] == []
    assert (done.is_committed, done.file_count, done.size) == (True, 0, 0)


def test_every_write_to_a_committed_version_is_refused(world: World) -> None:
    cat = world.catalog
    v = world.committed("a", "dir/b")
    before = (cat.get_version(world.ds, v.version), cat.files(world.ds, v.version))
    late = entry("late")
    world.record([late])
    manifests = Manifests()

    writes: list[Callable[[], object]] = [
        lambda: cat.commit_version(world.ds, v.version, manifests),
        lambda: cat.stage_files(world.ds, v.version, [late]),
        lambda: cat.stage_files(world.ds, v.version, [entry("a", b"changed")]),
        lambda: cat.stage_files(world.ds, v.version, [], landed={"f" * 64: 1}),
        lambda: cat.remove_files(world.ds, v.version, ["a"], []),
        lambda: cat.remove_files(world.ds, v.version, [], [""]),
        lambda: cat.remove_files(world.ds, v.version, [], []),
    ]
    for write in writes:
        with pytest.raises(VersionCommitted) as info:
            write()
        assert info.value.details == {"dataset": world.ds, "version": v.version}
    assert manifests.written == []
    assert (cat.get_version(world.ds, v.version), cat.files(world.ds, v.version)) == before
    assert cat.known_objects(world.team.id, world.provider.id, ["f" * 64]) == set()


def test_a_failing_manifest_write_leaves_the_version_uncommitted(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, None)
    world.put(v.version, "a", "b")

    def broken(entries: list[FileEntry]) -> str:
        raise OSError("bucket unreachable")

    with pytest.raises(OSError, match="bucket unreachable"):
        cat.commit_version(world.ds, v.version, broken)
    after = cat.get_version(world.ds, v.version)
    assert not after.is_committed and after.manifest_sha256 is None
    assert world.paths(v.version) == ["a", "b"]
    with pytest.raises(VersionNotFound):
        cat.resolve(world.ds, "latest")

    world.put(v.version, "c")  # still writable
    assert cat.commit_version(world.ds, v.version, Manifests()).file_count == 3


# -- objects -------------------------------------------------------------------------------


def test_known_objects(world: World) -> None:
    cat, team, sp = world.catalog, world.team.id, world.provider.id
    shas = [f"{i:064x}" for i in range(5)]
    assert cat.known_objects(team, sp, shas) == set()
    cat.record_objects(team, sp, {s: 10 for s in shas[:3]})
    cat.record_objects(team, sp, {s: 10 for s in shas[1:4]})  # recording again is fine
    assert cat.known_objects(team, sp, shas) == set(shas[:4])
    assert cat.known_objects(team, sp, []) == set()
    assert cat.known_objects(team, sp, iter(shas[3:])) == {shas[3]}

    spare = cat.add_provider(provider(team, "spare", managed=False))
    assert cat.known_objects(team, spare.id, shas) == set()
    cat.record_objects(team, spare.id, {shas[4]: 1})
    assert cat.known_objects(team, sp, shas) == set(shas[:4])
    assert cat.known_objects(team, spare.id, shas) == {shas[4]}


def race_with_an_uncommitted_insert(
    cat: Catalog, table: sa.Table, row: dict[str, object], call: Callable[[], object]
) -> list[BaseException]:
    """Another writer inserts `row` and holds its transaction open while `call` runs in a
    thread; then it commits. Returns what `call` raised (a deterministic interleaving)."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    other = sa.create_engine(cat.engine.url)
    thread = threading.Thread(target=run)
    try:
        with other.connect() as conn:
            conn.execute(sa.insert(table).values(**row))
            thread.start()
            thread.join(0.3)  # it waits for the other writer (or would have raced it)
            conn.commit()
        thread.join(30)
    finally:
        other.dispose()
    assert not thread.is_alive()
    return errors


def test_recording_an_object_another_writer_is_recording(world: World) -> None:
    """Two uploads of the same content at once both succeed."""
    cat, team, sp = world.catalog, world.team.id, world.provider.id
    sha = "e" * 64
    row = {"team_id": team, "provider_id": sp, "sha256": sha, "size": 1}
    errors = race_with_an_uncommitted_insert(
        cat,
        objects,
        {**row, "dt_created": datetime.now(UTC)},
        lambda: cat.record_objects(team, sp, {sha: 1, "d" * 64: 2}),
    )
    assert errors == []
    assert cat.known_objects(team, sp, [sha, "d" * 64]) == {sha, "d" * 64}


def test_setting_a_tag_another_writer_is_creating(world: World) -> None:
    """Two `tags set` of one new name at once: both succeed, the later one wins."""
    cat = world.catalog
    v1, v2 = world.committed("a"), world.committed("b")
    with cat.engine.connect() as conn:
        pk = conn.execute(
            sa.select(versions_table.c.pk).where(versions_table.c.version == v1.version)
        ).scalar_one()
    stamp = datetime.now(UTC)
    row = {"dataset_id": world.ds, "name": "prod", "version_pk": pk}
    errors = race_with_an_uncommitted_insert(
        cat,
        tags_table,
        {**row, "dt_created": stamp, "dt_modified": stamp},
        lambda: cat.set_tag(world.ds, "prod", v2.version),
    )
    assert errors == []
    assert cat.get_tag(world.ds, "prod").version == v2.version


# -- migrations ----------------------------------------------------------------------------


def test_head_is_the_newest_migration(catalog: Catalog) -> None:
    folder = catalog_engine.MIGRATIONS / "versions"
    files = sorted(p.name for p in folder.glob("*.py") if re.match(r"\d{4}_", p.name))
    assert files, "no migration files"
    assert files[-1].startswith(catalog_engine.HEAD + "_"), files[-1]
    assert ScriptDirectory(str(catalog_engine.MIGRATIONS)).get_heads() == [catalog_engine.HEAD]
    assert catalog_engine.current_revision(catalog.engine) == catalog_engine.HEAD


def test_reopening_a_catalog_keeps_its_data(catalog_url: str) -> None:
    first = Catalog(catalog_url)
    team = first.add_team(ids.new_team_id(), "main", is_default=True)
    first.close()
    again = Catalog(catalog_url)
    try:
        assert again.default_team() == team
        assert catalog_engine.current_revision(again.engine) == catalog_engine.HEAD
    finally:
        again.close()


def test_a_catalog_a_newer_cargohold_migrated_is_refused_plainly(catalog_url: str) -> None:
    Catalog(catalog_url).close()
    engine = sa.create_engine(catalog_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(CatalogUnavailable, match="schema 9999, newer than"):
        Catalog(catalog_url)


def test_the_migrated_schema_matches_the_tables(catalog: Catalog) -> None:
    with catalog.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, metadata) == []
        if is_postgres(catalog):  # autogenerate does not compare collations: check it here
            collation = conn.execute(
                sa.text(
                    "SELECT collation_name FROM information_schema.columns"
                    " WHERE table_name = 'version_files' AND column_name = 'path'"
                )
            ).scalar_one()
            assert collation == "C", "file paths must sort bytewise"


# -- concurrency ---------------------------------------------------------------------------


def test_commit_holds_the_version_while_it_writes_the_manifest(world: World) -> None:
    cat = world.catalog
    v = cat.add_version(world.ds, None)
    world.put(v.version, "a")
    late = entry("late")
    world.record([late])
    outcome: list[str] = []

    def stage_late() -> None:
        try:
            cat.stage_files(world.ds, v.version, [late])
            outcome.append("staged")
        except VersionCommitted:
            outcome.append("refused")
        except BaseException as exc:
            outcome.append(repr(exc))

    stager = threading.Thread(target=stage_late)
    waited: list[bool] = []

    def write(entries: list[FileEntry]) -> str:
        stager.start()
        stager.join(0.3)
        waited.append(stager.is_alive())
        return Manifests()(entries)

    done = cat.commit_version(world.ds, v.version, write)
    stager.join(30)
    assert waited == [True], "a stage ran while the manifest was being written"
    assert outcome == ["refused"]
    assert done.file_count == 1
    assert world.paths(v.version) == ["a"]


ROUNDS = 8
STAGERS = 3


def test_concurrent_stage_and_commit_never_lose_a_staged_file(world: World) -> None:
    cat = world.catalog
    with ThreadPoolExecutor(max_workers=STAGERS + 1) as pool:
        for round_ in range(ROUNDS):
            v = cat.add_version(world.ds, f"round {round_}")
            world.put(v.version, "base")
            extras = [entry(f"extra-{i}", f"{round_}-{i}".encode()) for i in range(STAGERS)]
            world.record(extras)
            barrier = threading.Barrier(STAGERS + 1)
            written: list[list[FileEntry]] = []

            def stage(
                e: FileEntry, version: str = v.version, b: threading.Barrier = barrier
            ) -> bool:
                b.wait()
                try:
                    cat.stage_files(world.ds, version, [e])
                except VersionCommitted:
                    return False
                return True

            def write(entries: list[FileEntry], out: list[list[FileEntry]] = written) -> str:
                time.sleep(0.002)
                out.append(list(entries))
                return manifest.digest(manifest.encode(entries))

            def commit(
                version: str = v.version,
                b: threading.Barrier = barrier,
                w: Callable[[list[FileEntry]], str] = write,
            ) -> Version:
                b.wait()
                return cat.commit_version(world.ds, version, w)

            staged = [pool.submit(stage, e) for e in extras]
            committed = pool.submit(commit).result(timeout=60)
            ok = {e.path for e, f in zip(extras, staged, strict=True) if f.result(timeout=60)}

            assert committed.is_committed and len(written) == 1
            in_manifest = {e.path for e in written[0]}
            assert ok <= in_manifest, "a stage succeeded but its file is not in the manifest"
            assert in_manifest == {"base"} | ok
            assert cat.files(world.ds, v.version) == written[0]
            assert cat.get_version(world.ds, v.version).file_count == len(in_manifest)


# -- errors never leak from the database layer ---------------------------------------------


def test_an_unknown_dataset_is_not_found(world: World) -> None:
    cat, unknown = world.catalog, ids.new_dataset_id()
    calls: dict[str, Callable[[], object]] = {
        "add_version": lambda: cat.add_version(unknown, None),
        "stage_files": lambda: cat.stage_files(unknown, "zzzzzzz", []),
        "commit_version": lambda: cat.commit_version(unknown, "zzzzzzz", Manifests()),
        "remove_files": lambda: cat.remove_files(unknown, "zzzzzzz", ["a"], []),
        "files": lambda: cat.files(unknown, "zzzzzzz"),
        "set_tag": lambda: cat.set_tag(unknown, "t", "zzzzzzz"),
    }
    leaked: dict[str, str] = {}
    for name, call in calls.items():
        try:
            call()
        except NotFound:
            continue
        except Exception as exc:
            leaked[name] = type(exc).__qualname__
        else:
            leaked[name] = "no error"
    assert leaked == {}
