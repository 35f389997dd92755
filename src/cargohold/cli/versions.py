"""`cargohold datasets versions ...` (also spelled `datasets version ...`)."""

from __future__ import annotations

import click

from cargohold.cli.base import (
    Group,
    bare_id,
    bool_value_option,
    command,
    emit,
    jobs_option,
    services,
    source_paths_option,
    version_id,
)
from cargohold.cli.files import echo_put_summary
from cargohold.cli.progress import make_progress
from cargohold.cli.render import echo_details, echo_json, echo_table
from cargohold.domain import wire
from cargohold.domain.workflows import (
    MAX_LINEAGE_DEPTH,
    MAX_LINEAGE_STEPS,
    Lineage,
    LineageStep,
)
from cargohold.errors import VersionCommitted
from cargohold.services import upload


@click.group("versions", cls=Group, help="Manage versions")
def versions() -> None:
    pass


@command(versions, "list", help="List versions, newest first")
@click.option("--id", "dataset_id", required=True, help="Dataset ID or name.")
@bool_value_option(
    "--isCommitted",
    "--is-committed",
    "is_committed",
    default=True,
    help_text="true: committed versions only; false: versions still in progress.",
)
def list_versions(dataset_id: str, is_committed: bool, json_output: bool, **_: object) -> None:
    found = services().versions.list(bare_id(dataset_id), committed=is_committed)
    if json_output:
        echo_json([wire.version(v) for v in found])
        return
    echo_table(
        ["ID", "Message", "Tags"], [[v.ref, v.message or "", ", ".join(v.tags)] for v in found]
    )


@command(versions, "details", help="Show a version")
@click.option("--id", "ref", required=True, help="DATASET:VERSION (or DATASET:TAG, :latest).")
def details(ref: str, json_output: bool, **_: object) -> None:
    v = services().versions.get(version_id(ref))
    if json_output:
        echo_json(wire.version(v))
        return
    echo_details(
        [
            ("ID", ref),
            ("Message", v.message or ""),
            ("Committed", "true" if v.is_committed else "false"),
            ("Tags", ", ".join(v.tags)),
            ("Version", v.ref),
            ("Files", v.file_count),
            ("Size", v.size),
            ("Parent", v.parent or ""),
            *(lineage_rows(v.lineage) if v.lineage else []),
        ]
    )


def lineage_rows(made: Lineage) -> list[tuple[str, str]]:
    """How a workflow made a version, as rows of `details`."""
    return [
        ("Workflow", made.workflow_id),
        ("Run", str(made.run)),
        ("Job", made.job),
        ("Output", made.output),
        ("Spec SHA-256", made.spec_sha256),
        ("Inputs", "\n".join(f"{i.name}: {i.ref}" for i in made.inputs)),
        *((f"String {k}", value) for k, value in sorted(made.strings.items())),
    ]


@command(
    versions, "lineage", help="Show how a version was made, from what, and what was made from it"
)
@click.option("--id", "ref", required=True, help="DATASET:VERSION (or DATASET:TAG, :latest).")
def lineage(ref: str, json_output: bool, **_: object) -> None:
    graph = services().versions.lineage(version_id(ref))
    if json_output:
        echo_json(wire.lineage_graph(graph))
        return
    name = f" ({graph.dataset_name})" if graph.dataset_name else ""
    click.echo(f"Version {graph.ref}{name}")
    click.echo(f"Made by: {_made_by(graph.lineage, spec=True)}")
    _echo_steps("Made from", graph.up, "nothing recorded (made by hand)")
    _echo_steps("Used by", graph.down, "no version made from it")
    if graph.truncated:
        click.echo(
            f"(cut: lineage is walked {MAX_LINEAGE_DEPTH} steps deep and "
            f"{MAX_LINEAGE_STEPS} versions wide; see --json)"
        )


def _made_by(made: Lineage | None, *, spec: bool = False) -> str:
    if made is None:
        return "hand (no workflow recorded)"
    text = f"job {made.job} (output {made.output}) of workflow {made.workflow_id}, run {made.run}"
    return f"{text}, spec {made.spec_sha256[:12]}" if spec else text


def _echo_steps(title: str, steps: tuple[LineageStep, ...], none: str) -> None:
    if not steps:
        click.echo(f"{title}: {none}")
        return
    click.echo(f"{title}:")
    for step in steps:
        name = f" ({step.dataset_name})" if step.dataset_name else ""
        made = "deleted since" if step.deleted else f"made by {_made_by(step.lineage)}"
        click.echo(f"{'  ' * step.depth}{step.ref}{name}: {made}")


@command(versions, "create", help="Create a version; with --source-path, upload and commit it")
@click.option("--id", "dataset_id", required=True, help="Dataset ID or name.")
@click.option("--message", help="Message of the version.")
@source_paths_option("File or directory to upload (repeatable); the version is then committed.")
@click.option("--parent", help="Start with the files of this version (REF), e.g. DATASET:latest.")
@jobs_option()
def create(
    dataset_id: str,
    message: str | None,
    source_paths: tuple[str, ...],
    parent: str | None,
    jobs: int | None,
    json_output: bool,
    **_: object,
) -> None:
    svc = services()
    jobs = jobs or svc.settings.jobs
    ds = svc.datasets.get(bare_id(dataset_id))
    prepared = None
    if source_paths:  # every source is read before the version exists
        svc.objects.open_ahead(ds)
        progress = make_progress(not json_output)
        prepared = upload.prepare(source_paths, None, jobs, progress, svc.hashes)
    v = svc.versions.create(dataset_id, message, parent=parent)
    if not json_output:
        click.echo(f"Created dataset version: {v.ref}")
    sent: dict[str, int] | None = None
    if prepared is not None:
        summary = upload.put(
            svc,
            v.ref,
            source_paths,
            progress=make_progress(not json_output),
            jobs=jobs,
            prepared=prepared,
        )
        sent = summary.to_json()
        if not json_output:
            echo_put_summary(summary)
        v = svc.versions.commit(v.ref)
        if not json_output:
            click.echo(f"Committed dataset version: {v.ref}")
    if json_output:  # the version, and with --source-path what the upload sent and skipped
        echo_json({**wire.version(v), "upload": sent} if sent else wire.version(v))


@command(versions, "update", help="Change a version's message")
@click.option("--id", "ref", required=True, help="DATASET:VERSION")
@click.option("--message", help="New message.")
def update(ref: str, message: str | None, json_output: bool, **_: object) -> None:
    v = services().versions.update(version_id(ref), message)
    emit(json_output, wire.version(v), f"Updated dataset version: {ref}")


@command(versions, "commit", help="Commit a version: it becomes immutable")
@click.option("--id", "ref", required=True, help="DATASET:VERSION")
def commit(ref: str, json_output: bool, **_: object) -> None:
    svc = services()
    already = False
    try:  # resolved once, in the commit itself (a version's totals cost a scan of its files)
        v = svc.versions.commit(version_id(ref))
    except VersionCommitted:
        already = True
        v = svc.versions.get(version_id(ref))
    if json_output:
        echo_json(wire.version(v))
    elif already:
        click.echo("Dataset version already committed")
    else:
        click.echo(f"Committed dataset version: {ref}")


@command(versions, "delete", help="Delete a version")
@click.option("--id", "ref", required=True, help="DATASET:VERSION")
def delete(ref: str, json_output: bool, **_: object) -> None:
    v = services().versions.delete(version_id(ref))
    emit(json_output, wire.version(v), f"Deleted dataset version: {ref}")
