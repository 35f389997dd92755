"""The service protocol's contract, run three ways: in-process services, the HTTP client over
an in-process ASGI transport, and the HTTP client against a real uvicorn on 127.0.0.1.

Each implementation must give the same answers and raise the same exception classes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cargohold import errors
from cargohold.services import Services
from cargohold.services.download import get
from cargohold.services.upload import put
from tests.cli_helpers import write_tree


def test_datasets_round_trip(svc: Services) -> None:
    ds = svc.datasets.create("mnist", description="digits")
    assert ds.id.startswith("ds") and len(ds.id) == 15
    assert ds.storage_provider.id == svc.storage_providers.managed().id
    assert svc.datasets.get(ds.id) == svc.datasets.get("mnist")
    assert [d.name for d in svc.datasets.list()] == ["mnist"]
    renamed = svc.datasets.update(ds.id, name="mnist2", description="new")
    assert (renamed.name, renamed.description) == ("mnist2", "new")
    assert svc.datasets.delete("mnist2").id == ds.id
    assert svc.datasets.list() == []


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.datasets.get("nope"), errors.DatasetNotFound),
        (lambda s: s.datasets.get("dsr8k5qzn401lb5"), errors.DatasetNotFound),
        (lambda s: s.datasets.get("ds:v"), errors.InvalidReference),
        (lambda s: s.datasets.create("bad/name"), errors.InvalidName),
        (lambda s: s.datasets.create("x", "splnothere00000"), errors.StorageProviderNotFound),
        (lambda s: s.versions.get("nope:latest"), errors.DatasetNotFound),
        (lambda s: s.storage_providers.get("splnothere00000"), errors.StorageProviderNotFound),
        (lambda s: s.datasets.get("gradient/mnist"), errors.DatasetNotFound),
    ],
)
def test_the_same_errors_come_back(svc: Services, call: object, error: type) -> None:
    with pytest.raises(error) as caught:
        call(svc)  # type: ignore[operator]
    assert type(caught.value) is error
    assert caught.value.message  # type: ignore[attr-defined]


def test_versions_and_tags(svc: Services) -> None:
    ds = svc.datasets.create("d")
    v1 = svc.versions.create("d", "first")
    assert not v1.is_committed and v1.message == "first"
    assert svc.versions.list("d") == []
    assert [v.version for v in svc.versions.list("d", committed=False)] == [v1.version]
    assert [v.version for v in svc.versions.list("d", committed=None)] == [v1.version]
    assert svc.versions.update(v1.ref, "renamed").message == "renamed"
    committed = svc.versions.commit(v1.ref)
    assert committed.is_committed and committed.manifest_sha256
    with pytest.raises(errors.VersionCommitted):
        svc.versions.commit(v1.ref)
    assert svc.versions.update(v1.ref, "again").message == "again"  # metadata, not data
    assert svc.versions.get("d:latest").version == v1.version
    assert svc.versions.get(f"{ds.id}").version == v1.version
    tag = svc.tags.set(v1.ref, "prod")
    assert (tag.name, tag.version) == ("prod", v1.version)
    assert svc.versions.get("d:prod").version == v1.version
    assert [t.name for t in svc.tags.list("d")] == ["prod"]
    assert svc.tags.delete("d:prod").name == "prod"
    with pytest.raises(errors.TagNotFound):
        svc.versions.get("d:prod")
    with pytest.raises(errors.TagNotFound):
        svc.tags.delete("d:prod")
    v2 = svc.versions.create("d", parent=v1.ref)
    assert svc.versions.delete(v2.ref).version == v2.version
    with pytest.raises(errors.VersionNotFound):
        svc.versions.get(v2.ref)


def test_files_up_list_down_and_delete(svc: Services, tmp_path: Path) -> None:
    files = {"a.txt": b"alpha\n", "sub/b.bin": os.urandom(5000), "sub/c/d.txt": b"d"}
    write_tree(tmp_path / "src", files)
    svc.datasets.create("f")
    v = svc.versions.create("f")
    summary = put(svc, v.ref, [f"{tmp_path / 'src'}/"])
    assert summary.files == 3
    again = put(svc, v.ref, [f"{tmp_path / 'src'}/"])
    assert again.bytes_sent == 0
    top = svc.files.list(v.ref)
    assert [(e.name, e.size) for e in top] == [("a.txt", 6), ("sub/", None)]
    deep = svc.files.list(v.ref, "sub", recursive=True)
    assert [e.name for e in deep] == ["b.bin", "c/d.txt"]
    assert [e.name for e in svc.files.list(v.ref, limit=1, after="a.txt")] == ["sub/"]
    assert svc.files.delete(v.ref, ["sub/c/"]) == 1
    svc.versions.commit(v.ref)
    with pytest.raises(errors.VersionCommitted):
        svc.files.delete(v.ref, ["a.txt"])
    out = tmp_path / "out"
    get(svc, v.ref, out)
    assert (out / "a.txt").read_bytes() == files["a.txt"]
    assert (out / "sub/b.bin").read_bytes() == files["sub/b.bin"]
    assert not (out / "sub/c").exists()


def test_usage_counts_what_the_team_stores(svc: Services, tmp_path: Path) -> None:
    write_tree(tmp_path / "src", {"a": b"x" * 1000, "b": b"x" * 1000, "c": b"y" * 10})
    svc.datasets.create("u")
    v = svc.versions.create("u")
    put(svc, v.ref, [f"{tmp_path / 'src'}/"])
    svc.versions.commit(v.ref)
    usage = svc.storage_providers.usage()
    [managed] = [p for p in usage["providers"] if p["isManaged"]]
    assert (managed["bytes"], managed["objects"]) == (1010, 2)
    assert (managed["datasets"], managed["versions"]) == (1, 1)
    assert managed["reservedBytes"] == 0  # no quota, nothing reserved
