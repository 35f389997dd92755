"""Version lineage: recorded with a workflow output's commit, walked up and down.

The catalog on SQLite and PostgreSQL (``catalog_url``), the service protocol three ways
(``svc``), two teams on one server, and the CLI locally and against a server (``cli``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from cargohold import errors
from cargohold.catalog import Catalog
from cargohold.catalog.schema import lineage_inputs, version_lineage, versions
from cargohold.domain import ids, manifest, wire
from cargohold.domain.models import MANAGED_PROVIDER_NAME, FileEntry, StorageProvider, Team, Version
from cargohold.domain.workflows import (
    MAX_LINEAGE_DEPTH,
    Lineage,
    LineageGraph,
    LineageInput,
    LineageStep,
)
from cargohold.services import Services, build_services
from cargohold.services.upload import put
from cargohold.settings import Settings
from tests.cli_helpers import Cli, write_tree
from tests.server_helpers import TestServer

WORKFLOW = str(uuid.uuid4())
SPEC = hashlib.sha256(b"jobs: {}").hexdigest()


def made_by(job: str, *inputs: tuple[str, str], output: str = "out", run: int = 1) -> Lineage:
    """The lineage of job `job`'s output `output`, from inputs (name, DATASET_ID:VERSION)."""
    return Lineage(
        workflow_id=WORKFLOW,
        run=run,
        job=job,
        output=output,
        spec_sha256=SPEC,
        inputs=tuple(LineageInput(name, *ref.split(":")) for name, ref in inputs),
        strings={"epochs": "3"},
    )


def refs(steps: tuple[LineageStep, ...]) -> list[tuple[str, int]]:
    return [(s.ref, s.depth) for s in steps]


# -- the catalog, on both backends ------------------------------------------------------------


def no_manifest(entries: Iterator[FileEntry]) -> str:
    return manifest.digest(manifest.encode(list(entries)))


@dataclass
class Cat:
    """A catalog with one team, its managed provider, and helpers to make versions."""

    catalog: Catalog
    team: Team
    provider: StorageProvider

    def dataset(self, name: str, team: Team | None = None, sp: str | None = None) -> str:
        owner = team or self.team
        ds = self.catalog.add_dataset(
            owner.id, ids.new_dataset_id(), name, None, sp or self.provider.id
        )
        return ds.id

    def version(self, ds: str, lineage: Lineage | None = None) -> Version:
        v = self.catalog.add_version(ds, None)
        return self.catalog.commit_version(ds, v.version, no_manifest, lineage)

    def graph(self, v: Version) -> LineageGraph:
        return self.catalog.lineage_graph(self.team.id, v.dataset_id, v.version)


@pytest.fixture
def cat(catalog_url: str) -> Iterator[Cat]:
    catalog = Catalog(catalog_url)
    team = catalog.add_team(ids.new_team_id(), "main", is_default=True)
    sp = catalog.add_provider(
        StorageProvider(
            id=ids.new_provider_id(),
            team_id=team.id,
            name=MANAGED_PROVIDER_NAME,
            type="local",
            is_managed=True,
        )
    )
    yield Cat(catalog, team, sp)
    catalog.close()


def test_lineage_is_recorded_with_the_commit_and_single_lookups_carry_it(cat: Cat) -> None:
    raw = cat.version(cat.dataset("raw"))
    out = cat.dataset("out")
    lineage = made_by("prep", ("data", raw.ref), ("extra", raw.ref))
    made = cat.version(out, lineage)

    assert made.is_committed and made.lineage == lineage
    assert cat.catalog.get_version(out, made.version).lineage == lineage
    assert cat.catalog.lineage_of(out, made.version) == lineage
    assert (
        raw.lineage is None and cat.catalog.get_version(raw.dataset_id, raw.version).lineage is None
    )
    assert cat.catalog.lineage_of(raw.dataset_id, raw.version) is None
    # resolving a reference (as each file a server sends does) and listings read no lineage
    assert cat.catalog.resolve(out, "latest").lineage is None
    assert cat.catalog.resolve(out, made.version).lineage is None
    assert [v.lineage for v in cat.catalog.list_versions(out)] == [None]


