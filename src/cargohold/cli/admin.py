"""`cargohold admin ...`: teams and API keys, on the catalog of CARGOHOLD_DATABASE_URL.

These commands always act on the local catalog, never through a server: they are how an
operator gives teams their first keys.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from cargohold.cli.base import F, Group, command, emit
from cargohold.cli.render import echo_json, echo_table, when
from cargohold.domain import wire
from cargohold.services.admin import AdminService
from cargohold.services.root import Platform
from cargohold.settings import Settings

SHOWN_ONCE = "Save this key now: it is shown only once and cannot be recovered."


@click.group("admin", cls=Group, help="Operate a cargohold server: teams and API keys")
def admin() -> None:
    pass


@admin.group("teams", cls=Group, help="List teams")
def teams() -> None:
    pass


@admin.group("keys", cls=Group, help="Create, list and revoke a team's API keys")
def keys() -> None:
    pass


@contextmanager
def admin_service() -> Iterator[AdminService]:
    """The service over the catalog of CARGOHOLD_DATABASE_URL (CARGOHOLD_SERVER is ignored)."""
    platform = Platform(Settings.from_env())
    try:
        yield AdminService(platform.catalog)
    finally:
        platform.close()


def team_option() -> Callable[[F], F]:
    return click.option("--team", "team", required=True, help="Team ID or name.")


@command(admin, "create-team", help="Create a team, with its managed storage and a first API key")
@click.option("--name", required=True, help="Name of the team (also its namespace).")
def create_team(name: str, json_output: bool, **_: object) -> None:
    with admin_service() as service:
        team, text = service.create_team(name)
    emit(
        json_output,
        {"team": wire.team(team), "apiKey": text},
        f"Created team: {team.name} ({team.id})\nAPI key: {text}\n{SHOWN_ONCE}",
    )


@command(teams, "list", help="List teams")
def list_teams(json_output: bool, **_: object) -> None:
    with admin_service() as service:
        found = service.list_teams()
    if json_output:
        echo_json([wire.team(t) for t in found])
        return
    echo_table(["Name", "ID", "Created"], [[t.name, t.id, when(t.dt_created)] for t in found])


@command(keys, "create", help="Create an API key for a team (its text is shown once)")
@team_option()
@click.option("--name", default=None, help="A name to recognise the key by.")
def create_key(team: str, name: str | None, json_output: bool, **_: object) -> None:
    with admin_service() as service:
        owner = service.team(team)
        key, text = service.create_key(owner, name)
    emit(
        json_output,
        {"team": wire.team(owner), "key": wire.api_key(key), "apiKey": text},
        f"Created API key: {key.id} ({key.prefix}) for team {owner.name} ({owner.id})\n"
        f"API key: {text}\n{SHOWN_ONCE}",
    )


@command(keys, "list", help="List a team's API keys (by prefix; the keys are never shown)")
@team_option()
def list_keys(team: str, json_output: bool, **_: object) -> None:
    with admin_service() as service:
        found = service.list_keys(team)
    if json_output:
        echo_json([wire.api_key(k) for k in found])
        return
    echo_table(
        ["ID", "Name", "Prefix", "Created", "Revoked"],
        [[k.id, k.name or "", k.prefix, when(k.dt_created), when(k.dt_revoked)] for k in found],
    )


@command(keys, "revoke", help="Revoke an API key; it stops working at once")
@team_option()
@click.option("--key", "key", required=True, help="Key ID or prefix (as keys list shows).")
def revoke_key(team: str, key: str, json_output: bool, **_: object) -> None:
    with admin_service() as service:
        revoked = service.revoke_key(team, key)
    emit(
        json_output,
        wire.api_key(revoked),
        f"Revoked API key: {revoked.id} ({revoked.prefix})",
    )
