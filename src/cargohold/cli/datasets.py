"""`cargohold datasets ...`"""

from __future__ import annotations

import click

from cargohold.cli.base import Group, bare_id, command, emit, services
from cargohold.cli.render import echo_details, echo_json, echo_table
from cargohold.domain import wire
from cargohold.domain.models import Dataset


@click.group("datasets", cls=Group, help="Manage datasets")
def datasets() -> None:
    pass


def provider_cell(ds: Dataset) -> str:
    return f"{ds.storage_provider.name} ({ds.storage_provider.id})"


@command(datasets, "list", help="List datasets")
def list_datasets(json_output: bool, **_: object) -> None:
    found = services().datasets.list()
    if json_output:
        echo_json([wire.dataset(d) for d in found])
        return
    echo_table(
        ["Name", "ID", "Storage Provider"], [[d.name, d.id, provider_cell(d)] for d in found]
    )


@command(datasets, "details", help="Show dataset details")
@click.option("--id", "dataset_id", required=True, help="Dataset ID or name.")
def details(dataset_id: str, json_output: bool, **_: object) -> None:
    ds = services().datasets.get(bare_id(dataset_id))
    if json_output:
        echo_json(wire.dataset(ds))
        return
    echo_details(
        [
            ("Name", ds.name),
            ("ID", ds.id),
            ("Description", ds.description or ""),
            ("StorageProvider", provider_cell(ds)),
        ]
    )


@command(datasets, "create", help="Create a dataset")
@click.option("--name", required=True, help="Name of the dataset (unique in the team).")
@click.option(
    "--storageProviderId",
    "--storage-provider-id",
    "storage_provider_id",
    help="Storage provider ID (default: the managed provider).",
)
@click.option("--description", help="Description of the dataset.")
def create(
    name: str,
    storage_provider_id: str | None,
    description: str | None,
    json_output: bool,
    **_: object,
) -> None:
    ds = services().datasets.create(name, storage_provider_id, description)
    emit(json_output, wire.dataset(ds), f"Created dataset: {ds.id}")


@command(datasets, "update", help="Update a dataset")
@click.option("--id", "dataset_id", required=True, help="Dataset ID or name.")
@click.option("--name", help="New name.")
@click.option("--description", help="New description.")
def update(
    dataset_id: str, name: str | None, description: str | None, json_output: bool, **_: object
) -> None:
    ds = services().datasets.update(bare_id(dataset_id), name=name, description=description)
    emit(json_output, wire.dataset(ds), f"Updated dataset: {ds.id}")


@command(datasets, "delete", help="Delete a dataset with its versions and tags")
@click.option("--id", "dataset_id", required=True, help="Dataset ID or name.")
def delete(dataset_id: str, json_output: bool, **_: object) -> None:
    ds = services().datasets.delete(bare_id(dataset_id))
    emit(json_output, wire.dataset(ds), f"Deleted dataset: {ds.id}")
