"""(being written: issue 6)"""

from __future__ import annotations

import click

from cargohold.cli.base import Group


@click.group("secrets", cls=Group)
def secrets() -> None:
    """Team secrets for workflows (secret:NAME), encrypted at rest."""
