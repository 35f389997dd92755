"""Run a workflow spec on this machine: every check before anything runs, then the jobs in
dependency order (independent ones at once, up to a limit), each recorded in the run.

The runner calls only the service protocol, so the same code runs on the embedded defaults
and against a server (records, secrets, datasets and lineage then live on the server; the
jobs still run here). A run's workspace (job directories, volumes) is removed when the run
ends, whatever its outcome; a workspace left by a killed run is removed by the next run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from cargohold.domain.models import Version
from cargohold.domain.workflows import FINISHED, Run, Workflow
from cargohold.errors import CargoholdError, WorkflowNotFound
from cargohold.services.protocol import WorkflowsAPI
from cargohold.services.root import Services
from cargohold.workflows import sandbox
from cargohold.workflows.graph import topological_order
from cargohold.workflows.job import JobFailed, JobRunner, RunContext, remove_tree
from cargohold.workflows.logs import Echo, JobLog
from cargohold.workflows.model import SecretRef, Spec
from cargohold.workflows.spec import check_refs

SANDBOXED = ("container@v1", "script@v1", "git-checkout@v1")


@dataclass
class RunOptions:
    echo: Echo = lambda job, line: None
    """Shows a job's log line as it comes."""
    notice: Callable[[str], None] = lambda text: None
    """Shows a line about the run itself (notes, the run's start)."""


@dataclass
class Outcome:
    workflow: Workflow
    run: Run
    failed_job: str | None = None
    tail: list[str] = field(default_factory=list)  # the failed job's last log lines
    interrupted: bool = False


def run_workflow(
    services: Services,
    workflow_of: Callable[[], Workflow],
    spec_text: str,
    spec: Spec,
    options: RunOptions | None = None,
) -> Outcome:
    """Check, record and run `spec` here; answer the finished run."""
    options = options or RunOptions()
    return execute(prepare_run(services, workflow_of, spec_text, spec), options)


@dataclass
class Prepared:
    """A run that passed every check and is recorded (PENDING), ready to execute."""

    services: Services
    spec: Spec
    workflow: Workflow
    run: Run
    digest: str
    resolved: dict[str, str]
    secrets: dict[str, str] = field(repr=False)
    bwrap: str | None


def prepare_run(
    services: Services, workflow_of: Callable[[], Workflow], spec_text: str, spec: Spec
) -> Prepared:
    """Check `spec` against the catalog (datasets, secrets) and the sandbox, then record a
    new run under the workflow `workflow_of` answers (asked only once every check passed)."""
    found: dict[str, Version] = {}

    def resolve(ref: str) -> Version:
        if ref not in found:
            found[ref] = services.versions.get(ref)
        return found[ref]

    check_refs(spec, resolve)  # every ref once: the inputs' exact versions are kept
    resolved = {ref: found[ref].ref for ref in _external_refs(spec)}
    names = sorted(secret_names(spec))
    secrets = services.secrets.reveal(names) if names else {}
    bwrap = None
    if any(str(j.uses) in SANDBOXED for j in spec.jobs.values()):
        bwrap = sandbox.find_bwrap()
        sandbox.check_bwrap(bwrap)
    digest = hashlib.sha256(spec_text.encode()).hexdigest()
    workflow = workflow_of()
    run = services.workflows.start_run(
        workflow.id, _as_json(spec), digest, _inputs_json(spec, resolved), list(spec.jobs)
    )
    return Prepared(services, spec, workflow, run, digest, resolved, secrets, bwrap)


def execute(prepared: Prepared, options: RunOptions) -> Outcome:
    """Run the jobs of a prepared run; its workspace is removed at the end, whatever
    happened. Ctrl-C (KeyboardInterrupt in this thread) stops the jobs cleanly."""
    services, spec, workflow, run = (
        prepared.services,
        prepared.spec,
        prepared.workflow,
        prepared.run,
    )
    options.notice(
        f"Created workflow run {run.log_id} (workflow {workflow.name}, run {run.number})"
    )
    for line in notes(spec):
        options.notice(line)
    settings = services.settings
    workspace = _workspace(settings.home / "runs", f"{workflow.id}-{run.number}")
    ctx = RunContext(
        services=services,
        workflow_id=workflow.id,
        run=run.number,
        spec_sha256=prepared.digest,
        workspace=workspace,
        spec=spec,
        resolved=prepared.resolved,
        secrets=prepared.secrets,
        produced={},
        bwrap=prepared.bwrap,
        volume_limit=settings.volume_limit,
        cancel=threading.Event(),
        hidden=(settings.home, settings.cache_dir),
        storage=settings.storage_dir,
    )
    settings.storage_dir.mkdir(parents=True, exist_ok=True)
    scheduler = _Scheduler(ctx, spec, workflow, run, options)
    try:
        services.workflows.set_run(workflow.id, run.number, "RUNNING")
        scheduler.run_all()
    except KeyboardInterrupt:
        scheduler.interrupted = True
    finally:
        with _no_interrupts():
            ctx.cancel.set()
            scheduler.drain()
            remove_tree(workspace)  # volumes and job directories, whatever the outcome
            final = scheduler.finish()
    return final


