"""`cargohold storageProviders ...`"""

from __future__ import annotations

from typing import Any

import click

from cargohold.cli.base import Group, command, services
from cargohold.cli.render import echo_details, echo_json, echo_table
from cargohold.domain import wire
from cargohold.domain.models import StorageProvider


@click.group("storageProviders", cls=Group, help="Manage storage providers")
def storage_providers() -> None:
    pass


def config_cell(p: StorageProvider, limit: int | None = 5) -> str:
    pairs = [(k, v) for k, v in wire.masked_config(p.config).items() if _scalar(v)]
    lines = [f"{k}: {v}" for k, v in pairs]
    if limit is not None and len(lines) > limit:
        lines = [*lines[:limit], "..."]
    return "\n".join(lines)


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


@command(storage_providers, "list", help="List storage providers")
def list_providers(json_output: bool, **_: object) -> None:
    found = services().storage_providers.list()
    if json_output:
        echo_json([wire.storage_provider(p) for p in found])
        return
    echo_table(
        ["Name", "ID", "Type", "Config"], [[p.name, p.id, p.type, config_cell(p)] for p in found]
    )


@command(storage_providers, "details", help="Show a storage provider")
@click.option("--id", "provider_id", required=True, help="Storage provider ID.")
def details(provider_id: str, json_output: bool, **_: object) -> None:
    p = services().storage_providers.get(provider_id)
    if json_output:
        echo_json(wire.storage_provider(p))
        return
    echo_details(
        [("Name", p.name), ("ID", p.id), ("Type", p.type), ("Config", config_cell(p, None))]
    )
