"""S3 requests for one bucket: botocore errors become cargohold's, mid-stream failures retry.

botocore's *standard* retry mode already retries throttling, 5xx and connection errors of a
whole request, with exponential backoff and jitter. What it cannot retry is a failure while a
response body is being read (the request "succeeded"), so reads are retried here, and part
uploads get a few more attempts when a connection dies mid-body after botocore gave up.

Every message is scrubbed of the secret key, whatever the server echoed back.
"""

from __future__ import annotations

import http.client
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)
from urllib3.exceptions import ProtocolError

from cargohold.errors import (
    BucketNotFound,
    CargoholdError,
    HashMismatch,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnreachable,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

T = TypeVar("T")

ACCESS_DENIED = frozenset(
    {
        "403",
        "AccessDenied",
        "AccountProblem",
        "AllAccessDisabled",
        "ExpiredToken",
        "Forbidden",
        "InvalidAccessKeyId",
        "InvalidToken",
        "SignatureDoesNotMatch",
    }
)
MISSING_KEY = frozenset({"404", "NoSuchKey", "NotFound"})
CORRUPTED = frozenset({"BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"})
MID_STREAM = (
    ConnectionClosedError,
    ReadTimeoutError,
    ResponseStreamingError,
    IncompleteReadError,
    ProtocolError,
    http.client.IncompleteRead,
    ConnectionResetError,
)
"""Failures after a connection was made: worth another try of the same request."""

RETRIES = 3
BACKOFF = 0.5  # seconds; doubled each time, with full jitter


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def s3_code(exc: BaseException) -> str:
    """The S3 error code behind a translated error ("" when there is none)."""
    cause = exc if isinstance(exc, ClientError) else exc.__context__
    return error_code(cause) if isinstance(cause, ClientError) else ""


def http_status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        return error_code(exc) in CORRUPTED
    return isinstance(exc, MID_STREAM)


class Requests:
    """Calls on one bucket's client; every failure leaves as a ``CargoholdError``."""

    def __init__(self, client: S3Client, bucket: str, secret: str, endpoint: str) -> None:
        self.client = client
        self.bucket = bucket
        self.endpoint = endpoint
        self.retries = RETRIES  # our own attempts beyond botocore's, for mid-stream failures
        self.backoff = BACKOFF
        self._secret = secret

    def __repr__(self) -> str:
        return f"Requests(bucket={self.bucket!r}, endpoint={self.endpoint!r})"

    def __call__(self, method: str, key: str | None = None, **params: Any) -> Any:
        """``client.<method>(Bucket=..., Key=key, **params)``, errors translated."""
        if key is not None:
            params["Key"] = key
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **params)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise self.translate(exc, key) from None

    def retrying(self, what: Callable[[], T], key: str | None) -> T:
        """Run `what` again (backoff, jitter) when it fails mid-stream; translate the rest."""
        for attempt in range(self.retries + 1):
            try:
                return what()
            except CargoholdError as exc:
                # A translated error keeps the botocore one as its __context__.
                cause = exc.__context__
                if attempt == self.retries or cause is None or not is_retryable(cause):
                    raise
            except (ClientError, BotoCoreError, OSError) as exc:
                if attempt == self.retries or not is_retryable(exc):
                    raise self.translate(exc, key) from None
            self.pause(attempt)
        raise AssertionError("unreachable")

    def pause(self, attempt: int) -> None:
        """Exponential backoff with full jitter before retry number `attempt` + 1."""
        time.sleep(random.uniform(0, self.backoff * 2**attempt))

    def translate(self, exc: BaseException, key: str | None) -> CargoholdError:
        if isinstance(exc, CargoholdError):
            return exc
        where = f"{self.bucket}/{key}" if key is not None else self.bucket
        ids: dict[str, str] = {"bucket": self.bucket}
        if key is not None:
            ids["key"] = key
        if isinstance(exc, ClientError):
            return self._client_error(exc, where, ids)
        if isinstance(exc, EndpointConnectionError | BotoConnectionError | ConnectionRefusedError):
            return StorageUnreachable(self._scrub(f"Cannot reach {self.endpoint}: {exc}"), **ids)
        if isinstance(exc, ReadTimeoutError | TimeoutError):
            return StorageUnreachable(
                self._scrub(f"{self.endpoint} did not answer in time for {where}: {exc}"), **ids
            )
        if isinstance(exc, HTTPClientError | ProtocolError | ConnectionError):
            return StorageUnreachable(
                self._scrub(f"Connection to {self.endpoint} failed for {where}: {exc}"), **ids
            )
        return StorageError(self._scrub(f"S3 request for {where} failed: {exc}"), **ids)

    def _client_error(self, exc: ClientError, where: str, ids: dict[str, str]) -> CargoholdError:
        code, status = error_code(exc), http_status(exc)
        text = self._scrub(str(exc.response.get("Error", {}).get("Message", "")) or code)
        if code in ACCESS_DENIED or status == 403:
            return StorageAccessDenied(
                f"Access denied to {where} at {self.endpoint} ({code}: {text})", **ids
            )
        if code == "NoSuchBucket":
            return BucketNotFound(f"Bucket {self.bucket} does not exist at {self.endpoint}", **ids)
        if code in MISSING_KEY or (status == 404 and "key" in ids):
            return ObjectNotFound(f"Object not found in the provider: {where}", **ids)
        if code in CORRUPTED:
            return HashMismatch(
                f"{where} was corrupted on its way to the store ({code})",
                hint="Run the command again; check the network if it keeps happening",
                **ids,
            )
        return StorageError(f"S3 request for {where} failed: {code or status} ({text})", **ids)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "********") if self._secret else text
