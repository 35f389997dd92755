"""Signed grants: what one URL of `/gradient-s3/...` allows (see `gradient_s3.py`).

A grant names the team, dataset, version, operation and Key (with the upload ID and part
number of a part, or the parameters of a listing), and when it expires. It travels in the URL
as `X-Cargohold-Grant=<payload>.<mac>`, signed with HMAC-SHA256 under a key derived from the
server's secret (`CARGOHOLD_SECRET_KEY` or the home's key file), so any server process sharing
that secret accepts it and none keeps state about it. It allows the one HTTP method of its
operation on the one Key it names, and nothing after it expires. Upload IDs are HMACs too.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import hmac
import json
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cargohold.errors import InvalidInput, NotFound
from cargohold.services.crypto import KEY_FILE, read_key_file
from cargohold.services.gradient_files import MAX_KEYS, split_prefix
from cargohold.settings import Settings

GRANT_PARAM = "X-Cargohold-Grant"
_UPLOAD_ID = re.compile(r"[0-9a-f]{64}")

METHOD_OF = {
    "getObject": "GET",
    "headObject": "HEAD",
    "listObjectsV2": "GET",
    "putObject": "PUT",
    "deleteObject": "DELETE",
    "uploadPart": "PUT",
}
"""The one HTTP method each operation's URL allows."""
RUN_AT_PRESIGN = frozenset({"createMultipartUpload", "completeMultipartUpload"})
WRITES = frozenset(
    {"putObject", "deleteObject", "createMultipartUpload", "uploadPart", "completeMultipartUpload"}
)
OPERATIONS = frozenset(METHOD_OF) | RUN_AT_PRESIGN


class Denied(Exception):
    """A URL whose grant is missing, tampered with, expired, or for something else."""


@dataclass(frozen=True)
class Grant:
    """What one URL allows. `key` is the normalized Key ('' for a listing)."""

    team: str
    dataset: str
    version: str
    op: str
    expires: int
    key: str = ""
    mime: str = ""
    upload: str = ""
    part: int = 0
    prefix: str = ""  # a listing's Prefix, as the client sent it
    delimiter: str = "/"
    max_keys: int = MAX_KEYS
    token: str = ""  # the ContinuationToken the client sent
    after: str = ""  # ...decoded: the last row of the previous page

    @property
    def ref(self) -> str:
        return f"{self.dataset}:{self.version}"


class Signer:
    """Signs and checks grants and upload IDs with the server's derived HMAC key."""

    def __init__(self, settings: Settings) -> None:
        self._key = _signing_key(settings.secret_key, str(settings.home))

    def _mac(self, label: str, data: bytes) -> bytes:
        return hmac.new(self._key, label.encode() + b"\n" + data, hashlib.sha256).digest()

    def token(self, grant: Grant) -> str:
        fields = {
            f.name: getattr(grant, f.name)
            for f in dataclasses.fields(grant)
            if getattr(grant, f.name) != f.default  # short URLs: defaults left out
        }
        payload = json.dumps(fields, separators=(",", ":"), sort_keys=True).encode()
        return f"{b64(payload)}.{b64(self._mac('grant', payload))}"

    def grant(self, token: str) -> Grant:
        payload_text, _, mac_text = token.partition(".")
        try:
            payload, mac = unb64(payload_text), unb64(mac_text)
        except ValueError:
            raise Denied("The grant in this URL is malformed") from None
        if not hmac.compare_digest(mac, self._mac("grant", payload)):
            raise Denied("The grant's signature does not match: the URL was altered")
        try:
            return Grant(**json.loads(payload))
        except (TypeError, ValueError):  # signed by a server that spelled grants otherwise
            raise Denied("The grant in this URL is of another kind") from None

    def upload_id(self, grant: Grant, nonce: str | None = None) -> str:
        """An upload ID bound to the team, dataset, version and Key (no state kept)."""
        nonce = nonce or secrets.token_hex(16)
        bound = "\n".join((grant.team, grant.dataset, grant.version, grant.key, nonce))
        return nonce + self._mac("upload", bound.encode()).hex()[:32]

    def check_upload(self, grant: Grant, upload_id: Any) -> str:
        text = str(upload_id or "")
        if not _UPLOAD_ID.fullmatch(text) or not hmac.compare_digest(
            self.upload_id(grant, text[:32]), text
        ):
            raise NotFound(
                f"No such multipart upload for {grant.key!r}: {text[:80]!r}",
                hint="Start one with createMultipartUpload for this Key and version",
                uploadId=text[:80],
            )
        return text


def authorize(
    settings: Settings, token: str | None, method: str, dataset: str, version: str, key: str
) -> Grant:
    """The grant of a request's URL, if it allows this method on this Key now."""
    if not token:
        raise Denied("This URL carries no grant: ask the presign endpoint for one")
    grant = Signer(settings).grant(token)
    if grant.expires < time.time():
        raise Denied("Request has expired: ask the presign endpoint for a new URL")
    if (grant.dataset, grant.version, grant.key) != (dataset, version, key):
        raise Denied("This URL's grant is for another Key")
    allowed = METHOD_OF.get(grant.op)
    if method != allowed:
        raise Denied(f"This URL's grant allows {grant.op} ({allowed}), not {method}")
    return grant


def listing_grant(grant: Grant, params: dict[str, Any]) -> Grant:
    """`grant` with a listObjectsV2 call's Prefix, Delimiter, MaxKeys and ContinuationToken."""
    prefix = params.get("Prefix") or ""
    delimiter = params.get("Delimiter")
    delimiter = "/" if delimiter is None else delimiter
    if not isinstance(prefix, str) or delimiter not in ("/", ""):
        raise InvalidInput(
            "listObjectsV2 takes a string Prefix and a Delimiter of '/' or ''",
            hint="Without Delimiter the listing stops at '/'; Delimiter '' lists everything",
        )
    split_prefix(prefix)  # refuses '..'
    token = params.get("ContinuationToken") or ""
    return dataclasses.replace(
        grant,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=_max_keys(params.get("MaxKeys", MAX_KEYS)),
        token=str(token),
        after=_after(token),
    )


def _max_keys(value: Any) -> int:
    try:
        max_keys = min(int(value), MAX_KEYS)
    except (TypeError, ValueError):
        max_keys = -1
    if max_keys < 0:
        raise InvalidInput(f"MaxKeys must be a non-negative integer: {value!r}")
    return max_keys


def _after(token: Any) -> str:
    """The last row of the previous page, from a ContinuationToken."""
    try:
        return unb64(str(token)).decode() if token else ""
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Invalid ContinuationToken") from None


@functools.lru_cache(maxsize=8)
def _signing_key(secret_key: str | None, home: str) -> bytes:
    """The HMAC key of grants: derived from the same secret as the provider secrets' key
    (services/crypto.py), under another label, so neither key reveals the other."""
    text = secret_key or read_key_file(Path(home) / KEY_FILE, create=True) or ""
    return hmac.new(text.strip().encode(), b"cargohold gradient-s3 grants v1", "sha256").digest()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError(text) from None
