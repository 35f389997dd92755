"""`cargohold workflows ...`: Gradient's workflow commands (GRADIENT.md §4.8), run here.

`workflows run` runs the spec on this machine (jobs in a bubblewrap sandbox), streaming
every job's log lines prefixed by the job's name, then a summary of the run with the
versions it committed. Its records (runs, per-job logs) live in the catalog, or on the
server when one is configured.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from cargohold.cli.base import Group, command, services
from cargohold.cli.render import echo_json, echo_table
from cargohold.domain import wire
from cargohold.domain.workflows import FINISHED, Run
from cargohold.errors import LogNotFound, SourcePathError
from cargohold.services.root import Services
from cargohold.workflows.logs import TAIL
from cargohold.workflows.model import Spec

if TYPE_CHECKING:
    from cargohold.workflows.runner import Outcome

COLORS = ("cyan", "yellow", "green", "magenta", "blue", "red")
FOLLOW_SECONDS = 1.0


@click.group("workflows", cls=Group)
def workflows() -> None:
    """Run Gradient workflow YAML on this machine: jobs read dataset versions at /inputs and
    commit /outputs as new versions, with their lineage."""


@command(workflows, "create", help="Create a workflow (a name its runs are kept under)")
@click.option("--name", required=True, help="Workflow name, unique in the team.")
@click.option("--projectId", "project_id", help="Accepted for Gradient's command lines; unused.")
def create(name: str, json_output: bool, **_: object) -> None:
    w = services().workflows.create(name)
    if json_output:
        echo_json(wire.workflow(w))
        return
    echo_table(["Name", "ID"], [[w.name, w.id]])


@command(workflows, "list", help="List the workflows")
@click.option("--projectId", "project_id", help="Accepted for Gradient's command lines; unused.")
def list_workflows(json_output: bool, **_: object) -> None:
    found = services().workflows.list()
    if json_output:
        echo_json([wire.workflow(w) for w in found])
        return
    echo_table(["Name", "ID"], [[w.name, w.id] for w in found])


@command(workflows, "run", help="Run a workflow spec here, streaming its jobs' logs")
@click.option("--id", "workflow_id", help="Workflow ID or name (default: the spec file's name).")
@click.option("--path", "spec_path", required=True, help="The workflow spec (YAML).")
@click.option("--inputPath", "inputs_path", help="Values for the workflow inputs (YAML).")
@click.option(
    "--clusterId", "cluster_id", help="Accepted for Gradient's command lines; jobs run here."
)
def run(
    workflow_id: str | None,
    spec_path: str,
    inputs_path: str | None,
    cluster_id: str | None,
    json_output: bool,
    **_: object,
) -> None:
    from cargohold.workflows import load_spec

    text = _read(spec_path)
    inputs_text = _read(inputs_path) if inputs_path else None
    inputs_source = inputs_path or "inputs.yaml"
    spec = load_spec(text, spec_path, inputs_text, inputs_source)  # refused here, at once
    svc = services()
    shown = _Shown(spec.jobs, to_stderr=json_output)
    if cluster_id:
        shown.notice(f"Note: --clusterId {cluster_id} is not used: there are no clusters here")
    if svc.settings.server:
        outcome = _on_server(
            svc, shown, spec, text, spec_path, inputs_text, inputs_source, workflow_id
        )
    else:
        outcome = _here(svc, shown, spec, text, spec_path, workflow_id)
    if json_output:
        echo_json(wire.run(outcome.run))
    else:
        _summary(outcome)
    if outcome.interrupted:
        raise click.exceptions.Exit(130)
    if outcome.run.phase != "SUCCEEDED":
        raise click.exceptions.Exit(1)


def _here(
    svc: Services, shown: _Shown, spec: Spec, text: str, source: str, key: str | None
) -> Outcome:
    """Run the jobs on this machine; Ctrl-C stops them and marks the run failed."""
    from cargohold.workflows.runner import RunOptions, run_workflow, workflow_for

    options = RunOptions(echo=shown.line, notice=shown.notice)
    return run_workflow(svc, lambda: workflow_for(svc.workflows, key, source), text, spec, options)


def _on_server(
    svc: Services,
    shown: _Shown,
    spec: Spec,
    text: str,
    source: str,
    inputs_text: str | None,
    inputs_source: str,
    key: str | None,
) -> Outcome:
    """Have the server run the jobs, and show their lines as they are recorded; Ctrl-C
    leaves the run going on the server."""
    from cargohold.client.runs import submit
    from cargohold.client.workflows import HttpWorkflows
    from cargohold.workflows.runner import Outcome, notes

    assert isinstance(svc.workflows, HttpWorkflows)
    started = submit(svc.workflows.api, text, source, inputs_text, inputs_source, key)
    shown.notice(
        f"Created workflow run {started.log_id} (run {started.number}, on {svc.settings.server})"
    )
    for line in notes(spec):
        shown.notice(line.replace("the local executor", "the server's executor"))
    jobs = [(j.name, j.log_id) for j in started.jobs]
    with _interrupt_flag() as interrupted:
        run = _follow(svc, shown, started.workflow_id, started.number, jobs, 0, interrupted)
    if interrupted.is_set():
        click.echo(
            "Detached: the run goes on on the server. Follow it with: cargohold workflows "
            f"logs --id {started.workflow_id} --run {started.number} --follow",
            err=True,
        )
        raise click.exceptions.Exit(130)
    workflow = svc.workflows.get(run.workflow_id)
    failed = next((j for j in run.jobs if j.phase == "FAILED"), None)
    if failed is None:
        return Outcome(workflow, run)
    return Outcome(workflow, run, failed.name, _tail(svc, failed.log_id))


def _tail(svc: Services, log_id: str, page: int = 10000) -> list[str]:
    """The last TAIL lines of a job's log, read page by page."""
    kept: collections.deque[str] = collections.deque(maxlen=TAIL)
    after = 0
    while lines := svc.workflows.logs(log_id, after, page):
        kept.extend(x.message for x in lines)
        after = lines[-1].line
    return list(kept)


