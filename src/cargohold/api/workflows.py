"""Workflows and the records of their runs under /api/v1 (services/workflow_records.py).

A workflow is named in the path by its UUID or its name, a run by its number, a job by its
name; logs by their log ID (a job's `wfrj...`, or a run's `wfr...`: every job's lines).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field

from cargohold.api.deps import TeamServices
from cargohold.api.native import Body
from cargohold.domain import wire

router = APIRouter(prefix="/api/v1")

Json = dict[str, Any]


class NewWorkflow(Body):
    name: str


class NewRun(Body):
    spec: Json
    spec_sha256: str = Field(alias="specSha256")
    inputs: Json = Field(default_factory=dict)
    jobs: list[str]


class RunChange(Body):
    phase: str
    inputs: Json | None = None
    error: str | None = None


class JobChange(Body):
    phase: str
    exit_code: int | None = Field(None, alias="exitCode")
    outputs: Json | None = None
    error: str | None = None


class LogLines(Body):
    messages: list[str]


@router.post("/workflows", status_code=201, tags=["workflows"])
def create_workflow(body: NewWorkflow, s: TeamServices) -> Json:
    return wire.workflow(s.workflows.create(body.name))


@router.get("/workflows", tags=["workflows"])
def list_workflows(s: TeamServices) -> list[Json]:
    return [wire.workflow(w) for w in s.workflows.list()]


@router.get("/workflows/{key}", tags=["workflows"])
def get_workflow(key: str, s: TeamServices) -> Json:
    """By UUID or by name."""
    return wire.workflow(s.workflows.get(key))


@router.post("/workflows/{key}/runs", status_code=201, tags=["workflows"])
def start_run(key: str, body: NewRun, s: TeamServices) -> Json:
    found = s.workflows.start_run(key, body.spec, body.spec_sha256, body.inputs, body.jobs)
    return wire.run(found)


@router.get("/workflows/{key}/runs", tags=["workflows"])
def list_runs(key: str, s: TeamServices) -> list[Json]:
    return [wire.run(r) for r in s.workflows.runs(key)]


@router.get("/workflows/{key}/runs/{number}", tags=["workflows"])
def get_run(key: str, number: int, s: TeamServices) -> Json:
    return wire.run(s.workflows.run(key, number))


@router.patch("/workflows/{key}/runs/{number}", tags=["workflows"])
def set_run(key: str, number: int, body: RunChange, s: TeamServices) -> Json:
    changed = s.workflows.set_run(key, number, body.phase, inputs=body.inputs, error=body.error)
    return wire.run(changed)


@router.patch("/workflows/{key}/runs/{number}/jobs/{job:path}", tags=["workflows"])
def set_job(key: str, number: int, job: str, body: JobChange, s: TeamServices) -> Json:
    changed = s.workflows.set_job(
        key,
        number,
        job,
        body.phase,
        exit_code=body.exit_code,
        outputs=body.outputs,
        error=body.error,
    )
    return wire.job_status(changed)


@router.post("/logs/{log_id}", tags=["workflows"])
def append_log(log_id: str, body: LogLines, s: TeamServices) -> Json:
    """Add lines to a job's log; answers the number of its last line."""
    return {"logId": log_id, "line": s.workflows.append_log(log_id, body.messages)}


@router.get("/logs/{log_id}", tags=["workflows"])
def get_logs(
    log_id: str,
    s: TeamServices,
    line: int = Query(0, ge=0, description="lines after this one (0: from the start)"),
    limit: int = Query(10000, ge=1, description="lines at most"),
) -> list[Json]:
    return [wire.log_line(x) for x in s.workflows.logs(log_id, line, limit)]