def test_lineage_that_cannot_be_recorded_leaves_the_version_uncommitted(cat: Cat) -> None:
    c = cat.catalog
    raw = cat.version(cat.dataset("raw"))
    open_one = c.add_version(raw.dataset_id, None)
    out = cat.dataset("out")
    v = c.add_version(out, None)
    other = c.add_team(ids.new_team_id(), "other")
    sp = c.add_provider(replace(cat.provider, id=ids.new_provider_id(), team_id=other.id))
    theirs = cat.version(cat.dataset("theirs", other, sp.id))
    written: list[str] = []

    def write(entries: Iterator[FileEntry]) -> str:
        written.append("manifest")
        return no_manifest(entries)

    # the database refuses the rows after the version was flagged: all of it rolls back
    with pytest.raises(sa.exc.IntegrityError):
        c.commit_version(out, v.version, write, made_by("j", ("x", raw.ref), ("x", raw.ref)))
    assert written == ["manifest"]
    # the inputs are checked first, before the manifest is written for nothing
    refused: list[tuple[Lineage, type[Exception]]] = [
        (made_by("j", ("x", open_one.ref)), errors.VersionNotCommitted),
        (made_by("j", ("x", f"{raw.dataset_id}:nothere")), errors.VersionNotFound),
        (made_by("j", ("x", theirs.ref)), errors.VersionNotFound),
        (made_by("j", ("x", v.ref)), errors.VersionNotCommitted),  # itself
    ]
    for lineage, error in refused:
        with pytest.raises(error):
            c.commit_version(out, v.version, write, lineage)
    assert written == ["manifest"]

    after = c.get_version(out, v.version)
    assert not after.is_committed and after.lineage is None
    with c.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(version_lineage)).scalar() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(lineage_inputs)).scalar() == 0
    done = c.commit_version(out, v.version, write, made_by("j", ("x", raw.ref)))
    assert done.is_committed and done.lineage == made_by("j", ("x", raw.ref))


def test_walks_up_and_down_a_chain_and_a_diamond(cat: Cat) -> None:
    """raw -> (prep) clean -> (train) model; clean and raw -> (report) report."""
    raw = cat.version(cat.dataset("raw"))
    clean = cat.version(cat.dataset("clean"), made_by("prep", ("data", raw.ref)))
    model = cat.version(cat.dataset("model"), made_by("train", ("clean", clean.ref)))
    report = cat.version(cat.dataset("report"), made_by("report", ("a", clean.ref), ("b", raw.ref)))

    up = cat.graph(model)
    assert up.ref == model.ref and up.dataset_name == "model"
    assert up.lineage == made_by("train", ("clean", clean.ref))
    assert refs(up.up) == [(clean.ref, 1), (raw.ref, 2)]
    assert [s.dataset_name for s in up.up] == ["clean", "raw"]
    assert [s.lineage.job if s.lineage else None for s in up.up] == ["prep", None]
    assert up.down == () and not up.truncated

    # each version once, depth-first: raw is met under clean first
    assert refs(cat.graph(report).up) == [(clean.ref, 1), (raw.ref, 2)]
    down = cat.graph(raw)
    assert down.lineage is None and down.up == ()
    assert refs(down.down) == [(clean.ref, 1), (model.ref, 2), (report.ref, 2)]
    assert [s.lineage.job for s in down.down if s.lineage] == ["prep", "train", "report"]


def test_a_deleted_input_still_appears_by_reference(cat: Cat) -> None:
    c = cat.catalog
    raw_ds = cat.dataset("raw")
    raw = cat.version(raw_ds)
    clean = cat.version(cat.dataset("clean"), made_by("prep", ("data", raw.ref)))
    model = cat.version(cat.dataset("model"), made_by("train", ("clean", clean.ref)))

    c.delete_version(raw_ds, raw.version)
    step = cat.graph(model).up[1]
    assert (step.ref, step.dataset_name, step.deleted, step.lineage) == (raw.ref, "raw", True, None)
    c.delete_dataset(cat.team.id, raw_ds)
    step = cat.graph(clean).up[0]
    assert (step.ref, step.dataset_name, step.deleted) == (raw.ref, None, True)
    # the middle one deleted: the walk stops there (its lineage went with it)
    c.delete_version(clean.dataset_id, clean.version)
    assert [(s.ref, s.deleted) for s in cat.graph(model).up] == [(clean.ref, True)]
    assert cat.catalog.get_version(model.dataset_id, model.version).lineage is not None