@command(workflows, "get", help="Show a workflow, its runs, or one run")
@click.option("--id", "workflow_id", required=True, help="Workflow ID or name.")
@click.option("--show-runs", "--showRuns", "show_runs", is_flag=True, help="List the runs.")
@click.option("--run", "number", type=int, help="With --show-runs: one run, as JSON.")
def get(
    workflow_id: str, show_runs: bool, number: int | None, json_output: bool, **_: object
) -> None:
    svc = services()
    if number is not None:
        echo_json(wire.run(svc.workflows.run(workflow_id, number)))
        return
    if not show_runs:
        echo_json(wire.workflow(svc.workflows.get(workflow_id)))
        return
    runs = svc.workflows.runs(workflow_id)
    if json_output:
        echo_json([wire.run(r) for r in runs])
        return
    rows = [[r.number, "local", r.phase, r.log_id] for r in runs]
    echo_table(["Run", "Cluster ID", "Status", "Log ID"], rows)


@command(workflows, "logs", help="Show the logs of a run's jobs")
@click.option("--id", "workflow_id", required=True, help="Workflow ID or name.")
@click.option("--run", "number", type=int, required=True, help="Run number.")
@click.option("--logId", "log_id", help="Only this job's log (wfrj...); the run's (wfr...): all.")
@click.option("--line", type=int, default=0, show_default=True, help="Start after this line.")
@click.option("--limit", type=int, default=10000, show_default=True, help="Lines per job.")
@click.option("--follow", is_flag=True, help="Keep showing new lines until the run ends.")
def logs(
    workflow_id: str,
    number: int,
    log_id: str | None,
    line: int,
    limit: int,
    follow: bool,
    json_output: bool,
    **_: object,
) -> None:
    svc = services()
    found = svc.workflows.run(workflow_id, number)
    jobs = [j for j in found.jobs if log_id in (None, found.log_id, j.log_id)]
    if log_id and not jobs:
        raise LogNotFound(f"Run {number} has no job log {log_id}", logId=log_id)
    if follow:
        shown = _Shown([j.name for j in jobs], to_stderr=False)
        _follow(svc, shown, workflow_id, number, [(j.name, j.log_id) for j in jobs], line)
        return
    by_job = {j.name: svc.workflows.logs(j.log_id, line, limit) for j in jobs}
    if json_output:
        echo_json({name: [wire.log_line(x) for x in lines] for name, lines in by_job.items()})
        return
    if not any(by_job.values()):
        raise LogNotFound("No logs found", hint="A job's lines appear once it has started")
    for job in jobs:
        click.echo(f"Job Name: {job.name}  (log {job.log_id})")
        echo_table(["LINE", "MESSAGE"], [[x.line, x.message] for x in by_job[job.name]])


