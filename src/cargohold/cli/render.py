"""Output: Gradient's ASCII tables (terminaltables' AsciiTable style), messages and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

NO_DATA = "No data found"


def table(rows: Sequence[Sequence[Any]], *, details: bool = False) -> str:
    """A bordered table; the first row is the header (for details, the first key/value row)."""
    cells = [[("" if c is None else str(c)).splitlines() or [""] for c in row] for row in rows]
    widths = [max(len(line) for row in cells for line in row[i]) for i in range(len(cells[0]))]
    border = "+" + "+".join("-" * (w + 2) for w in widths) + "+"
    out = [border]
    for n, row in enumerate(cells):
        height = max(len(c) for c in row)
        for k in range(height):
            parts = [
                (c[k] if k < len(c) else "").ljust(w) for c, w in zip(row, widths, strict=True)
            ]
            out.append("| " + " | ".join(parts) + " |")
        if n == 0 and len(cells) > 1:
            out.append(border)
    out.append(border)
    return "\n".join(out)


def when(value: datetime | None) -> str:
    """A date as tables show it (UTC, to the second); nothing for none."""
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def echo_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    if not rows:
        click.echo(NO_DATA)
        return
    click.echo(table([list(header), *rows]))


def echo_details(rows: Sequence[tuple[str, Any]]) -> None:
    click.echo(table([list(r) for r in rows], details=True))


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))