def test_a_walk_survives_a_cycle_and_stops_at_the_depth_cap(cat: Cat) -> None:
    ds = cat.dataset("chain")
    chain = [cat.version(ds)]
    for n in range(MAX_LINEAGE_DEPTH + 2):
        chain.append(cat.version(ds, made_by(f"step{n}", ("prev", chain[-1].ref))))

    full = cat.graph(chain[-1])
    assert len(full.up) == MAX_LINEAGE_DEPTH and full.truncated
    assert refs(full.up)[:2] == [(chain[-2].ref, 1), (chain[-3].ref, 2)]
    short = cat.graph(chain[3])
    assert refs(short.up) == [(chain[2].ref, 1), (chain[1].ref, 2), (chain[0].ref, 3)]
    assert not short.truncated and len(short.down) == MAX_LINEAGE_DEPTH - 1

    # a cycle no commit can make (inputs are committed before their outputs): put in by hand
    with cat.catalog.engine.begin() as conn:
        first_pk = conn.execute(
            sa.select(versions.c.pk).where(
                versions.c.dataset_id == ds, versions.c.version == chain[0].version
            )
        ).scalar_one()
        conn.execute(
            sa.insert(lineage_inputs).values(
                version_pk=first_pk, name="loop", dataset_id=ds, version=chain[3].version
            )
        )
    looped = cat.graph(chain[3])
    assert refs(looped.up) == [(chain[2].ref, 1), (chain[1].ref, 2), (chain[0].ref, 3)]
    assert chain[3].ref not in [s.ref for s in looped.up + looped.down]


def test_a_walk_reads_a_level_at_a_time_whatever_its_width(cat: Cat) -> None:
    """raw -> N versions -> one version each: the queries do not grow with N."""

    def queries(width: int) -> int:
        raw = cat.version(cat.dataset(f"raw{width}"))
        wide, deep = cat.dataset(f"wide{width}"), cat.dataset(f"deep{width}")
        for n in range(width):
            middle = cat.version(wide, made_by(f"a{n}", ("raw", raw.ref)))
            cat.version(deep, made_by(f"b{n}", ("mid", middle.ref)))
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(args[2])

        sa.event.listen(cat.catalog.engine, "before_cursor_execute", count)
        try:
            graph = cat.graph(raw)
        finally:
            sa.event.remove(cat.catalog.engine, "before_cursor_execute", count)
        assert len(graph.down) == 2 * width and [s.depth for s in graph.down[:2]] == [1, 2]
        return len(statements)

    assert queries(3) == queries(30)


def test_another_teams_lineage_is_not_walked(cat: Cat) -> None:
    c = cat.catalog
    raw = cat.version(cat.dataset("raw"))
    made = cat.version(cat.dataset("clean"), made_by("prep", ("data", raw.ref)))
    other = c.add_team(ids.new_team_id(), "other")
    with pytest.raises(errors.VersionNotFound):
        c.lineage_graph(other.id, made.dataset_id, made.version)


# -- the service protocol, three ways ---------------------------------------------------------


def committed_with(svc: Services, tmp: Path, dataset: str, lineage: Lineage | None) -> Version:
    """A version of `dataset` (created if needed) holding one file, committed with lineage."""
    try:
        svc.datasets.get(dataset)
    except errors.DatasetNotFound:
        svc.datasets.create(dataset)
    v = svc.versions.create(dataset)
    src = write_tree(tmp / uuid.uuid4().hex, {f"{dataset}.txt": dataset.encode()})
    put(svc, v.ref, [str(src)])
    return svc.versions.commit(v.ref, lineage)


def test_a_chain_made_by_hand_walks_both_ways(svc: Services, tmp_path: Path) -> None:
    raw = committed_with(svc, tmp_path, "raw", None)
    prep = made_by("prep", ("data", raw.ref), output="clean")
    clean = committed_with(svc, tmp_path, "clean", prep)
    train = made_by("train", ("clean", clean.ref), output="model", run=2)
    model = committed_with(svc, tmp_path, "model", train)

    assert clean.lineage == prep and model.lineage == train
    assert svc.versions.get("model:latest").lineage == train
    assert svc.versions.get(model.ref).file_count == 1
    assert svc.versions.get(raw.ref).lineage is None

    up = svc.versions.lineage("model")
    assert up == LineageGraph(
        ref=model.ref,
        lineage=train,
        dataset_name="model",
        up=(
            LineageStep(clean.ref, 1, "clean", prep),
            LineageStep(raw.ref, 2, "raw", None),
        ),
    )
    down = svc.versions.lineage(raw.ref)
    assert down.lineage is None and down.up == ()
    assert down.down == (
        LineageStep(clean.ref, 1, "clean", prep),
        LineageStep(model.ref, 2, "model", train),
    )
    assert wire.version(svc.versions.get(clean.ref))["lineage"] == {
        "workflowId": WORKFLOW,
        "run": 1,
        "job": "prep",
        "output": "clean",
        "specSha256": SPEC,
        "inputs": [{"name": "data", "id": raw.ref}],
        "strings": {"epochs": "3"},
    }
    assert "lineage" not in wire.version(raw)  # Gradient's shape, as before
    shown = wire.lineage_graph(up)
    assert [(s["id"], s["depth"], s["datasetName"]) for s in shown["up"]] == [
        (clean.ref, 1, "clean"),
        (raw.ref, 2, "raw"),
    ]

    svc.versions.delete(raw.ref)
    assert svc.versions.lineage(model.ref).up[1] == LineageStep(raw.ref, 2, "raw", deleted=True)


