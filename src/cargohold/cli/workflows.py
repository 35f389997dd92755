"""(being written: issue 6)"""

from __future__ import annotations

import click

from cargohold.cli.base import Group


@click.group("workflows", cls=Group)
def workflows() -> None:
    """Run Gradient workflow YAML locally: jobs read dataset versions at /inputs and commit
    /outputs as new versions, with lineage."""
