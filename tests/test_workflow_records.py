"""Workflows and the records of their runs: the catalog (SQLite and PostgreSQL), the service
protocol three ways (in-process, ASGI, uvicorn), teams kept apart over HTTP, JSON shapes."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from cargohold import errors
from cargohold.catalog import Catalog
from cargohold.catalog.job_logs import LogLimits
from cargohold.domain import ids, wire
from cargohold.domain.workflows import Run
from cargohold.services import Services
from cargohold.settings import Settings
from tests.server_helpers import TestServer

SHA = "ab" * 32
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


# -- the catalog, on SQLite and PostgreSQL --------------------------------------------------


@pytest.fixture
def catalog(catalog_url: str) -> Iterator[Catalog]:
    cat = Catalog(catalog_url)
    cat.add_team("teaaaaaaa", "team-a")
    cat.add_team("tebbbbbbb", "team-b")
    yield cat
    cat.close()


A, B = "teaaaaaaa", "tebbbbbbb"


def new_run(cat: Catalog, key: str = "wf", jobs: tuple[str, ...] = ("a", "b", "c")) -> Run:
    return cat.add_run(A, key, {"jobs": {j: {} for j in jobs}}, SHA, {}, list(jobs))


def test_workflows_by_uuid_or_name_with_names_unique_per_team(catalog: Catalog) -> None:
    wf = catalog.add_workflow(A, ids.new_workflow_id(), "nightly")
    assert UUID.fullmatch(wf.id) and (wf.name, wf.team_id) == ("nightly", A)
    assert catalog.get_workflow(A, wf.id) == wf
    assert catalog.get_workflow(A, wf.id.upper()) == wf
    assert catalog.get_workflow(A, "nightly") == wf
    with pytest.raises(errors.NameTaken, match="nightly"):
        catalog.add_workflow(A, ids.new_workflow_id(), "nightly")
    other = catalog.add_workflow(B, ids.new_workflow_id(), "nightly")
    catalog.add_workflow(A, ids.new_workflow_id(), "a-first")
    assert [w.name for w in catalog.list_workflows(A)] == ["a-first", "nightly"]
    assert catalog.list_workflows(B) == [other]
    for key in (wf.id, "a-first"):
        with pytest.raises(errors.WorkflowNotFound):
            catalog.get_workflow(B, key)


def test_runs_are_numbered_per_workflow_with_log_ids_and_jobs_in_order(catalog: Catalog) -> None:
    for name in ("wf", "other"):
        catalog.add_workflow(A, ids.new_workflow_id(), name)
    first = new_run(catalog, jobs=("prepare", "train", "evaluate"))
    second = new_run(catalog, jobs=("z", "a"))
    assert new_run(catalog, "other").number == 1
    assert (first.number, second.number) == (1, 2)
    assert first.phase == "PENDING" and first.started is first.finished is None
    assert [j.name for j in first.jobs] == ["prepare", "train", "evaluate"]
    assert [j.name for j in second.jobs] == ["z", "a"]
    assert all(j.phase == "PENDING" and ids.is_job_log_id(j.log_id) for j in first.jobs)
    assert ids.is_run_log_id(first.log_id) and first.log_id != second.log_id
    assert (first.spec_sha256, first.spec) == (
        SHA,
        {"jobs": {"prepare": {}, "train": {}, "evaluate": {}}},
    )
    assert catalog.list_runs(A, "wf") == [first, second]
    assert catalog.get_run(A, "wf", 2) == second
    with pytest.raises(errors.WorkflowRunNotFound, match="Run 3 of workflow wf"):
        catalog.get_run(A, "wf", 3)


def test_runs_started_at_once_get_distinct_numbers(catalog: Catalog) -> None:
    catalog.add_workflow(A, ids.new_workflow_id(), "wf")
    starters = 8
    barrier = threading.Barrier(starters)

    def start(_: int) -> int:
        barrier.wait()
        return new_run(catalog).number

    with ThreadPoolExecutor(max_workers=starters) as pool:
        numbers = list(pool.map(start, range(starters)))
    assert sorted(numbers) == list(range(1, starters + 1))


def test_lines_appended_at_once_get_distinct_numbers_batch_by_batch(catalog: Catalog) -> None:
    catalog.add_workflow(A, ids.new_workflow_id(), "wf")
    log = new_run(catalog).jobs[0].log_id
    writers, batches, size = 6, 5, 40
    barrier = threading.Barrier(writers)

    def write(w: int) -> list[int]:
        barrier.wait()
        return [
            catalog.append_log(A, log, [f"{w}:{b}:{i}" for i in range(size)])
            for b in range(batches)
        ]

    with ThreadPoolExecutor(max_workers=writers) as pool:
        lasts = [n for found in pool.map(write, range(writers)) for n in found]
    total = writers * batches * size
    lines = catalog.log_lines(A, log, limit=total + 10)
    assert [x.line for x in lines] == list(range(1, total + 1))
    assert sorted(lasts) == list(range(size, total + 1, size))
    for last in lasts:  # each batch is one block of lines, in the order it was given
        block = [x.message.split(":") for x in lines[last - size : last]]
        assert len({(w, b) for w, b, _ in block}) == 1
        assert [int(i) for _, _, i in block] == list(range(size))


def test_a_run_moves_forward_only_and_never_once_finished(catalog: Catalog) -> None:
    catalog.add_workflow(A, ids.new_workflow_id(), "wf")
    new_run(catalog)
    running = catalog.set_run_phase(A, "wf", 1, "RUNNING", inputs={"x": {"with": {"value": "1"}}})
    assert running.started is not None and running.finished is None
    assert running.inputs == {"x": {"with": {"value": "1"}}}
    again = catalog.set_run_phase(A, "wf", 1, "RUNNING")
    assert (again.started, again.inputs) == (running.started, running.inputs)
    with pytest.raises(errors.Conflict, match="RUNNING and cannot go back to PENDING"):
        catalog.set_run_phase(A, "wf", 1, "PENDING")
    catalog.set_job_phase(A, "wf", 1, "a", "SUCCEEDED", exit_code=0)
    with pytest.raises(errors.Conflict, match="jobs b, c have not finished"):
        catalog.set_run_phase(A, "wf", 1, "SUCCEEDED")
    catalog.set_job_phase(A, "wf", 1, "b", "RUNNING")
    failed = catalog.set_run_phase(A, "wf", 1, "FAILED", error="job b: out of memory")
    assert failed.finished is not None and failed.error == "job b: out of memory"
    phases = {j.name: (j.phase, j.finished is not None) for j in failed.jobs}
    assert phases == {"a": ("SUCCEEDED", True), "b": ("CANCELLED", True), "c": ("SKIPPED", True)}
    for change in (
        lambda: catalog.set_run_phase(A, "wf", 1, "SUCCEEDED"),
        lambda: catalog.set_run_phase(A, "wf", 1, "FAILED"),
        lambda: catalog.set_job_phase(A, "wf", 1, "c", "RUNNING"),
        lambda: catalog.append_log(A, failed.jobs[0].log_id, ["late"]),
    ):
        with pytest.raises(errors.Conflict, match=r"Run 1 of workflow wf has finished \(FAILED\)"):
            change()
    assert catalog.get_run(A, "wf", 1) == failed


def test_a_job_moves_forward_only_and_records_its_end(catalog: Catalog) -> None:
    catalog.add_workflow(A, ids.new_workflow_id(), "wf")
    new_run(catalog)
    catalog.set_run_phase(A, "wf", 1, "RUNNING")
    started = catalog.set_job_phase(A, "wf", 1, "a", "RUNNING")
    assert started.started is not None and started.finished is None
    outputs = {"data": {"dataset": {"id": "dsx:abc1234", "isCommitted": True}}}
    done = catalog.set_job_phase(A, "wf", 1, "a", "SUCCEEDED", exit_code=0, outputs=outputs)
    assert (done.phase, done.exit_code, done.outputs, done.started) == (
        "SUCCEEDED",
        0,
        outputs,
        started.started,
    )
    assert done.finished is not None
    with pytest.raises(errors.Conflict, match=r"Job a of run 1 of workflow wf has finished"):
        catalog.set_job_phase(A, "wf", 1, "a", "FAILED")
    skipped = catalog.set_job_phase(A, "wf", 1, "b", "SKIPPED")
    assert skipped.started is None and skipped.finished is not None
    failed = catalog.set_job_phase(A, "wf", 1, "c", "FAILED", exit_code=-9, error="killed")
    assert (failed.exit_code, failed.error) == (-9, "killed")
    with pytest.raises(errors.NotFound, match="no job named 'd'") as caught:
        catalog.set_job_phase(A, "wf", 1, "d", "RUNNING")
    assert caught.value.hint == "Its jobs: a, b, c"
    finished = catalog.set_run_phase(A, "wf", 1, "SUCCEEDED")
    assert [j.phase for j in finished.jobs] == ["SUCCEEDED", "SKIPPED", "FAILED"]


def test_logs_page_by_line_and_a_run_log_reads_every_job(catalog: Catalog) -> None:
    catalog.add_workflow(A, ids.new_workflow_id(), "wf")
    run = new_run(catalog, jobs=("first", "second"))
    first, second = (j.log_id for j in run.jobs)
    assert catalog.log_lines(A, first) == []
    assert catalog.append_log(A, second, ["s1", "s2"]) == 2
    assert catalog.append_log(A, first, [f"f{i}" for i in range(1, 6)]) == 5
    assert catalog.append_log(A, first, []) == 5
    page = catalog.log_lines(A, first, after=1, limit=3)
    assert [(x.line, x.message) for x in page] == [(2, "f2"), (3, "f3"), (4, "f4")]
    assert catalog.log_lines(A, first, after=5) == []
    everything = [(x.line, x.message) for x in catalog.log_lines(A, run.log_id)]
    assert everything == [
        *((i, f"first | f{i}") for i in range(1, 6)),
        (6, "second | s1"),
        (7, "second | s2"),
    ]
    tail = catalog.log_lines(A, run.log_id, after=4, limit=2)
    assert [(x.line, x.message) for x in tail] == [(5, "first | f5"), (6, "second | s1")]
    with pytest.raises(errors.InvalidInput, match="run's log ID"):
        catalog.append_log(A, run.log_id, ["x"])


def test_logs_belong_to_their_team(catalog: Catalog) -> None:
    catalog.add_workflow(A, ids.new_workflow_id(), "wf")
    run = new_run(catalog)
    job_log = run.jobs[0].log_id
    catalog.append_log(A, job_log, ["secret"])
    for log_id in (job_log, run.log_id, ids.new_job_log_id(), ids.new_run_log_id(), "nope"):
        with pytest.raises(errors.LogNotFound):
            catalog.log_lines(B, log_id)
    for log_id in (job_log, ids.new_job_log_id(), "nope"):
        with pytest.raises(errors.LogNotFound):
            catalog.append_log(B, log_id, ["x"])
    assert [x.message for x in catalog.log_lines(A, job_log)] == ["secret"]


def test_a_log_keeps_at_most_its_limits_and_counts_what_it_dropped(catalog: Catalog) -> None:
    catalog.log_limits = LogLimits(lines=5, bytes=10_000, line_chars=8)
    catalog.add_workflow(A, ids.new_workflow_id(), "wf")
    log = new_run(catalog).jobs[0].log_id
    assert catalog.append_log(A, log, ["1", "2", "0123456789abc"]) == 3
    assert catalog.append_log(A, log, ["4", "5", "6", "7"]) == 6
    assert catalog.append_log(A, log, ["8", "9"]) == 6
    lines = [(x.line, x.message) for x in catalog.log_lines(A, log)]
    assert lines[:5] == [
        (1, "1"),
        (2, "2"),
        (3, "01234567 [... 5 characters cut]"),
        (4, "4"),
        (5, "5"),
    ]
    assert lines[5][0] == 6
    assert lines[5][1].startswith("[cargohold] 4 more line(s) dropped: a job's log keeps at most 5")


def test_a_log_keeps_at_most_its_bytes(catalog: Catalog) -> None:
    catalog.log_limits = LogLimits(lines=1000, bytes=10, line_chars=100)
    catalog.add_workflow(A, ids.new_workflow_id(), "wf")
    log = new_run(catalog).jobs[0].log_id
    assert catalog.append_log(A, log, ["aaaa", "ééé"]) == 2  # 4 + 6 bytes of UTF-8
    assert catalog.append_log(A, log, ["b"]) == 3
    assert catalog.append_log(A, log, ["c", "d"]) == 3
    messages = [x.message for x in catalog.log_lines(A, log)]
    assert messages[:2] == ["aaaa", "ééé"]
    assert messages[2].startswith("[cargohold] 3 more line(s) dropped")


def test_lines_the_database_could_not_hold_are_cleaned(catalog: Catalog) -> None:
    catalog.add_workflow(A, ids.new_workflow_id(), "wf")
    log = new_run(catalog).jobs[0].log_id
    raw = b"ok \xff\xfe bytes".decode("utf-8", "surrogateescape")
    catalog.append_log(A, log, ["nul\x00here", raw, "ünïcode ✓"])
    messages = [x.message for x in catalog.log_lines(A, log)]
    assert messages == ["nul\ufffdhere", "ok ?? bytes", "ünïcode ✓"]


def test_json_keeps_what_text_columns_could_not(catalog: Catalog) -> None:
    catalog.add_workflow(A, ids.new_workflow_id(), "wf")
    odd = {"nul\x00": "a\x00b", "half": "\ud800", "deep": [{"x": None, "y": 1.5}]}
    catalog.add_run(A, "wf", odd, SHA, odd, ["j"])
    catalog.set_job_phase(A, "wf", 1, "j", "SUCCEEDED", outputs=odd)
    found = catalog.get_run(A, "wf", 1)
    assert found.spec == found.inputs == found.jobs[0].outputs == odd


# -- the service protocol, three ways -------------------------------------------------------


def test_the_whole_life_of_a_run(svc: Services) -> None:
    wf = svc.workflows.create("nightly")
    assert UUID.fullmatch(wf.id) and wf.team_id == svc.team.id
    assert svc.workflows.get(wf.id) == svc.workflows.get("nightly") == wf
    assert svc.workflows.list() == [wf]
    spec = {"jobs": {"prepare": {"uses": "script@v1"}, "train": {}, "report": {}}}
    run = svc.workflows.start_run("nightly", spec, SHA, {}, ["prepare", "train", "report"])
    assert (run.number, run.phase, run.spec, run.spec_sha256) == (1, "PENDING", spec, SHA)
    assert [j.name for j in run.jobs] == ["prepare", "train", "report"]
    inputs = {"data": {"dataset": {"id": "dsx:qdwlyje"}, "with": {"id": "dsx"}}}
    running = svc.workflows.set_run(wf.id, 1, "RUNNING", inputs=inputs)
    assert running.inputs == inputs and running.started is not None
    logs = {j.name: j.log_id for j in run.jobs}
    svc.workflows.set_job(wf.id, 1, "prepare", "RUNNING")
    assert svc.workflows.append_log(logs["prepare"], ["one", "two"]) == 2
    big = [f"line {i}" for i in range(3, 20_003)]
    assert svc.workflows.append_log(logs["prepare"], big) == 20_002
    page = svc.workflows.logs(logs["prepare"], line=19_999, limit=10)
    assert [(x.line, x.message) for x in page] == [
        (20_000, "line 20000"),
        (20_001, "line 20001"),
        (20_002, "line 20002"),
    ]
    assert len(svc.workflows.logs(logs["prepare"])) == 10_000
    assert svc.workflows.logs(logs["prepare"], line=2**40) == []
    outputs = {"data": {"dataset": {"id": "dsy:zfk5vqx", "isCommitted": True}}}
    done = svc.workflows.set_job(wf.id, 1, "prepare", "SUCCEEDED", exit_code=0, outputs=outputs)
    assert (done.name, done.phase, done.exit_code, done.outputs) == (
        "prepare",
        "SUCCEEDED",
        0,
        outputs,
    )
    svc.workflows.set_job(wf.id, 1, "train", "RUNNING")
    svc.workflows.append_log(logs["train"], ["Traceback...", "MemoryError"])
    svc.workflows.set_job(wf.id, 1, "train", "FAILED", exit_code=1, error="exit code 1")
    svc.workflows.set_job(wf.id, 1, "report", "SKIPPED")
    ended = svc.workflows.set_run("nightly", 1, "FAILED", error="job train failed")
    assert (ended.phase, ended.error) == ("FAILED", "job train failed")
    assert ended.finished is not None and ended.started == running.started
    assert [(j.phase, j.exit_code) for j in ended.jobs] == [
        ("SUCCEEDED", 0),
        ("FAILED", 1),
        ("SKIPPED", None),
    ]
    assert svc.workflows.run("nightly", 1) == ended
    assert svc.workflows.runs(wf.id) == [ended]
    run_log = svc.workflows.logs(ended.log_id, line=20_001)
    assert svc.workflows.logs(ended.log_id, line=2**40) == []
    assert [x.message for x in run_log] == [
        "prepare | line 20002",
        "train | Traceback...",
        "train | MemoryError",
    ]
    for refused in (
        lambda: svc.workflows.set_run(wf.id, 1, "SUCCEEDED"),
        lambda: svc.workflows.set_job(wf.id, 1, "report", "RUNNING"),
        lambda: svc.workflows.append_log(logs["train"], ["late"]),
    ):
        with pytest.raises(errors.Conflict) as caught:
            refused()
        assert type(caught.value) is errors.Conflict
        assert "has finished (FAILED)" in caught.value.message
    second = svc.workflows.start_run(wf.id, spec, SHA, {}, ["prepare"])
    assert second.number == 2 and second.log_id != ended.log_id


Call = Callable[[Services], Any]


def _with_run(call: Callable[[Services, Run], Any]) -> Call:
    def made(s: Services) -> Any:
        s.workflows.create("wf")
        return call(s, s.workflows.start_run("wf", {}, SHA, {}, ["a"]))

    return made


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.workflows.get("nope"), errors.WorkflowNotFound),
        (lambda s: s.workflows.get(ids.new_workflow_id()), errors.WorkflowNotFound),
        (lambda s: s.workflows.get(""), errors.WorkflowNotFound),
        (lambda s: s.workflows.get(".."), errors.WorkflowNotFound),
        (lambda s: s.workflows.runs("nope"), errors.WorkflowNotFound),
        (lambda s: s.workflows.start_run("nope", {}, SHA, {}, ["a"]), errors.WorkflowNotFound),
        (lambda s: s.workflows.create("bad name"), errors.InvalidName),
        (lambda s: s.workflows.create(ids.new_workflow_id()), errors.InvalidName),
        (lambda s: s.workflows.logs(ids.new_job_log_id()), errors.LogNotFound),
        (lambda s: s.workflows.logs(ids.new_run_log_id()), errors.LogNotFound),
        (lambda s: s.workflows.logs("nope"), errors.LogNotFound),
        (lambda s: s.workflows.append_log(ids.new_job_log_id(), ["x"]), errors.LogNotFound),
        (lambda s: s.workflows.logs("nope", line=-1), errors.InvalidInput),
        (lambda s: s.workflows.logs("nope", limit=0), errors.InvalidInput),
        (_with_run(lambda s, r: s.workflows.create("wf")), errors.NameTaken),
        (_with_run(lambda s, r: s.workflows.run("wf", 2)), errors.WorkflowRunNotFound),
        (_with_run(lambda s, r: s.workflows.run("wf", 2**40)), errors.WorkflowRunNotFound),
        (_with_run(lambda s, r: s.workflows.run("wf", 0)), errors.InvalidInput),
        (
            _with_run(lambda s, r: s.workflows.set_run("wf", 2, "RUNNING")),
            errors.WorkflowRunNotFound,
        ),
        (_with_run(lambda s, r: s.workflows.set_run("wf", 1, "SKIPPED")), errors.InvalidInput),
        (_with_run(lambda s, r: s.workflows.set_run("wf", 1, "running")), errors.InvalidInput),
        (_with_run(lambda s, r: s.workflows.set_job("wf", 1, "b", "RUNNING")), errors.NotFound),
        (_with_run(lambda s, r: s.workflows.set_job("wf", 1, "a", "DONE")), errors.InvalidInput),
        (
            _with_run(lambda s, r: s.workflows.set_job("wf", 1, "a", "FAILED", exit_code=2**40)),
            errors.InvalidInput,
        ),
        (_with_run(lambda s, r: s.workflows.append_log(r.log_id, ["x"])), errors.InvalidInput),
        (_with_run(lambda s, r: s.workflows.set_run("wf", 1, "SUCCEEDED")), errors.Conflict),
        (
            _with_run(lambda s, r: s.workflows.start_run("wf", {}, "abc", {}, [])),
            errors.InvalidInput,
        ),
        (
            _with_run(lambda s, r: s.workflows.start_run("wf", {}, SHA, {}, ["a", "a"])),
            errors.InvalidInput,
        ),
        (
            _with_run(lambda s, r: s.workflows.start_run("wf", {}, SHA, {}, [""])),
            errors.InvalidInput,
        ),
        (
            _with_run(lambda s, r: s.workflows.start_run("wf", {"k": float("nan")}, SHA, {}, [])),
            errors.InvalidInput,
        ),
    ],
)
def test_the_same_errors_come_back(svc: Services, call: Call, error: type) -> None:
    with pytest.raises(error) as caught:
        call(svc)
    assert type(caught.value) is error
    assert caught.value.message


def test_job_names_travel_whole(svc: Services) -> None:
    svc.workflows.create("wf")
    names = ["a/b", "with space", "ü?#%", "x..", "..", ".", "%2E"]
    run = svc.workflows.start_run("wf", {}, SHA, {}, names)
    for name in names:
        assert svc.workflows.set_job("wf", 1, name, "RUNNING").name == name
    assert [j.name for j in svc.workflows.run("wf", run.number).jobs] == names


def test_run_json_has_gradients_shape(svc: Services) -> None:
    svc.workflows.create("wf")
    run = svc.workflows.start_run("wf", {"jobs": {"a": {}}}, SHA, {"i": {"with": {}}}, ["a"])
    svc.workflows.set_run("wf", 1, "RUNNING")
    job = svc.workflows.set_job("wf", 1, "a", "RUNNING")
    found = wire.run(svc.workflows.run("wf", 1))
    assert set(found) == {"id", "workflowId", "cluster", "spec", "status", "dtCreated"}
    assert (found["id"], found["workflowId"], found["cluster"]) == (
        1,
        run.workflow_id,
        {"id": None},
    )
    status = found["status"]
    assert set(status) == {
        "phase",
        "started",
        "finished",
        "logId",
        "inputs",
        "error",
        "specSha256",
        "jobs",
    }
    assert (status["phase"], status["logId"], status["finished"]) == ("RUNNING", run.log_id, None)
    assert status["started"].endswith("Z")
    assert status["jobs"] == {
        "a": {
            "phase": "RUNNING",
            "started": wire.job_status(job)["started"],
            "finished": None,
            "logId": job.log_id,
            "exitCode": None,
            "outputs": {},
            "error": None,
        }
    }
    assert wire.workflow(svc.workflows.get("wf")).keys() == {"id", "name", "teamId", "dtCreated"}


# -- teams apart, over HTTP -----------------------------------------------------------------


@pytest.fixture
def two_teams(cargohold_home: Path) -> Iterator[tuple[TestServer, Services, Services]]:
    server = TestServer(Settings.from_env())
    try:
        yield server, server.services(server.key("team-a")), server.services(server.key("team-b"))
    finally:
        server.close()


def test_another_teams_workflows_runs_and_logs_are_not_found(
    two_teams: tuple[TestServer, Services, Services],
) -> None:
    server, a, b = two_teams
    wf = a.workflows.create("shared-name")
    run = a.workflows.start_run(wf.id, {}, SHA, {}, ["j"])
    job_log = run.jobs[0].log_id
    a.workflows.append_log(job_log, ["a's line"])
    assert b.workflows.list() == []
    for key in (wf.id, "shared-name"):
        for call in (
            lambda k=key: b.workflows.get(k),
            lambda k=key: b.workflows.runs(k),
            lambda k=key: b.workflows.run(k, 1),
            lambda k=key: b.workflows.start_run(k, {}, SHA, {}, ["j"]),
            lambda k=key: b.workflows.set_run(k, 1, "CANCELLED"),
            lambda k=key: b.workflows.set_job(k, 1, "j", "FAILED"),
        ):
            with pytest.raises(errors.WorkflowNotFound):
                call()
    for log_id in (job_log, run.log_id):
        with pytest.raises(errors.LogNotFound):
            b.workflows.logs(log_id)
    with pytest.raises(errors.LogNotFound):
        b.workflows.append_log(job_log, ["b's line"])
    raw = server.http(server.key("team-c"))
    for method, path, body in [
        ("GET", f"/api/v1/workflows/{wf.id}", None),
        ("GET", f"/api/v1/workflows/{wf.id}/runs/1", None),
        ("PATCH", f"/api/v1/workflows/{wf.id}/runs/1", {"phase": "CANCELLED"}),
        ("PATCH", f"/api/v1/workflows/{wf.id}/runs/1/jobs/j", {"phase": "FAILED"}),
        ("GET", f"/api/v1/logs/{job_log}", None),
        ("POST", f"/api/v1/logs/{job_log}", {"messages": ["c"]}),
    ]:
        answer = raw.request(method, path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
    b_own = b.workflows.create("shared-name")
    assert b_own.id != wf.id
    assert a.workflows.run(wf.id, 1) == run
    assert [x.message for x in a.workflows.logs(job_log)] == ["a's line"]


def test_the_http_api_answers_the_wire_shapes(
    two_teams: tuple[TestServer, Services, Services],
) -> None:
    server, _, _ = two_teams
    raw = server.http(server.key("team-raw"))
    made = raw.post("/api/v1/workflows", json={"name": "wf"})
    assert made.status_code == 201, made.text
    wf = made.json()
    body = {"spec": {"jobs": {"j": {}}}, "specSha256": SHA, "inputs": {}, "jobs": ["j"]}
    started = raw.post(f"/api/v1/workflows/{wf['id']}/runs", json=body)
    assert started.status_code == 201, started.text
    run = started.json()
    assert raw.get("/api/v1/workflows/wf/runs/1").json() == run
    assert raw.get("/api/v1/workflows/wf/runs").json() == [run]
    log_id = run["status"]["jobs"]["j"]["logId"]
    appended = raw.post(f"/api/v1/logs/{log_id}", json={"messages": ["x", "y"]})
    assert appended.json() == {"logId": log_id, "line": 2}
    lines = raw.get(f"/api/v1/logs/{log_id}", params={"line": 1})
    assert lines.json() == [{"line": 2, "message": "y"}]
    refused = raw.patch("/api/v1/workflows/wf/runs/1", json={"phase": "RUNNING", "extra": 1})
    assert refused.status_code == 400
    assert raw.post("/api/v1/workflows", json={"name": "wf"}).status_code == 409