def workflow_for(records: WorkflowsAPI, key: str | None, source: str) -> Workflow:
    """The workflow a run goes under: the one `key` names (ID or name) or, without a key,
    the one named after the spec file (made on its first run)."""
    if key:
        return records.get(key)
    name = PurePath(source).stem
    try:
        return records.get(name)
    except WorkflowNotFound:
        return records.create(name)


def _external_refs(spec: Spec) -> list[str]:
    refs = [i.ref for i in spec.inputs.values() if i.type == "dataset" and i.ref]
    for job in spec.jobs.values():
        refs += [i.ref for i in job.inputs.values() if i.type == "dataset" and i.ref]
    return sorted(set(refs))


def _as_json(spec: Spec) -> dict[str, Any]:
    """The spec as Gradient's CLI sent it: the YAML parsed to JSON (dates as text)."""
    parsed: dict[str, Any] = json.loads(json.dumps(spec.document, default=str))
    return parsed


def _inputs_json(spec: Spec, resolved: dict[str, str]) -> dict[str, Any]:
    """Per workflow input, how it was resolved (GRADIENT.md §4.7 status.inputs)."""
    out: dict[str, Any] = {}
    for name, i in spec.inputs.items():
        if i.type == "dataset" and i.ref:
            out[name] = {"dataset": {"id": resolved[i.ref]}, "with": {"ref": i.ref}}
        else:
            out[name] = {"with": {"value": i.value}}
    return out


def notes(spec: Spec) -> list[str]:
    notes = []
    images = sorted({str(j.with_["image"]) for j in spec.jobs.values() if j.with_.get("image")})
    if images:
        notes.append(
            "Note: the local executor does not pull container images; jobs run with this "
            f"machine's programs in a sandbox (images not used: {', '.join(images)})"
        )
    if spec.defaults.resources or any(j.resources for j in spec.jobs.values()):
        notes.append(
            "Note: resources (instance types) are recorded; the local executor ignores them"
        )
    if spec.defaults.cluster_id:
        notes.append(f"Note: clusterId {spec.defaults.cluster_id} is recorded; jobs run here")
    return notes


def _workspace(runs: Path, name: str) -> Path:
    """The run's directory, after removing those of runs whose process is gone."""
    runs.mkdir(parents=True, exist_ok=True)
    for old in runs.iterdir():
        if not _alive(old / "pid"):
            remove_tree(old)
    path = runs / name
    path.mkdir()
    (path / "pid").write_text(str(os.getpid()))
    return path


def _alive(pid_file: Path) -> bool:
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    return True


