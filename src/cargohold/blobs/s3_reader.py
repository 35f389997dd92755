"""Reading an S3 object as a stream that survives broken connections.

``ObjectReader`` is a raw, seekable stream over one object. When its connection breaks (or a
read times out) mid-body, it asks again for the rest (``Range: bytes=<pos>-``, ``If-Match``
the ETag it started with, so a replaced object is an error and never a splice of two).
"""

from __future__ import annotations

import io
from typing import Any

from botocore.exceptions import IncompleteReadError

from cargohold.blobs.s3_errors import Requests, is_retryable
from cargohold.errors import CargoholdError


class ObjectReader(io.RawIOBase):
    def __init__(self, requests: Requests, key: str, answer: dict[str, Any]) -> None:
        """`answer`: the first GetObject's response (its body is read first)."""
        self._requests = requests
        self._key = key
        self._size = int(answer["ContentLength"])
        self._etag = str(answer.get("ETag", ""))
        self._body: Any = answer["Body"]
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = base + offset
        if target < 0:
            raise ValueError(f"negative seek position {target}")
        if target != self._pos:
            self._drop_body()
            self._pos = target
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        want = min(len(view), self._size - self._pos)
        if want <= 0:
            return 0
        retries = self._requests.retries
        for attempt in range(retries + 1):
            try:
                data = self._read(want)
            except Exception as exc:
                cause = exc.__context__ if isinstance(exc, CargoholdError) else exc
                if attempt == retries or cause is None or not is_retryable(cause):
                    raise self._requests.translate(exc, self._key) from None
                self._drop_body()
                self._requests.pause(attempt)
                continue
            view[: len(data)] = data
            self._pos += len(data)
            return len(data)
        raise AssertionError("unreachable")

    def _read(self, want: int) -> bytes:
        if self._body is None:
            same = {"IfMatch": self._etag} if self._etag else {}
            answer = self._requests("get_object", self._key, Range=f"bytes={self._pos}-", **same)
            self._body = answer["Body"]
        data: bytes = self._body.read(want)
        if not data:  # the connection closed early: ask for the rest again
            raise IncompleteReadError(actual_bytes=self._pos, expected_bytes=self._size)
        return data

    def _drop_body(self) -> None:
        if self._body is not None:
            try:
                self._body.close()
            finally:
                self._body = None

    def close(self) -> None:
        if not self.closed:
            self._drop_body()
        super().close()