def bad(**changes: Any) -> Lineage:
    return replace(made_by("j"), **changes)


@pytest.mark.parametrize(
    "lineage",
    [
        bad(workflow_id="not-a-uuid"),
        bad(workflow_id=""),
        bad(run=0),
        bad(run=2**31),
        bad(job=""),
        bad(job="x" * 101),
        bad(output=""),
        bad(output="a\nb"),
        bad(spec_sha256="abc"),
        bad(spec_sha256=SPEC.upper()),
        bad(inputs=(LineageInput("", "dsr8k5qzn401lb5", "klfoyy9"),)),
        bad(inputs=(LineageInput("data", "raw", "latest"),)),
        bad(inputs=(LineageInput("data", "dsr8k5qzn401lb5", "latest"),)),
        bad(inputs=(LineageInput("x", "dsr8k5qzn401lb5", "klfoyy9"),) * 2),
        bad(strings={"": "x"}),
    ],
)
def test_a_malformed_lineage_is_refused_and_nothing_is_committed(
    svc: Services, lineage: Lineage
) -> None:
    svc.datasets.create("out")
    v = svc.versions.create("out")
    with pytest.raises(errors.InvalidInput) as caught:
        svc.versions.commit(v.ref, lineage)
    assert type(caught.value) is errors.InvalidInput
    assert "Invalid lineage" in caught.value.message
    assert not svc.versions.get(v.ref).is_committed


def test_inputs_must_be_committed_versions_that_exist(svc: Services) -> None:
    svc.datasets.create("raw")
    open_one = svc.versions.create("raw")
    v = svc.versions.create(svc.datasets.create("out").id)
    with pytest.raises(errors.VersionNotCommitted):
        svc.versions.commit(v.ref, made_by("j", ("data", open_one.ref)))
    with pytest.raises(errors.VersionNotFound):
        svc.versions.commit(v.ref, made_by("j", ("data", "dsr8k5qzn401lb5:klfoyy9")))
    assert not svc.versions.get(v.ref).is_committed
    assert svc.versions.commit(v.ref).lineage is None  # plain commits are as before
    with pytest.raises(errors.VersionNotFound):
        svc.versions.lineage("out:nothere")


def test_the_workflow_id_is_kept_in_canonical_form(svc: Services) -> None:
    svc.datasets.create("out")
    v = svc.versions.create("out")
    shouted = WORKFLOW.upper()
    assert svc.versions.commit(v.ref, bad(workflow_id=shouted)).lineage == made_by("j")


# -- two teams on one server -------------------------------------------------------------------


@pytest.fixture
def server(cargohold_home: Path) -> Iterator[TestServer]:
    server = TestServer(Settings.from_env())
    yield server
    server.close()


def test_teams_never_see_or_use_each_others_lineage(server: TestServer, tmp_path: Path) -> None:
    a = server.services(server.key("team-a"))
    b = server.services(server.key("team-b"))
    raw = committed_with(a, tmp_path, "raw", None)
    clean = committed_with(a, tmp_path, "clean", made_by("prep", ("data", raw.ref)))

    with pytest.raises(errors.DatasetNotFound):
        b.versions.lineage(clean.ref)
    b.datasets.create("mine")
    v = b.versions.create("mine")
    with pytest.raises(errors.VersionNotFound):
        b.versions.commit(v.ref, made_by("steal", ("data", raw.ref)))
    assert not b.versions.get(v.ref).is_committed
    http = server.http(server.admin.create_key("team-b")[1])
    answer = http.get(f"/api/v1/versions/{clean.ref}/lineage")
    assert answer.status_code == 404 and "prep" not in answer.text
    # what B makes never shows up under A's versions
    mine = b.versions.commit(v.ref, made_by("own"))
    assert a.versions.lineage(raw.ref).down == (LineageStep(clean.ref, 1, "clean", clean.lineage),)
    assert b.versions.lineage(mine.ref).up == ()


