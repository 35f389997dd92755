"""`cargohold cache ...`"""

from __future__ import annotations

import click

from cargohold.cache import parse_size
from cargohold.cache.sizes import format_size
from cargohold.cli.base import Group, command, emit, services
from cargohold.cli.render import echo_details, echo_json


@click.group("cache", cls=Group, help="Manage the local cache")
def cache() -> None:
    pass


@command(cache, "status", help="Show where the cache is, its size and its limit")
def status(json_output: bool, **_: object) -> None:
    st = services().cache.status()
    if json_output:
        echo_json({"path": str(st.root), "entries": st.entries, "size": st.size, "limit": st.limit})
        return
    echo_details(
        [
            ("Path", str(st.root)),
            ("Entries", st.entries),
            ("Size", f"{format_size(st.size)} ({st.size} bytes)"),
            ("Limit", f"{format_size(st.limit)} ({st.limit} bytes)"),
        ]
    )


@command(cache, "prune", help="Evict least recently used entries")
@click.option(
    "--size",
    "target",
    default=None,
    help="Shrink the cache to this size (e.g. 5G, 0 to empty it; default: the limit).",
)
def prune(target: str | None, json_output: bool, **_: object) -> None:
    result = services().cache.prune(parse_size(target) if target is not None else None)
    emit(
        json_output,
        {"removed": result.removed, "freed": result.freed},
        f"Removed {result.removed} entries, freed {format_size(result.freed)}",
    )


@command(cache, "verify", help="Re-hash every cached file; corrupt ones are evicted")
def verify(json_output: bool, **_: object) -> None:
    result = services().cache.verify_all()
    message = f"Evicted {result.removed} corrupt entries ({format_size(result.freed)})"
    emit(json_output, {"removed": result.removed, "freed": result.freed}, message)
