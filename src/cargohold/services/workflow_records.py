"""Use cases for workflows and the records of their runs (the WorkflowsAPI of protocol.py).

- A workflow has a UUID and a name unique in its team: 1-100 letters, digits, '.', '_' or
  '-', starting with a letter or digit (the rule of dataset names), and not shaped like a
  UUID, so that a key is never both. Everything else names a workflow by either.
- A run is numbered per workflow (1, 2, 3, ...) and has a log ID (``wfr`` + 32 hex); each of
  its jobs (names as the spec gives them, in the order given) has its own (``wfrj`` + 32 hex).
- Phases: a run is PENDING, RUNNING, SUCCEEDED, FAILED or CANCELLED; a job may also be
  SKIPPED. They only move forward, and never once finished (Conflict); an unknown phase is
  InvalidInput. RUNNING sets ``started``, a finished phase ``finished``. A run that fails or
  is cancelled cancels its running jobs and skips its pending ones; it succeeds only once
  every job has finished.
- Logs: lines are appended to a job's log (while its run has not finished) and numbered
  1, 2, 3, ...; a log keeps at most `catalog.job_logs.LogLimits` (lines, bytes, characters
  per line) and says how many lines it dropped. Reading a run's log ID answers every job's
  lines, prefixed by the job's name (catalog/job_logs.py, `log_lines`).
- Every lookup is within the team; another team's workflow, run or log is not found.
"""

from __future__ import annotations

import builtins
import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from cargohold.catalog.job_logs import MAX_INT, clean
from cargohold.domain.ids import SHA256, new_workflow_id
from cargohold.domain.refs import check_workflow_name
from cargohold.domain.workflows import JOB_PHASES, RUN_PHASES, JobStatus, LogLine, Run, Workflow
from cargohold.errors import InvalidInput
from cargohold.services.context import Context

MAX_LOG_PAGE = 100_000
"""Lines one `logs` call answers, at most (a larger limit is lowered to it)."""
MAX_JOB_NAME = 100
MAX_ERROR = 64 * 1024
"""Characters of a run's or job's error message kept."""


class WorkflowService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    @property
    def _team(self) -> str:
        return self.ctx.team.id

    def create(self, name: str) -> Workflow:
        check_workflow_name(name)
        return self.ctx.catalog.add_workflow(self._team, new_workflow_id(), name)

    def list(self) -> builtins.list[Workflow]:
        return self.ctx.catalog.list_workflows(self._team)

    def get(self, key: str) -> Workflow:
        """By UUID or by name."""
        return self.ctx.catalog.get_workflow(self._team, key)

    def start_run(
        self,
        workflow: str,
        spec: dict[str, Any],
        spec_sha256: str,
        inputs: dict[str, Any],
        jobs: Sequence[str],
    ) -> Run:
        """A new run (next number), PENDING, with every job PENDING and its log ID."""
        names = check_jobs(jobs)
        return self.ctx.catalog.add_run(
            self._team,
            workflow,
            json_object(spec, "spec"),
            check_sha256(spec_sha256),
            json_object(inputs, "inputs"),
            names,
        )

    def runs(self, workflow: str) -> builtins.list[Run]:
        return self.ctx.catalog.list_runs(self._team, workflow)

    def run(self, workflow: str, number: int) -> Run:
        return self.ctx.catalog.get_run(self._team, workflow, check_number(number))

    def set_run(
        self,
        workflow: str,
        number: int,
        phase: str,
        *,
        inputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Run:
        """Move a run to `phase` (RUNNING sets `started`, a finished phase `finished`); a
        finished run never changes again (Conflict)."""
        check_phase(phase, RUN_PHASES, "run")
        return self.ctx.catalog.set_run_phase(
            self._team,
            workflow,
            check_number(number),
            phase,
            inputs=None if inputs is None else json_object(inputs, "inputs"),
            error=clean_error(error),
        )

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
        check_phase(phase, JOB_PHASES, "job")
        if exit_code is not None and not (
            isinstance(exit_code, int) and -MAX_INT <= exit_code <= MAX_INT
        ):
            raise InvalidInput(f"Invalid exit code: {exit_code!r}", exitCode=str(exit_code))
        return self.ctx.catalog.set_job_phase(
            self._team,
            workflow,
            check_number(number),
            job,
            phase,
            exit_code=exit_code,
            outputs=None if outputs is None else json_object(outputs, "outputs"),
            error=clean_error(error),
        )

    def append_log(self, log_id: str, messages: Sequence[str]) -> int:
        """Add lines to a job's log; answers the number of the last line."""
        if isinstance(messages, str) or not all(isinstance(m, str) for m in messages):
            raise InvalidInput("Log lines must be a list of strings")
        return self.ctx.catalog.append_log(self._team, log_id, list(messages))

    def logs(self, log_id: str, line: int = 0, limit: int = 10000) -> builtins.list[LogLine]:
        """Lines after `line` (0: from the start), at most `limit`."""
        if line < 0 or limit < 1:
            raise InvalidInput(
                f"Invalid log page: line {line}, limit {limit}",
                hint="line is 0 (from the start) or more; limit is 1 or more",
            )
        return self.ctx.catalog.log_lines(self._team, log_id, line, min(limit, MAX_LOG_PAGE))


def check_number(number: int) -> int:
    """A run number (the catalog answers one past SQL integers as not found)."""
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        raise InvalidInput(f"Invalid run number: {number!r}", hint="Runs are numbered 1, 2, 3, ...")
    return number


def check_phase(phase: str, allowed: Sequence[str], what: str) -> str:
    if phase not in allowed:
        raise InvalidInput(
            f"Unknown {what} phase: {phase!r}", hint=f"One of: {', '.join(allowed)}", phase=phase
        )
    return phase


def check_jobs(jobs: Sequence[str]) -> builtins.list[str]:
    names = [jobs] if isinstance(jobs, str) else builtins.list(jobs)
    for name in names:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_JOB_NAME:
            raise InvalidInput(f"Invalid job name: {name!r}", hint="A job name is 1-100 characters")
        if not name.isprintable():
            raise InvalidInput(
                f"Invalid job name: {name!r} holds control characters", hint="Rename the job"
            )
    twice = sorted(n for n, count in Counter(names).items() if count > 1)
    if twice:
        raise InvalidInput(f"Job names given twice: {', '.join(twice)}", jobs=twice)
    return names


def check_sha256(text: str) -> str:
    if not isinstance(text, str) or not SHA256.fullmatch(text.lower()):
        raise InvalidInput(
            f"Not a SHA-256 digest: {text!r}",
            hint="specSha256 is the SHA-256 of the spec file's text: 64 hex digits",
        )
    return text.lower()


def json_object(value: Any, what: str) -> dict[str, Any]:
    """A JSON object the catalog can keep: no NaN or infinity, which PostgreSQL refuses (NUL
    and unpaired surrogates travel escaped, which both backends keep)."""
    if not isinstance(value, dict):
        raise InvalidInput(f"The {what} must be a JSON object", field=what)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"The {what} is not valid JSON: {exc}", field=what) from None
    return value


def clean_error(error: str | None) -> str | None:
    if error is None:
        return None
    return clean(str(error), MAX_ERROR)