def test_the_commit_route_takes_no_body_or_a_lineage(server: TestServer) -> None:
    http = server.http(server.key("team"))
    ds = http.post("/api/v1/datasets", json={"name": "d"}).json()["id"]

    def new() -> str:
        ref: str = http.post(f"/api/v1/datasets/{ds}/versions", json={}).json()["id"]
        return ref

    assert http.post(f"/api/v1/versions/{new()}/commit").json()["isCommitted"]
    body = {"lineage": wire.lineage(made_by("j"))}
    made = http.post(f"/api/v1/versions/{new()}/commit", json=body).json()
    assert made["lineage"] == wire.lineage(made_by("j"))
    for wrong in (
        {"lineage": {**body["lineage"], "extra": 1}},
        {"lineage": {**body["lineage"], "inputs": [{"name": "x", "id": "no-colon"}]}},
        {"lineage": {**body["lineage"], "run": "one"}},
        {"other": 1},
    ):
        answer = http.post(f"/api/v1/versions/{new()}/commit", json=wrong)
        assert answer.status_code == 400, (wrong, answer.text)


# -- the CLI, locally and against a server -----------------------------------------------------


def services_like_the_cli() -> Services:
    """Services for the same catalog or server the CLI of this test talks to."""
    from cargohold.client.services import connect

    settings = Settings.from_env()
    return connect(settings) if settings.server else build_services(settings)


def test_details_and_lineage_show_a_two_job_chain(cli: Cli, tmp_path: Path) -> None:
    svc = services_like_the_cli()
    try:
        raw = committed_with(svc, tmp_path, "raw", None)
        clean = committed_with(svc, tmp_path, "clean", made_by("prep", ("data", raw.ref)))
        model = committed_with(
            svc, tmp_path, "model", made_by("train", ("clean", clean.ref), run=2)
        )
    finally:
        svc.close()

    shown = cli.ok("datasets", "versions", "details", "--id", model.ref).out
    assert "| Job " in shown and "train" in shown and f"clean: {clean.ref}" in shown
    assert WORKFLOW in shown and SPEC in shown
    assert "Workflow" not in cli.ok("datasets", "versions", "details", "--id", raw.ref).out
    as_json = cli.json("datasets", "versions", "details", "--id", model.ref)
    assert as_json["lineage"]["job"] == "train"
    assert as_json["lineage"]["inputs"] == [{"name": "clean", "id": clean.ref}]

    out = cli.ok("datasets", "versions", "lineage", "--id", model.ref).out
    lines = out.splitlines()
    assert lines[0] == f"Version {model.ref} (model)"
    assert lines[1] == (
        f"Made by: job train (output out) of workflow {WORKFLOW}, run 2, spec {SPEC[:12]}"
    )
    assert lines[2] == "Made from:"
    assert lines[3] == (
        f"  {clean.ref} (clean): made by job prep (output out) of workflow {WORKFLOW}, run 1"
    )
    assert lines[4] == f"    {raw.ref} (raw): made by hand (no workflow recorded)"
    assert lines[5] == "Used by: no version made from it"

    out = cli.ok("datasets", "versions", "lineage", "--id", "raw:latest").out
    assert "Made by: hand (no workflow recorded)" in out
    assert "Made from: nothing recorded (made by hand)" in out
    assert f"  {clean.ref} (clean): made by job prep" in out
    assert f"    {model.ref} (model): made by job train" in out

    graph = cli.json("datasets", "versions", "lineage", "--id", model.ref)
    assert [(s["id"], s["depth"]) for s in graph["up"]] == [(clean.ref, 1), (raw.ref, 2)]
    assert graph["up"][0]["lineage"]["job"] == "prep" and graph["up"][1]["lineage"] is None

    missing = cli("datasets", "versions", "lineage", "--id", "raw:nothere")
    assert missing.code == 1 and "Traceback" not in missing.err + missing.out
    assert "not found" in (missing.err + missing.out).lower()
