"""What `files list` shows: a directory's children, or everything below it, a page at a time.

Pages are cut by name (`after`), never by offset, so the first page of a listing of a million
files costs as much as the first page of ten, and a page deep in it no more.
"""

from __future__ import annotations

from collections.abc import Callable

from cargohold.domain.models import FileEntry, ListedEntry

PAST_FOLDER = "\U0010ffff"
"""Appended to a folder prefix, a cursor that sorts after every path inside the folder."""
BATCH = 5000

Fetch = Callable[[str | None, int], list[FileEntry]]
"""(after this path or None, at most this many) → files in path order."""


def list_page(
    fetch: Fetch, prefix: str, recursive: bool, limit: int | None = None, after: str | None = None
) -> list[ListedEntry]:
    """Rows relative to `prefix`, after the row named `after`; without `recursive`,
    sub-directories show once as 'name/' (the listing jumps past their contents)."""
    cursor = _cursor(prefix, after)
    rows: list[ListedEntry] = []
    while limit is None or len(rows) < limit:
        want = BATCH if limit is None else limit - len(rows)
        batch = fetch(cursor, want)
        cursor, jumped = _take(batch, prefix, recursive, rows, limit)
        if not jumped and len(batch) < want:
            break
    return rows


def _take(
    batch: list[FileEntry],
    prefix: str,
    recursive: bool,
    rows: list[ListedEntry],
    limit: int | None,
) -> tuple[str | None, bool]:
    """Add rows from a batch; returns the new cursor and whether it jumped past a folder."""
    cursor = None
    for entry in batch:
        rest = entry.path[len(prefix) :]
        if recursive or "/" not in rest:
            rows.append(ListedEntry(name=rest, size=entry.size))
            cursor = entry.path
        else:
            folder = rest.split("/", 1)[0] + "/"
            rows.append(ListedEntry(name=folder, size=None))
            return prefix + folder + PAST_FOLDER, True
        if limit is not None and len(rows) >= limit:
            break
    return cursor, False


def _cursor(prefix: str, after: str | None) -> str | None:
    if not after:
        return None
    return prefix + after + (PAST_FOLDER if after.endswith("/") else "")
