"""`cargohold storageProviders ...`"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from cargohold.cache.sizes import format_size
from cargohold.cli.base import F, Group, command, emit, services
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


@command(storage_providers, "usage", help="Show what the team stores in each provider")
def usage(json_output: bool, **_: object) -> None:
    report = services().storage_providers.usage()
    if json_output:
        echo_json(report)
        return
    rows = [
        [
            p["name"],
            p["storageProviderId"],
            format_size(p["bytes"]),
            p["objects"],
            p["datasets"],
            p["versions"],
            format_size(p["reservedBytes"]),
        ]
        for p in report["providers"]
    ]
    header = ["Name", "ID", "Stored", "Objects", "Datasets", "Versions", "Reserved"]
    echo_table(header, rows)
    quota = report["managedQuota"]
    click.echo(f"Managed quota: {format_size(quota) if quota else 'none'}")


# -- create / update (groups with one sub-command each: `s3`, as Gradient's) -----------------


@storage_providers.group("create", cls=Group, help="Create a storage provider")
def create() -> None:
    pass


@storage_providers.group("update", cls=Group, help="Update a storage provider")
def update() -> None:
    pass


def s3_options(*, creating: bool) -> Callable[[F], F]:
    """The S3 config options, in Gradient's spelling and kebab-case."""
    need = "" if creating else " (unchanged when not given)"
    clear = " (unset when not given)" if creating else ' (unchanged when not given; "" unsets)'
    options = [
        click.option("--name", required=creating, help=f"Name of the provider{need}."),
        click.option("--bucket", required=creating, help=f"Bucket name{need}."),
        click.option(
            "--accessKey",
            "--access-key",
            "access_key",
            required=creating,
            help=f"Access key ID{need}.",
        ),
        click.option(
            "--secretAccessKey",
            "--secret-access-key",
            "secret_key",
            required=creating,
            help=f"Secret access key{need}; stored encrypted, never shown.",
        ),
        click.option("--endpoint", help=f"S3 endpoint URL, for stores other than AWS{clear}."),
        click.option("--region", help=f"Region{clear}."),
        click.option(
            "--signatureVersion",
            "--signature-version",
            "signature_version",
            help=f"Signature version, e.g. v4{clear}.",
        ),
    ]

    def apply(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


@command(create, "s3", help="Create an S3-compatible storage provider (its access is proven first)")
@s3_options(creating=True)
def create_s3(json_output: bool, **values: Any) -> None:
    p = services().storage_providers.create_s3(**_s3_values(values))
    emit(json_output, wire.storage_provider(p), f"Created new storage provider with id: {p.id}")


@command(update, "s3", help="Update an S3-compatible storage provider (new access is proven first)")
@click.option("--id", "provider_id", required=True, help="Storage provider ID.")
@s3_options(creating=False)
def update_s3(provider_id: str, json_output: bool, **values: Any) -> None:
    p = services().storage_providers.update_s3(provider_id, **_s3_values(values))
    emit(json_output, wire.storage_provider(p), "Updated storage provider")


S3_FIELDS = (
    "name",
    "bucket",
    "access_key",
    "secret_key",
    "endpoint",
    "region",
    "signature_version",
)


def _s3_values(values: dict[str, Any]) -> dict[str, Any]:
    """The S3 options among a command's values (the common options left out)."""
    return {k: values[k] for k in S3_FIELDS}


@command(storage_providers, "delete", help="Delete a storage provider no dataset uses")
@click.option("--id", "provider_id", required=True, help="Storage provider ID.")
def delete(provider_id: str, json_output: bool, **_: object) -> None:
    p = services().storage_providers.delete(provider_id)
    emit(json_output, wire.storage_provider(p), f"Deleted storage provider: {p.id}")


@command(
    storage_providers,
    "cors",
    help="Let browsers at these origins GET and PUT objects of the provider's bucket",
)
@click.option("--id", "provider_id", required=True, help="Storage provider ID.")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    required=True,
    help="Allowed origin, e.g. https://app.example.com (repeat for several).",
)
def cors(provider_id: str, origins: tuple[str, ...], json_output: bool, **_: object) -> None:
    rule = services().storage_providers.cors(provider_id, origins)
    emit(
        json_output,
        {"storageProviderId": provider_id, "corsRule": rule},
        f"Applied CORS rule to storage provider {provider_id}: GET and PUT from "
        f"{', '.join(rule['AllowedOrigins'])}, all headers, max age {rule['MaxAgeSeconds']} s",
    )
