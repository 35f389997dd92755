"""Requests straight to a bucket by presigned URL, and streams that survive a broken
connection. An HTTP client of its own: it never carries the server's API key, and an error
names the URL's path, never its signature."""

from __future__ import annotations

import contextlib
import io
import random
import re
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx

from cargohold.blobs import CHUNK
from cargohold.errors import (
    CargoholdError,
    HashMismatch,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnreachable,
)

RETRIES = 3
BACKOFF = 0.5  # seconds; doubled each time, with full jitter
DIRECT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)
XML_FIELD = re.compile(r"<(Code|Message)>([^<]*)</\1>")


class Bucket:
    """Requests to a bucket by presigned URL: a client of their own (no API key, no server
    headers), retried on broken connections and 5xx; the bucket's errors become cargohold's,
    named by the URL's path (never its signature)."""

    def __init__(self, http: httpx.Client) -> None:
        self.http = http

    def put(self, url: str, data: bytes, headers: dict[str, str]) -> httpx.Response:
        return self._retrying(lambda: self.http.put(url, content=data, headers=headers), url)

    def get(self, url: str, headers: dict[str, str]) -> bytes:
        """A whole (small) answer; a range past the end of the object is empty."""

        def ask() -> httpx.Response:
            return self.http.get(url, headers=headers)

        response = self._retrying(ask, url, ok=frozenset({416}))
        return b"" if response.status_code == 416 else response.content

    @contextlib.contextmanager
    def stream(self, url: str, headers: dict[str, str]) -> Iterator[httpx.Response]:
        def ask() -> httpx.Response:
            return self.http.send(self.http.build_request("GET", url, headers=headers), stream=True)

        response = self._retrying(ask, url)
        try:
            yield response
        finally:
            response.close()

    def _retrying(
        self, send: Callable[[], httpx.Response], url: str, ok: frozenset[int] = frozenset()
    ) -> httpx.Response:
        where = urlsplit(url).path
        for attempt in range(RETRIES + 1):
            try:
                response = send()
            except httpx.TransportError as exc:
                if attempt == RETRIES:
                    raise StorageUnreachable(
                        f"Cannot reach the bucket for {where}: {exc}"
                    ) from None
                pause(attempt)
                continue
            if response.status_code < 400 or response.status_code in ok:
                return response
            response.read()
            response.close()
            if response.status_code >= 500 and attempt < RETRIES:
                pause(attempt)
                continue
            raise bucket_error(response, where)
        raise AssertionError("unreachable")


def bucket_error(response: httpx.Response, where: str) -> CargoholdError:
    """The bucket's XML error answer as cargohold's error class."""
    fields = dict(XML_FIELD.findall(response.text[:4096]))
    code = fields.get("Code") or str(response.status_code)
    text = f"{code}: {fields.get('Message') or response.reason_phrase}"
    if response.status_code == 403:
        return StorageAccessDenied(f"The bucket refused {where} ({text})", key=where)
    if response.status_code == 404:
        return ObjectNotFound(f"Object not found in the provider: {where} ({text})", key=where)
    if code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"):
        return HashMismatch(
            f"{where} was corrupted on its way to the bucket ({text})",
            hint="Run the command again; check the network if it keeps happening",
            key=where,
        )
    return StorageError(
        f"The bucket answered {response.status_code} for {where} ({text})", key=where
    )


def pause(attempt: int) -> None:
    """Exponential backoff with full jitter before retry number `attempt` + 1."""
    time.sleep(random.uniform(0, BACKOFF * 2**attempt))


class Download(io.RawIOBase):
    """A streamed answer read as a file; reopened at the current position when the
    connection breaks mid-body (a few times, with backoff)."""

    def __init__(
        self, opener: Callable[[int], contextlib.AbstractContextManager[httpx.Response]], name: str
    ) -> None:
        self._opener = opener
        self._name = name
        self._pos = 0
        self._stack: contextlib.ExitStack | None = None
        self._chunks: Iterator[bytes] | None = None
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        for attempt in range(RETRIES + 1):
            try:
                if not self._pending:
                    self._pending = next(self._open(), b"")
                break
            except httpx.TransportError as exc:
                self._drop()
                if attempt == RETRIES:
                    raise StorageUnreachable(
                        f"The download of {self._name} broke off: {exc}", sha256=self._name
                    ) from None
                pause(attempt)
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._pos += n
        return n

    def start(self) -> None:
        self._open()

    def _open(self) -> Iterator[bytes]:
        if self._chunks is None:
            stack = contextlib.ExitStack()
            response = stack.enter_context(self._opener(self._pos))
            self._stack = stack
            if self._pos and response.status_code != 206:
                self._drop()
                raise StorageError(f"The download of {self._name} could not be resumed")
            self._chunks = response.iter_bytes(CHUNK)
        return self._chunks

    def _drop(self) -> None:
        stack, self._stack, self._chunks = self._stack, None, None
        if stack is not None:
            with contextlib.suppress(Exception):
                stack.close()

    def close(self) -> None:
        if not self.closed:
            self._drop()
        super().close()
