"""WorkflowsAPI (services/protocol.py) over the HTTP API of api/workflows.py."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from cargohold.client import decode
from cargohold.client.http import HttpClient
from cargohold.domain.workflows import JobStatus, LogLine, Run, Workflow
from cargohold.errors import LogNotFound, NotFound, WorkflowNotFound
from cargohold.services.workflow_records import json_object


def _segment(text: str) -> str:
    """One path segment, every reserved character escaped (a job name may hold '/'); a
    name of dots only is escaped too, or it would be read as '.' or '..' of the path."""
    if text.strip(".") == "":
        return text.replace(".", "%2E")
    return quote(text, safe="")


def _key(text: str, missing: type[NotFound], what: str) -> str:
    """A workflow key or log ID as a path segment; an empty one is not found, as the server
    would answer."""
    if not text:
        raise missing(f"{what} not found: {text}")
    return _segment(text)


class HttpWorkflows:
    """JSON objects are checked here as the service checks them (NaN cannot travel)."""

    def __init__(self, api: HttpClient) -> None:
        self.api = api

    def _path(self, workflow: str, number: int | None = None) -> str:
        path = f"/api/v1/workflows/{_key(workflow, WorkflowNotFound, 'Workflow')}"
        return path if number is None else f"{path}/runs/{number}"

    def create(self, name: str) -> Workflow:
        return decode.workflow(self.api.call("POST", "/api/v1/workflows", json={"name": name}))

    def list(self) -> builtins.list[Workflow]:
        return [decode.workflow(j) for j in self.api.call("GET", "/api/v1/workflows")]

    def get(self, key: str) -> Workflow:
        return decode.workflow(self.api.call("GET", self._path(key)))

    def start_run(
        self,
        workflow: str,
        spec: dict[str, Any],
        spec_sha256: str,
        inputs: dict[str, Any],
        jobs: Sequence[str],
    ) -> Run:
        body = {
            "spec": json_object(spec, "spec"),
            "specSha256": spec_sha256,
            "inputs": json_object(inputs, "inputs"),
            "jobs": list(jobs),
        }
        return decode.run(self.api.call("POST", f"{self._path(workflow)}/runs", json=body))

    def runs(self, workflow: str) -> builtins.list[Run]:
        return [decode.run(j) for j in self.api.call("GET", f"{self._path(workflow)}/runs")]

    def run(self, workflow: str, number: int) -> Run:
        return decode.run(self.api.call("GET", self._path(workflow, number)))

    def set_run(
        self,
        workflow: str,
        number: int,
        phase: str,
        *,
        inputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Run:
        checked = None if inputs is None else json_object(inputs, "inputs")
        body = _given(phase=phase, inputs=checked, error=error)
        return decode.run(self.api.call("PATCH", self._path(workflow, number), json=body))

    def set_job(
        self,
        workflow: str,
        number: int,
        job: str,
        phase: str,
        *,
        exit_code: int | None = None,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> JobStatus:
        checked = None if outputs is None else json_object(outputs, "outputs")
        body = _given(phase=phase, exitCode=exit_code, outputs=checked, error=error)
        path = f"{self._path(workflow, number)}/jobs/{_segment(job)}"
        return decode.job_status(job, self.api.call("PATCH", path, json=body))

    def append_log(self, log_id: str, messages: Sequence[str]) -> int:
        path = f"/api/v1/logs/{_key(log_id, LogNotFound, 'Log')}"
        answer = self.api.call("POST", path, json={"messages": list(messages)})
        return int(answer["line"])

    def logs(self, log_id: str, line: int = 0, limit: int = 10000) -> builtins.list[LogLine]:
        path = f"/api/v1/logs/{_key(log_id, LogNotFound, 'Log')}"
        found = self.api.call("GET", path, params={"line": line, "limit": limit})
        return [decode.log_line(j) for j in found]


def _given(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}
