"""Workflows, their runs and the runs' jobs, in the catalog (their logs: job_logs.py).

A workflow is found by its UUID or its name, always within one team. Runs are numbered per
workflow (1, 2, 3, ...): the workflow's row is locked while the next number is taken, so two
runs started at once never share one. A run or job moves forward only (PENDING, RUNNING, then
a finished phase) and never changes once finished.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from cargohold.catalog import rows
from cargohold.catalog.catalog import chunks
from cargohold.catalog.job_logs import MAX_INT, JobLogCatalog, check_unfinished
from cargohold.catalog.schema import workflow_jobs, workflow_runs, workflows
from cargohold.domain.ids import is_workflow_id, new_job_log_id, new_run_log_id
from cargohold.domain.workflows import FINISHED, JobStatus, Run, Workflow
from cargohold.errors import (
    Conflict,
    NameTaken,
    NotFound,
    WorkflowNotFound,
    WorkflowRunNotFound,
)

RANK = {"PENDING": 0, "RUNNING": 1}
"""The unfinished phases, in the order a run or job goes through them; every finished phase
ranks 2."""


class WorkflowCatalog(JobLogCatalog):
    # -- workflows -----------------------------------------------------------------------

    def add_workflow(self, team_id: str, workflow_id: str, name: str) -> Workflow:
        values = {"id": workflow_id, "team_id": team_id, "name": name, "dt_created": rows.now()}
        try:
            with self.writing() as conn:
                conn.execute(insert(workflows).values(**values))
        except SqlIntegrityError:
            raise NameTaken(
                f"A workflow named {name!r} already exists",
                hint="Workflow names are unique in a team; choose another name",
                name=name,
            ) from None
        return self.get_workflow(team_id, workflow_id)

    def get_workflow(self, team_id: str, key: str) -> Workflow:
        """A workflow by UUID or by name."""
        with self.reading() as conn:
            return workflow(self._workflow_row(conn, team_id, key))

    def list_workflows(self, team_id: str) -> list[Workflow]:
        query = select(workflows).where(workflows.c.team_id == team_id).order_by(workflows.c.name)
        with self.reading() as conn:
            return [workflow(r) for r in conn.execute(query)]

    # -- runs ----------------------------------------------------------------------------

    def add_run(
        self,
        team_id: str,
        key: str,
        spec: dict[str, Any],
        spec_sha256: str,
        inputs: dict[str, Any],
        jobs: Sequence[str],
    ) -> Run:
        """Run number max + 1 of the workflow, PENDING, with its jobs PENDING in this order."""
        with self.writing() as conn:
            wf = self._workflow_row(conn, team_id, key, lock=True)
            number = self._last_number(conn, wf.id) + 1
            run_pk = conn.execute(
                insert(workflow_runs)
                .values(
                    workflow_id=wf.id,
                    number=number,
                    log_id=new_run_log_id(),
                    phase="PENDING",
                    spec=spec,
                    spec_sha256=spec_sha256,
                    inputs=inputs,
                    dt_created=rows.now(),
                )
                .returning(workflow_runs.c.pk)
            ).scalar_one()
            if jobs:
                conn.execute(
                    insert(workflow_jobs), [new_job(run_pk, i, j) for i, j in enumerate(jobs)]
                )
            return self._run(conn, self._run_row(conn, wf, number))

    def list_runs(self, team_id: str, key: str) -> list[Run]:
        """The workflow's runs, by number."""
        with self.reading() as conn:
            wf = self._workflow_row(conn, team_id, key)
            found = conn.execute(
                select(workflow_runs)
                .where(workflow_runs.c.workflow_id == wf.id)
                .order_by(workflow_runs.c.number)
            ).all()
            jobs = self._jobs(conn, [r.pk for r in found])
            return [run(r, jobs.get(r.pk, [])) for r in found]

    def get_run(self, team_id: str, key: str, number: int) -> Run:
        with self.reading() as conn:
            wf = self._workflow_row(conn, team_id, key)
            return self._run(conn, self._run_row(conn, wf, number))

    def set_run_phase(
        self,
        team_id: str,
        key: str,
        number: int,
        phase: str,
        *,
        inputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Run:
        """Move a run forward. When it fails or is cancelled, its jobs still running are
        cancelled and those still pending skipped; it succeeds only once every job finished."""
        stamp = rows.now()
        with self.writing() as conn:
            wf = self._workflow_row(conn, team_id, key)
            row = self._run_row(conn, wf, number, lock="update")
            what = f"Run {number} of workflow {wf.name}"
            move(conn, workflow_runs, row, what, phase, stamp, inputs=inputs, error=error)
            if phase in FINISHED:
                self._finish_jobs(conn, row.pk, what, phase, stamp)
            return self._run(conn, self._run_row(conn, wf, number))

    def set_job_phase(
        self,
        team_id: str,
        key: str,
        number: int,
        job: str,
        phase: str,
        *,
        exit_code: int | None = None,
        outputs: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> JobStatus:
        """Move one job forward; `outputs` replaces what the job had recorded."""
        stamp = rows.now()
        with self.writing() as conn:
            wf = self._workflow_row(conn, team_id, key)
            run_row = self._run_row(conn, wf, number, lock="share")
            check_unfinished(f"Run {number} of workflow {wf.name}", run_row.phase)
            row = self._job_row(conn, run_row, job, wf)
            what = f"Job {job} of run {number} of workflow {wf.name}"
            changes = {"exit_code": exit_code, "outputs": outputs, "error": error}
            move(conn, workflow_jobs, row, what, phase, stamp, **changes)
            return job_status(self._job_row(conn, run_row, job, wf))

    # -- helpers -------------------------------------------------------------------------

    def _workflow_row(self, conn: Connection, team_id: str, key: str, lock: bool = False) -> Any:
        by_id = is_workflow_id(key)
        column = workflows.c.id if by_id else workflows.c.name
        query = select(workflows).where(
            workflows.c.team_id == team_id, column == (key.lower() if by_id else key)
        )
        if lock and self.for_update:
            query = query.with_for_update(key_share=True)  # FOR NO KEY UPDATE
        row = conn.execute(query).first()
        if row is None:
            raise WorkflowNotFound(f"Workflow not found: {key}", workflow=key)
        return row

    def _last_number(self, conn: Connection, workflow_id: str) -> int:
        query = select(func.coalesce(func.max(workflow_runs.c.number), 0)).where(
            workflow_runs.c.workflow_id == workflow_id
        )
        return int(conn.execute(query).scalar_one())

    def _run_row(self, conn: Connection, wf: Any, number: int, lock: str = "") -> Any:
        """A run of the workflow `wf` (a row); locked FOR NO KEY UPDATE ("update": its phase
        is about to change) or FOR SHARE ("share": its phase must not change meanwhile). A
        number past SQL integers is not found."""
        query = select(workflow_runs).where(
            workflow_runs.c.workflow_id == wf.id, workflow_runs.c.number == number
        )
        if lock and self.for_update:
            query = query.with_for_update(read=lock == "share", key_share=lock == "update")
        row = conn.execute(query).first() if number <= MAX_INT else None
        if row is None:
            raise WorkflowRunNotFound(
                f"Run {number} of workflow {wf.name} not found",
                hint=f"List the runs with: cargohold workflows get --id {wf.id} --show-runs",
                workflow=wf.id,
                run=number,
            )
        return row

    def _job_row(self, conn: Connection, run_row: Any, job: str, wf: Any) -> Any:
        query = select(workflow_jobs).where(
            workflow_jobs.c.run_pk == run_row.pk, workflow_jobs.c.name == job
        )
        if self.for_update:
            query = query.with_for_update(key_share=True)
        row = conn.execute(query).first()
        if row is None:
            names = [j.name for j in self._jobs(conn, [run_row.pk]).get(run_row.pk, [])]
            raise NotFound(
                f"Run {run_row.number} of workflow {wf.name} has no job named {job!r}",
                hint=f"Its jobs: {', '.join(names)}" if names else "It has no jobs",
                workflow=wf.id,
                run=run_row.number,
                job=job,
            )
        return row

    def _run(self, conn: Connection, row: Any) -> Run:
        return run(row, self._jobs(conn, [row.pk]).get(row.pk, []))

    def _jobs(self, conn: Connection, run_pks: Sequence[int]) -> dict[int, list[Any]]:
        """The job rows of these runs, in their order, by run."""
        found: dict[int, list[Any]] = {pk: [] for pk in run_pks}
        for part in chunks(list(run_pks)):
            query = (
                select(workflow_jobs)
                .where(workflow_jobs.c.run_pk.in_(part))
                .order_by(workflow_jobs.c.run_pk, workflow_jobs.c.position)
            )
            for r in conn.execute(query):
                found[r.run_pk].append(r)
        return found

    def _finish_jobs(
        self, conn: Connection, run_pk: int, what: str, phase: str, stamp: Any
    ) -> None:
        """Jobs a finishing run leaves unfinished: refused for SUCCEEDED; otherwise those
        running are CANCELLED and those pending SKIPPED."""
        jobs = workflow_jobs.c
        if phase == "SUCCEEDED":
            left = [j.name for j in self._jobs(conn, [run_pk])[run_pk] if j.phase not in FINISHED]
            if left:
                raise Conflict(
                    f"{what} cannot succeed: jobs {', '.join(left)} have not finished",
                    hint="Finish every job first, or set the run FAILED or CANCELLED",
                )
            return
        conn.execute(
            update(workflow_jobs)
            .where(jobs.run_pk == run_pk, jobs.phase.in_(tuple(RANK)))
            .values(
                phase=case((jobs.phase == "RUNNING", "CANCELLED"), else_="SKIPPED"),
                finished=stamp,
            )
        )


# -- rules ----------------------------------------------------------------------------------


def check_move(what: str, current: str, phase: str) -> None:
    """A run or job moves forward only, and never once finished."""
    check_unfinished(what, current)
    if RANK.get(phase, 2) < RANK[current]:
        raise Conflict(
            f"{what} is {current} and cannot go back to {phase}", phase=current, wanted=phase
        )


def move(
    conn: Connection, table: Any, row: Any, what: str, phase: str, stamp: Any, **changes: Any
) -> None:
    """Move a run or job (`row` of `table`) forward to `phase`: RUNNING sets `started` (once),
    a finished phase `finished`; the `changes` given (not None) are set with it."""
    check_move(what, row.phase, phase)
    values = {"phase": phase, **{k: v for k, v in changes.items() if v is not None}}
    if phase == "RUNNING" and row.started is None:
        values["started"] = stamp
    if phase in FINISHED:
        values["finished"] = stamp
    conn.execute(update(table).where(table.c.log_id == row.log_id).values(**values))


def new_job(run_pk: int, position: int, name: str) -> dict[str, Any]:
    return {
        "run_pk": run_pk,
        "name": name,
        "position": position,
        "log_id": new_job_log_id(),
        "phase": "PENDING",
        "outputs": {},
        "log_bytes": 0,
        "log_dropped": 0,
    }


# -- rows to domain objects -----------------------------------------------------------------


def workflow(row: Any) -> Workflow:
    return Workflow(
        id=row.id,
        team_id=row.team_id,
        name=row.name,
        dt_created=rows.utc(row.dt_created) or rows.now(),
    )


def job_status(row: Any) -> JobStatus:
    return JobStatus(
        name=row.name,
        log_id=row.log_id,
        phase=row.phase,
        started=rows.utc(row.started),
        finished=rows.utc(row.finished),
        exit_code=row.exit_code,
        outputs=dict(row.outputs or {}),
        error=row.error,
    )


def run(row: Any, job_rows: Iterable[Any]) -> Run:
    return Run(
        workflow_id=row.workflow_id,
        number=int(row.number),
        log_id=row.log_id,
        phase=row.phase,
        spec=dict(row.spec or {}),
        spec_sha256=row.spec_sha256,
        inputs=dict(row.inputs or {}),
        jobs=tuple(job_status(j) for j in job_rows),
        dt_created=rows.utc(row.dt_created) or rows.now(),
        started=rows.utc(row.started),
        finished=rows.utc(row.finished),
        error=row.error,
    )
