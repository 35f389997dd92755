"""`cargohold datasets files ...`"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from cargohold.cache.sizes import format_size
from cargohold.cli.base import (
    Group,
    bool_value_option,
    command,
    emit,
    jobs_option,
    services,
    source_paths_option,
    target_path_option,
    version_id,
)
from cargohold.cli.progress import make_progress
from cargohold.cli.render import echo_json, echo_table
from cargohold.domain import wire
from cargohold.domain.models import ListedEntry
from cargohold.services import download, upload
from cargohold.services.download import GetSummary
from cargohold.services.upload import PutSummary


@click.group("files", cls=Group, help="Manage files")
def files() -> None:
    pass


@command(files, "list", help="List files of a version")
@click.option("--id", "ref", required=True, help="DATASET:VERSION, DATASET:TAG or DATASET:latest")
@click.option("--path", default=None, help="Directory inside the version.")
@bool_value_option(
    "--recursive", default=False, help_text="List sub-directories too (a flag, or true/false)."
)
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many rows.")
@click.option("--after", default=None, help="Start after the row of this name (paging).")
def list_files(
    ref: str,
    path: str | None,
    recursive: bool,
    limit: int | None,
    after: str | None,
    json_output: bool,
    **_: object,
) -> None:
    svc = services()
    if limit is None and not json_output and sys.stdout.isatty():
        _page_interactively(lambda a: svc.files.list(ref, path, recursive, PAGE, a))
        return
    rows = svc.files.list(ref, path, recursive, limit, after)
    if json_output:
        echo_json([wire.listed_entry(r) for r in rows])
        return
    echo_table(["Name", "Size"], _cells(rows))


PAGE = 20


def _cells(rows: list[ListedEntry]) -> list[list[object]]:
    return [[r.name, "" if r.size is None else r.size] for r in rows]


def _page_interactively(page: Callable[[str | None], list[ListedEntry]]) -> None:
    """Gradient's pages of 20 on a terminal, each after a prompt."""
    rows = page(None)
    echo_table(["Name", "Size"], _cells(rows))
    while len(rows) == PAGE:
        click.echo()
        if not click.confirm("Do you want to continue?", default=False):
            return
        rows = page(rows[-1].name)
        if rows:
            echo_table(["Name", "Size"], _cells(rows))


@command(files, "get", help="Download files of a version into a local directory")
@click.option("--id", "ref", required=True, help="DATASET:VERSION, DATASET:TAG or DATASET:latest")
@source_paths_option("File or directory in the version (repeatable; default: everything).")
@target_path_option("Local directory.", required=True)
@jobs_option()
@click.option("--verify", is_flag=True, help="Re-hash cached files before using them.")
def get(
    ref: str,
    source_paths: tuple[str, ...],
    target_path: str,
    jobs: int | None,
    verify: bool,
    json_output: bool,
    **_: object,
) -> None:
    svc = services()
    progress = make_progress(not json_output)
    summary = download.get(svc, ref, Path(target_path), source_paths, progress, jobs, verify)
    if json_output:
        echo_json(summary.to_json())
    else:
        echo_get_summary(summary, target_path)


@command(files, "put", help="Upload files into an uncommitted version")
@click.option("--id", "ref", required=True, help="DATASET:VERSION")
@source_paths_option(
    "Local file or directory (repeatable). 'dir/' uploads its contents, 'dir' the folder. "
    "Symbolic links are followed (a link back into its own folder is not); broken links and "
    "special files are refused before anything is sent.",
    required=True,
)
@target_path_option("Directory inside the version (default: the root).")
@jobs_option()
def put(
    ref: str,
    source_paths: tuple[str, ...],
    target_path: str | None,
    jobs: int | None,
    json_output: bool,
    **_: object,
) -> None:
    progress = make_progress(not json_output)
    summary = upload.put(services(), version_id(ref), source_paths, target_path, progress, jobs)
    if json_output:
        echo_json(summary.to_json())
    else:
        echo_put_summary(summary)


@command(files, "delete", help="Delete files from an uncommitted version")
@click.option("--id", "ref", required=True, help="DATASET:VERSION")
@click.option(
    "--path",
    "paths",
    multiple=True,
    help="File or directory to delete (repeatable; default: every file).",
)
def delete(ref: str, paths: tuple[str, ...], json_output: bool, **_: object) -> None:
    removed = services().files.delete(version_id(ref), paths or ("/",))
    emit(json_output, {"deleted": removed}, f"Deleted {removed} file(s) from {ref}")


def echo_put_summary(s: PutSummary) -> None:
    click.echo(
        f"Uploaded {s.files} file(s): {s.new_objects} new object(s), "
        f"{format_size(s.bytes_sent)} sent, {format_size(s.bytes_skipped)} skipped "
        "(already stored)"
    )


def echo_get_summary(s: GetSummary, target: str) -> None:
    how = ", ".join(f"{n} by {m}" for m, n in sorted(s.methods.items()))
    click.echo(
        f"Downloaded {s.files} file(s), {format_size(s.bytes)}, into {target}: "
        f"{s.fetched} fetched ({format_size(s.bytes_fetched)}), the rest from the cache"
        + (f"; placed {how}" if how else "")
    )
