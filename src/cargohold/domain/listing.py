"""What `files list` shows: a directory's children, or everything below it."""

from __future__ import annotations

from collections.abc import Iterable

from cargohold.domain.models import FileEntry, ListedEntry


def list_dir(entries: Iterable[FileEntry], prefix: str, recursive: bool) -> list[ListedEntry]:
    """Rows relative to `prefix`; without `recursive`, sub-directories show as 'name/'."""
    rows: list[ListedEntry] = []
    seen_dirs: set[str] = set()
    for entry in entries:
        rest = entry.path[len(prefix) :]
        if recursive or "/" not in rest:
            rows.append(ListedEntry(name=rest, size=entry.size))
            continue
        folder = rest.split("/", 1)[0] + "/"
        if folder not in seen_dirs:
            seen_dirs.add(folder)
            rows.append(ListedEntry(name=folder, size=None))
    return sorted(rows, key=lambda r: r.name)
