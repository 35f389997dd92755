"""`cargohold secrets ...`: the team's secrets, named in workflow specs as ``secret:NAME``.

No command ever prints a value: create, update and delete answer the name (and, with
``--json``, the dates), and list shows names and dates. ``--value -`` reads the value from
standard input (or asks for it, unechoed, at a terminal), so it stays out of the shell's
history and the process list; the value is never written by ``--createOptionsFile``.
"""

from __future__ import annotations

import sys

import click

from cargohold.cli.base import Group, command, emit, services
from cargohold.cli.render import echo_json, echo_table, when
from cargohold.domain import wire
from cargohold.errors import InvalidInput
from cargohold.services.secrets import BINARY_HINT

VALUE_HELP = (
    "The secret's value. '-' reads it from standard input (one trailing newline dropped) or, "
    "at a terminal, asks for it without echoing: either keeps it out of the shell's history."
)
NAME_HELP = "Secret name: letters, digits, '_' or '-', starting with a letter (case matters)."


@click.group("secrets", cls=Group)
def secrets() -> None:
    """Team secrets for workflows (secret:NAME), encrypted at rest."""


@command(secrets, "create", help="Create a secret (refused if the name exists: see update)")
@click.option("--name", required=True, help=NAME_HELP)
@click.option("--value", "secret_value", required=True, help=VALUE_HELP)
def create(name: str, secret_value: str, json_output: bool, **_: object) -> None:
    s = services().secrets.create(name, read_value(secret_value))
    emit(json_output, wire.secret(s), f"Created secret: {s.name}")


@command(secrets, "update", help="Give an existing secret a new value")
@click.option("--name", required=True, help="Secret name.")
@click.option("--value", "secret_value", required=True, help=VALUE_HELP)
def update(name: str, secret_value: str, json_output: bool, **_: object) -> None:
    s = services().secrets.update(name, read_value(secret_value))
    emit(json_output, wire.secret(s), f"Updated secret: {s.name}")


@command(secrets, "list", help="List the team's secrets (names and dates, never values)")
def list_secrets(json_output: bool, **_: object) -> None:
    found = services().secrets.list()
    if json_output:
        echo_json([wire.secret(s) for s in found])
        return
    echo_table(["Name", "Created"], [[s.name, when(s.dt_created)] for s in found])


@command(secrets, "delete", help="Delete a secret")
@click.option("--name", required=True, help="Secret name.")
def delete(name: str, json_output: bool, **_: object) -> None:
    s = services().secrets.delete(name)
    emit(json_output, wire.secret(s), f"Deleted secret: {s.name}")


def read_value(given: str) -> str:
    """The value as given, or, for '-', read from standard input (one trailing newline
    dropped, as `echo` and editors add one) or asked for at a terminal."""
    if given != "-":
        return given
    if sys.stdin.isatty():
        entered: str = click.prompt("Value", hide_input=True, confirmation_prompt=True, err=True)
        return entered
    data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read()
    text = _text(data) if isinstance(data, bytes) else data
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def _text(data: bytes) -> str:
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise InvalidInput(
            "The value read from standard input is not UTF-8 text",
            hint=BINARY_HINT,
        ) from None
