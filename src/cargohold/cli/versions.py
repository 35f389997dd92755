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
        ]
    )


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