@contextlib.contextmanager
def _no_interrupts() -> Iterator[None]:
    """Ctrl-C again while a run is being stopped must not leave it half recorded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _Scheduler:
    """Starts each job once every job it needs succeeded, at most `workflow_parallel` at
    once; a failed job's dependents are skipped, independent branches go on."""

    def __init__(
        self, ctx: RunContext, spec: Spec, workflow: Workflow, run: Run, options: RunOptions
    ) -> None:
        self.ctx, self.spec, self.run, self.options = ctx, spec, run, options
        self.workflow = workflow
        self.records = ctx.services.workflows
        self.order = [name for wave in topological_order(spec) for name in wave]
        self.phase = {name: "PENDING" for name in self.order}
        self.logs = {
            name: JobLog(self.records, run.job(name).log_id, name, options.echo)
            for name in spec.jobs
        }
        self.failed: list[tuple[str, str]] = []
        self.interrupted = False
        self.pool = ThreadPoolExecutor(
            max_workers=ctx.services.settings.workflow_parallel, thread_name_prefix="job"
        )
        self.running: dict[Future[None], str] = {}

    def run_all(self) -> None:
        while True:
            self._skip_blocked()
            for name in self._ready():
                self.phase[name] = "RUNNING"
                self.running[self.pool.submit(self._one, name)] = name
            if not self.running:
                return
            done, _ = wait(self.running, return_when=FIRST_COMPLETED)
            for future in done:
                self.running.pop(future)
                future.result()  # _one catches what a job raises; this re-raises bugs

    def _ready(self) -> list[str]:
        room = self.ctx.services.settings.workflow_parallel - len(self.running)
        ready = [
            name
            for name in self.order
            if self.phase[name] == "PENDING"
            and all(self.phase[n] == "SUCCEEDED" for n in self.spec.jobs[name].needs)
        ]
        return ready[: max(0, room)]

    def _skip_blocked(self) -> None:
        """Skip every pending job a job it needs did not succeed (in dependency order, so
        one pass reaches the dependents of the dependents)."""
        for name in self.order:
            needs = self.spec.jobs[name].needs
            blocked = [n for n in needs if self.phase[n] in FINISHED - {"SUCCEEDED"}]
            if self.phase[name] == "PENDING" and blocked:
                self.phase[name] = "SKIPPED"
                self._record(name, "SKIPPED", error=f"skipped: {blocked[0]} did not succeed")
                self.options.notice(f"{name}: skipped ({blocked[0]} did not succeed)")

    def _one(self, name: str) -> None:
        job, log = self.spec.jobs[name], self.logs[name]
        self._record(name, "RUNNING")
        try:
            with log.flushing():
                produced = JobRunner(self.ctx, job, log).run()
        except JobFailed as exc:
            self._failed(name, str(exc), exc.exit_code)
            return
        except CargoholdError as exc:
            self._failed(name, f"{exc.message}" + (f" ({exc.hint})" if exc.hint else ""), None)
            return
        except Exception as exc:  # a job's failure must not lose the run record
            self._failed(name, f"unexpected {type(exc).__name__}: {exc}", None)
            return
        self.ctx.produced[name] = produced
        self.phase[name] = "SUCCEEDED"
        self._record(name, "SUCCEEDED", exit_code=0, outputs=produced.to_json())

    def _failed(self, name: str, reason: str, exit_code: int | None) -> None:
        cancelled = self.ctx.cancel.is_set()
        phase = "CANCELLED" if cancelled else "FAILED"
        self.phase[name] = phase
        self.logs[name].note(f"job {phase.lower()}: {reason}")
        self.logs[name].flush()
        self.failed.append((name, reason))
        self._record(name, phase, exit_code=exit_code, error=reason)

    def _record(self, name: str, phase: str, **fields: Any) -> None:
        try:
            self.records.set_job(self.run.workflow_id, self.run.number, name, phase, **fields)
        except CargoholdError as exc:
            self.options.notice(f"{name}: could not record {phase}: {exc}")

    def drain(self) -> None:
        """Wait for running jobs (stopped by the cancel event; each records its own end)
        and mark the rest."""
        self.pool.shutdown(wait=True)
        self.running.clear()
        for name, phase in self.phase.items():
            if phase == "PENDING":
                self.phase[name] = "CANCELLED" if self.interrupted else "SKIPPED"
                self._record(name, self.phase[name])

    def finish(self) -> Outcome:
        ok = all(p == "SUCCEEDED" for p in self.phase.values())
        error = None
        if self.interrupted:
            error = "interrupted (Ctrl-C): running jobs were stopped"
        elif self.failed:
            name, reason = self.failed[0]
            error = f"job {name} failed: {reason}"
        phase = "SUCCEEDED" if ok and not self.interrupted else "FAILED"
        try:
            run = self.records.set_run(self.run.workflow_id, self.run.number, phase, error=error)
        except CargoholdError as exc:
            self.options.notice(f"could not record the run's end: {exc}")
            run = self.run
        failed = self.failed[0][0] if self.failed else None
        tail = list(self.logs[failed].tail) if failed else []
        return Outcome(self.workflow, run, failed, tail, self.interrupted)


def secret_names(spec: Spec) -> set[str]:
    """Every secret the spec names (env values and action parameters)."""
    values: list[object] = list(spec.defaults.env.values())
    for job in spec.jobs.values():
        values += [*job.env.values(), *job.with_.values()]
    return {v.name for v in values if isinstance(v, SecretRef)}
