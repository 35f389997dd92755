"""`cargohold datasets tags ...`"""

from __future__ import annotations

import click

from cargohold.cli.base import Group, command, emit, services, tag_id, version_id
from cargohold.cli.render import echo_json, echo_table
from cargohold.domain import wire


@click.group("tags", cls=Group, help="Manage tags")
def tags() -> None:
    pass


@command(tags, "list", help="List a dataset's tags")
@click.option("--id", "dataset_id", required=True, help="Dataset ID or name.")
def list_tags(dataset_id: str, json_output: bool, **_: object) -> None:
    found = services().tags.list(dataset_id.split(":", 1)[0])
    if json_output:
        echo_json([wire.tag(t) for t in found])
        return
    echo_table(["ID", "Name"], [[f"{t.dataset_id}:{t.version}", t.name] for t in found])


@command(tags, "set", help="Point a tag at a version (moves it if it exists)")
@click.option("--id", "ref", required=True, help="DATASET:VERSION")
@click.option("--name", required=True, help="Tag name.")
def set_tag(ref: str, name: str, json_output: bool, **_: object) -> None:
    t = services().tags.set(version_id(ref), name)
    emit(json_output, wire.tag(t), f"Set dataset tag: {t.dataset_id}:{t.name}")


@command(tags, "delete", help="Delete a tag")
@click.option("--id", "ref", required=True, help="DATASET:TAG")
def delete(ref: str, json_output: bool, **_: object) -> None:
    tag_id(ref)
    t = services().tags.delete(ref)
    emit(json_output, wire.tag(t), f"Deleted dataset tag: {t.dataset_id}:{t.name}")
