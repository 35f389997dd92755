"""The logs of workflow jobs, in the catalog.

Logs are kept per job, line by line, numbered 1, 2, 3, ... under the lock of the job's row, so
lines appended at once never share a number and each batch stays in one block. Lines go in
only while the run has not finished. A log keeps at most `LogLimits` lines and bytes (and
characters per line); past that, lines are counted, not kept, and one last line says how many
were dropped. A run's own log ID reads as every job's lines, job after job (`log_lines`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from cargohold.catalog.catalog import CatalogBase, chunks
from cargohold.catalog.schema import job_log_lines, workflow_jobs, workflow_runs, workflows
from cargohold.domain.ids import is_job_log_id, is_run_log_id
from cargohold.domain.workflows import FINISHED, LogLine
from cargohold.errors import Conflict, InvalidInput, LogNotFound

MAX_INT = 2**31 - 1
"""Run numbers, exit codes and line numbers are SQL integers."""


@dataclass(frozen=True)
class LogLimits:
    """What one job's log keeps: the rest of a longer line is cut; lines past the limits are
    dropped (counted, and said so in one last line)."""

    lines: int = 200_000
    bytes: int = 64 * 1024 * 1024
    line_chars: int = 16 * 1024


class JobLogCatalog(CatalogBase):
    log_limits = LogLimits()

    def append_log(self, team_id: str, log_id: str, messages: Sequence[str]) -> int:
        """Add lines to a job's log (of a run not finished yet); the number of its last line.
        Each line is cleaned (NUL and unpaired surrogates replaced) and cut to the limits."""
        if is_run_log_id(log_id):
            raise InvalidInput(
                f"{log_id} is a run's log ID: lines go to the logs of its jobs",
                hint="Append to a job's log ID (wfrj...), as the run's status.jobs lists them",
                logId=log_id,
            )
        with self.writing() as conn:
            run_row = self._log_run(conn, team_id, log_id, lock=True)
            check_unfinished(f"Run {run_row.number} of workflow {run_row.workflow}", run_row.phase)
            job_query = select(workflow_jobs).where(workflow_jobs.c.log_id == log_id)
            if self.for_update:
                job_query = job_query.with_for_update(key_share=True)
            job = conn.execute(job_query).one()
            last = self._last_line(conn, log_id)
            kept, size = self._room_for(job, last, messages)
            numbered = [
                {"log_id": log_id, "line": i, "message": m}
                for i, m in enumerate(kept, start=last + 1)
            ]
            for part in chunks(numbered):
                conn.execute(insert(job_log_lines), list(part))
            last += len(kept)
            dropped = job.log_dropped + len(messages) - len(kept)
            if dropped:
                last = self._note_dropped(conn, log_id, last, dropped, first=not job.log_dropped)
            conn.execute(
                update(workflow_jobs)
                .where(workflow_jobs.c.log_id == log_id)
                .values(log_bytes=job.log_bytes + size, log_dropped=dropped)
            )
            return last

    def log_lines(
        self, team_id: str, log_id: str, after: int = 0, limit: int = 10000
    ) -> list[LogLine]:
        """Lines numbered above `after`, at most `limit`. A job's log ID reads its log; a
        run's log ID reads every job's lines, job after job in the run's order, each line
        prefixed with its job's name ("train | ...") and numbered 1, 2, 3, ... across them
        (the numbers are stable once the run has finished: while jobs still write, the lines
        of a later job move down as an earlier one's grow)."""
        with self.reading() as conn:
            run_row = self._log_run(conn, team_id, log_id)
            if after >= MAX_INT:
                return []  # no line is numbered past SQL integers
            if is_run_log_id(log_id):
                return self._run_log_lines(conn, run_row.pk, after, limit)
            query = (
                select(job_log_lines.c.line, job_log_lines.c.message)
                .where(job_log_lines.c.log_id == log_id, job_log_lines.c.line > after)
                .order_by(job_log_lines.c.line)
                .limit(limit)
            )
            return [LogLine(int(r.line), r.message) for r in conn.execute(query)]

    # -- helpers -------------------------------------------------------------------------

    def _room_for(self, job: Any, last: int, messages: Sequence[str]) -> tuple[list[str], int]:
        """The messages (cleaned) the log of `job` (a row), `last` lines long, still has room
        for, and their bytes. Nothing once it has dropped lines: a log never has a gap."""
        limits = self.log_limits
        if job.log_dropped:
            return [], 0
        cleaned = (clean(m, limits.line_chars) for m in messages[: max(0, limits.lines - last)])
        return fit(cleaned, limits.bytes - job.log_bytes)

    def _log_run(self, conn: Connection, team_id: str, log_id: str, lock: bool = False) -> Any:
        """The row of the run whose log this is (its own or one of its jobs'), with its
        workflow's name as `workflow`; LogNotFound for another team's log. With `lock` (on
        PostgreSQL), the run's row is shared: its phase cannot change meanwhile."""
        missing = LogNotFound(f"Log not found: {log_id}", logId=log_id)
        query = (
            select(workflow_runs, workflows.c.name.label("workflow"))
            .join(workflows, workflows.c.id == workflow_runs.c.workflow_id)
            .where(workflows.c.team_id == team_id)
        )
        if is_job_log_id(log_id):
            query = query.join(workflow_jobs, workflow_jobs.c.run_pk == workflow_runs.c.pk)
            query = query.where(workflow_jobs.c.log_id == log_id)
        elif is_run_log_id(log_id):
            query = query.where(workflow_runs.c.log_id == log_id)
        else:
            raise missing
        if lock and self.for_update:
            query = query.with_for_update(read=True, of=workflow_runs)
        found = conn.execute(query).first()
        if found is None:
            raise missing
        return found

    def _last_line(self, conn: Connection, log_id: str) -> int:
        query = select(func.coalesce(func.max(job_log_lines.c.line), 0)).where(
            job_log_lines.c.log_id == log_id
        )
        return int(conn.execute(query).scalar_one())

    def _note_dropped(
        self, conn: Connection, log_id: str, last: int, dropped: int, first: bool
    ) -> int:
        """Write (or update) the last line of a full log; its number."""
        limits = self.log_limits
        message = (
            f"[cargohold] {dropped} more line(s) dropped: a job's log keeps at most "
            f"{limits.lines} lines and {limits.bytes // (1024 * 1024)} MiB"
        )
        if first:
            last += 1
            conn.execute(insert(job_log_lines).values(log_id=log_id, line=last, message=message))
        else:
            conn.execute(
                update(job_log_lines)
                .where(job_log_lines.c.log_id == log_id, job_log_lines.c.line == last)
                .values(message=message)
            )
        return last

    def _run_log_lines(
        self, conn: Connection, run_pk: int, after: int, limit: int
    ) -> list[LogLine]:
        query = (
            select(workflow_jobs.c.name, job_log_lines.c.message)
            .join(job_log_lines, job_log_lines.c.log_id == workflow_jobs.c.log_id)
            .where(workflow_jobs.c.run_pk == run_pk)
            .order_by(workflow_jobs.c.position, job_log_lines.c.line)
            .offset(after)
            .limit(limit)
        )
        return [
            LogLine(after + i, f"{r.name} | {r.message}")
            for i, r in enumerate(conn.execute(query), start=1)
        ]


def check_unfinished(what: str, phase: str) -> None:
    if phase in FINISHED:
        raise Conflict(
            f"{what} has finished ({phase}) and can no longer change",
            hint="A finished run is a record; start a new run instead",
            phase=phase,
        )


def clean(message: str, limit: int) -> str:
    """A line as the catalog can keep it: NUL (refused by PostgreSQL) and unpaired
    surrogates (from undecodable bytes) replaced, and cut to `limit` characters."""
    if len(message) > limit:
        message = message[:limit] + f" [... {len(message) - limit} characters cut]"
    message = message.replace("\x00", "\ufffd")
    try:
        message.encode()
    except UnicodeEncodeError:
        message = message.encode("utf-8", "replace").decode()
    return message


def fit(messages: Iterable[str], room: int) -> tuple[list[str], int]:
    """The leading messages whose UTF-8 bytes fit in `room`, and those bytes."""
    kept: list[str] = []
    size = 0
    for m in messages:
        n = len(m.encode())
        if size + n > room:
            break
        kept.append(m)
        size += n
    return kept, size
