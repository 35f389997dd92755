"""Identifier shapes, the same as Gradient's (see docs/architecture.md, "IDs")."""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import uuid
from collections.abc import Callable, Container

from cargohold.errors import InvalidReference

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"

DATASET_ID = re.compile(r"^ds[a-z0-9]{13}$")
VERSION_ID = re.compile(r"^[a-z0-9]{7}$")
PROVIDER_ID = re.compile(r"^spl[a-z0-9]{12}$")
TEAM_ID = re.compile(r"^te[a-z0-9]{7}$")
API_KEY_ID = re.compile(r"^key[a-z0-9]{12}$")
API_KEY = re.compile(r"^cgh_[A-Za-z0-9]{40}$")
API_KEY_PREFIX_LENGTH = 12
"""Characters of a key's text kept in clear (`cgh_` + 8) so that listings can name it."""
SHA256 = re.compile(r"^[0-9a-f]{64}$")
WORKFLOW_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
RUN_LOG_ID = re.compile(r"^wfr[0-9a-f]{32}$")
JOB_LOG_ID = re.compile(r"^wfrj[0-9a-f]{32}$")


def _random(n: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(n))


def new_dataset_id() -> str:
    return "ds" + _random(13)


def new_provider_id() -> str:
    return "spl" + _random(12)


def new_team_id() -> str:
    return "te" + _random(7)


def new_api_key_id() -> str:
    return "key" + _random(12)


def new_workflow_id() -> str:
    """A UUID (version 4, lowercase), as Gradient's workflow IDs."""
    return str(uuid.uuid4())


def new_run_log_id() -> str:
    """`wfr` + 32 hex: a workflow run's log ID."""
    return "wfr" + secrets.token_hex(16)


def new_job_log_id() -> str:
    """`wfrj` + 32 hex: the log ID of one job of a run."""
    return "wfrj" + secrets.token_hex(16)


def new_api_key_text() -> str:
    """A fresh API key: `cgh_` + 40 of [A-Za-z0-9] (40 x log2(62) = 238 bits of randomness).

    Shown once, to the operator who creates it; only its prefix and digest are stored."""
    alphabet = string.ascii_letters + string.digits
    return "cgh_" + "".join(secrets.choice(alphabet) for _ in range(40))


def api_key_prefix(text: str) -> str:
    return text[:API_KEY_PREFIX_LENGTH]


def key_digest(text: str) -> str:
    """The SHA-256 (hex) of an API key's whole text, which is what the catalog stores.

    A fast hash is the right one here: the key is 238 random bits, not a password, so no
    guessing is feasible and a slow, salted hash (bcrypt, argon2) would only make every HTTP
    request pay for it. An unsalted digest also lets the key be found by one indexed lookup."""
    return hashlib.sha256(text.encode()).hexdigest()


def is_api_key_text(text: str) -> bool:
    return bool(API_KEY.fullmatch(text))


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


def is_team_id(text: str) -> bool:
    return bool(TEAM_ID.fullmatch(text))


def is_workflow_id(text: str) -> bool:
    """A UUID in its 8-4-4-4-12 hex form, in either case."""
    return bool(WORKFLOW_ID.fullmatch(text))


def is_run_log_id(text: str) -> bool:
    return bool(RUN_LOG_ID.fullmatch(text))


def is_job_log_id(text: str) -> bool:
    return bool(JOB_LOG_ID.fullmatch(text))


def check_sha256(text: str) -> str:
    if not SHA256.fullmatch(text):
        raise InvalidReference(f"Not a SHA-256 digest: {text!r}", hint="64 lowercase hex digits")
    return text
