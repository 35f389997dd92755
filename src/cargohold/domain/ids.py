"""Identifier shapes, the same as Gradient's (see docs/architecture.md, "IDs")."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Container

from cargohold.errors import InvalidReference

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

DATASET_ID = re.compile(r"^ds[a-z0-9]{13}$")
VERSION_ID = re.compile(r"^[a-z0-9]{7}$")
PROVIDER_ID = re.compile(r"^spl[a-z0-9]{12}$")
TEAM_ID = re.compile(r"^te[a-z0-9]{7}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def new_dataset_id() -> str:
    return "ds" + _random(13)


def new_provider_id() -> str:
    return "spl" + _random(12)


def new_team_id() -> str:
    return "te" + _random(7)


def new_version_id(taken: Container[str] = (), rand: Callable[[int], str] = _random) -> str:
    """A fresh 7-character version ID that is neither `latest` nor in `taken`.

    `taken` holds the dataset's existing version IDs and tag names, so that a selector after
    `:` never names two things (see refs.py).
    """
    while True:
        candidate = rand(7)
        if candidate not in taken:
            return candidate


def is_dataset_id(text: str) -> bool:
    return bool(DATASET_ID.fullmatch(text))


def is_version_id(text: str) -> bool:
    return bool(VERSION_ID.fullmatch(text))


def is_provider_id(text: str) -> bool:
    return bool(PROVIDER_ID.fullmatch(text))


def check_sha256(text: str) -> str:
    if not SHA256.fullmatch(text):
        raise InvalidReference(f"Not a SHA-256 digest: {text!r}", hint="64 lowercase hex digits")
    return text