def _follow(
    svc: Services,
    shown: _Shown,
    workflow_id: str,
    number: int,
    jobs: list[tuple[str, str]],
    line: int,
    stop: threading.Event | None = None,
) -> Run:
    """New lines of every job as they are recorded, until the run has ended (or `stop` is
    set); answers the run as last read."""
    after = {log: line for _, log in jobs}
    stop = stop or threading.Event()
    while True:
        run = svc.workflows.run(workflow_id, number)
        for name, log in jobs:
            for x in svc.workflows.logs(log, after[log]):
                shown.line(name, x.message)
                after[log] = x.line
        if run.phase in FINISHED or stop.wait(FOLLOW_SECONDS):
            return run  # the phase was read before the lines: every line of it was shown


@contextlib.contextmanager
def _interrupt_flag() -> Iterator[threading.Event]:
    """Ctrl-C sets the event instead of raising wherever the program happens to be."""
    event = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda signum, frame: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except FileNotFoundError:
        raise SourcePathError(f"Source path not found: {path}", path=path) from None
    except OSError as exc:
        raise SourcePathError.unreadable(path, exc) from None
    except UnicodeDecodeError:
        raise SourcePathError(f"Cannot read {path}: it is not UTF-8 text", path=path) from None


class _Shown:
    """Job lines as `docker compose up` shows them: `job-1  | line`, a color per job on a
    terminal."""

    def __init__(self, jobs: Iterable[str], *, to_stderr: bool) -> None:
        names = list(jobs)
        self.width = max((len(n) for n in names), default=0)
        colors = itertools.cycle(COLORS)
        self.colors = {n: next(colors) for n in names}
        self.err = to_stderr
        self.tty = (sys.stderr if to_stderr else sys.stdout).isatty()

    def line(self, job: str, text: str) -> None:
        prefix = f"{job:<{self.width}} |"
        if self.tty:
            prefix = click.style(prefix, fg=self.colors.get(job))
        click.echo(f"{prefix} {text}", err=self.err)

    def notice(self, text: str) -> None:
        click.echo(text, err=self.err)


def _summary(outcome: Outcome) -> None:
    run, workflow, failed, tail = outcome.run, outcome.workflow, outcome.failed_job, outcome.tail
    click.echo("")
    click.echo(f"Run {run.number} of workflow {workflow.name} ({workflow.id}): {run.phase}")
    rows = []
    for j in run.jobs:
        made = [
            f"{name} -> {out['dataset']['id']}" if "dataset" in out else name
            for name, out in j.outputs.items()
        ]
        code = "" if j.exit_code is None else j.exit_code
        rows.append([j.name, j.phase, code, ", ".join(made)])
    echo_table(["Job", "Phase", "Exit code", "Outputs"], rows)
    if run.error:
        click.echo(f"Error: {run.error}", err=True)
    if failed and tail:
        click.echo(f"Last lines of {failed}:", err=True)
        for text in tail:
            click.echo(f"  {text}", err=True)
    if run.phase == "SUCCEEDED":
        click.echo(f"Logs: cargohold workflows logs --id {workflow.id} --run {run.number}")
