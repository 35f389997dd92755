"""Runs the server executes: POST /api/v1/workflows/execute.

The spec's text (and its inputs file's) is checked exactly as `workflows run` checks it on a
client, the run recorded, and its jobs run on the server's machine in a thread of the server
process, so the run goes on when the client that started it goes away. The reply is the run
as recorded (PENDING); its progress is read from the run record and the job logs.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from fastapi import APIRouter
from pydantic import Field

from cargohold.api.deps import TeamServices
from cargohold.api.native import Body
from cargohold.domain import wire
from cargohold.workflows import load_spec
from cargohold.workflows.runner import RunOptions, execute, prepare_run, workflow_for

router = APIRouter(prefix="/api/v1")
log = logging.getLogger("cargohold.runs")

Json = dict[str, Any]


class Execute(Body):
    spec: str = Field(description="The spec file's text (YAML).")
    source: str = Field("spec.yaml", description="The spec file's name, for messages.")
    inputs: str | None = Field(None, description="The --inputPath file's text (YAML).")
    inputs_source: str = Field("inputs.yaml", alias="inputsSource")
    workflow: str | None = Field(
        None, description="Workflow ID or name; default: the one named after the spec file."
    )


@router.post("/workflows/execute", status_code=201, tags=["workflows"])
def execute_run(body: Execute, s: TeamServices) -> Json:
    """Check and record a run, then run its jobs on the server; answers the run (PENDING)."""
    spec = load_spec(body.spec, body.source, body.inputs, body.inputs_source)
    prepared = prepare_run(
        s, lambda: workflow_for(s.workflows, body.workflow, body.source), body.spec, spec
    )

    def run() -> None:
        try:
            execute(prepared, RunOptions())
        except Exception:  # the run's own record says what failed; this is for the operator
            log.exception("workflow run %s failed to run", prepared.run.log_id)
        finally:
            s.close()  # the cache this run opened (the platform's parts stay)

    name = f"run-{prepared.workflow.id}-{prepared.run.number}"
    threading.Thread(target=run, name=name, daemon=True).start()
    return wire.run(prepared.run)
