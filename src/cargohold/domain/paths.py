"""Paths inside a dataset version (GRADIENT.md §1.15-1.19), and where local files map to.

A *key* is a file's path inside a version: relative, ``/``-separated, no empty, ``.`` or ``..``
segment, e.g. ``images/cat.png``. A *directory prefix* is ``""`` (the root) or a key-like
path ending in ``/``. What users type (``--path``, ``--target-path``, ``--source-path`` of
``files get``) is normalised the way Gradient did: repeated ``/`` collapse, a leading ``/``
means the root; ``..`` is refused, so no path can leave the version.
"""

from __future__ import annotations

import posixpath

from cargohold.errors import InvalidPath

MAX_KEY_BYTES = 1024


def _segments(path: str, what: str) -> list[str]:
    if "\x00" in path:
        raise InvalidPath(f"Invalid {what}: {path!r} contains a NUL byte", path=path)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPath(f"Invalid {what}: {path!r} is not valid UTF-8", path=path) from None
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidPath(f"Invalid {what}: {path!r} must not contain '..'", path=path)
    return parts


def dir_prefix(path: str | None, what: str = "path") -> str:
    """A user's directory path as a prefix: '' for the root, else 'a/b/'."""
    parts = _segments(path or "", what)
    return "/".join(parts) + "/" if parts else ""


def user_path(path: str, what: str = "path") -> tuple[str, bool]:
    """A user's file-or-directory path: (normalised key, whether it ended with '/')."""
    parts = _segments(path, what)
    return "/".join(parts), path.endswith("/") or not parts


def check_key(key: str) -> str:
    """Validate a key stored in a version (a manifest entry, an upload's path)."""
    if key.startswith("/") or not key:
        raise InvalidPath(f"Invalid file path {key!r}: it must be relative and non-empty", path=key)
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts) or "\x00" in key:
        raise InvalidPath(f"Invalid file path {key!r}", path=key)
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPath(
            f"File path {key!r} is not valid UTF-8",
            hint="Rename the file so that its name is valid UTF-8",
            path=key,
        ) from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidPath(f"File path longer than {MAX_KEY_BYTES} bytes: {key[:60]}...", path=key)
    return key


def upload_key(target: str, top_name: str | None, relative: str) -> str:
    """Key of an uploaded file (files put): target prefix + optional top folder + relative path.

    - a file ``f.txt`` → ``<target>/f.txt`` (top_name None, relative = basename);
    - a directory ``data`` without a trailing separator → ``<target>/data/<relative>``;
    - a directory ``data/`` with one → ``<target>/<relative>``.
    """
    parts = [target.rstrip("/")] if target else []
    if top_name:
        parts.append(top_name)
    parts.append(relative)
    return check_key("/".join(p for p in parts if p))


def relative_to(key: str, prefix: str) -> str:
    """The key as seen from a directory prefix (which it must start with)."""
    return key[len(prefix) :] if prefix and key.startswith(prefix) else key


def parent_dirs(key: str) -> list[str]:
    """Every directory prefix above a key: 'a/b/c' → ['a/', 'a/b/']."""
    parts = key.split("/")[:-1]
    return ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def basename(key: str) -> str:
    return posixpath.basename(key)
