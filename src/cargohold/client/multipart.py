"""A multipart upload by presigned part URLs (the client side of api/transfer.py's plan).

Parts are read in order by the caller's thread, each from the file at its offset once a
memory slot is free, and hashed into the whole file's SHA-256; a shared pool sends them (a
few at once, each with its `Content-MD5`, which the bucket verifies) and gives the slot back.
A part the bucket already lists with the same MD5 and size is not sent again (resume). The
file must hash to the SHA-256 the upload was planned with, or nothing is completed.
"""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol

from cargohold.blobs.parallel import settling
from cargohold.client.bucket import Bucket
from cargohold.errors import SourcePathError, StorageAccessDenied
from cargohold.services.files import changed

Json = dict[str, Any]
AskUrls = Callable[[str, Sequence[int]], dict[int, str]]
"""(upload ID, part numbers) -> presigned URL of each part."""
URL_BATCH = 8
"""Part URLs asked for at a time, just before they are used (they expire)."""


class Lanes(Protocol):
    """What parts travel by: the bucket, the pool of senders and its memory slots."""

    @property
    def direct(self) -> Bucket: ...

    @property
    def pool(self) -> ThreadPoolExecutor: ...

    slots: threading.BoundedSemaphore


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def pread(fd: int, offset: int, length: int, source: str) -> bytes:
    """`length` bytes of an open file at `offset`; a short read means it shrank."""
    chunks: list[bytes] = []
    got = 0
    try:
        while got < length and (block := os.pread(fd, length - got, offset + got)):
            chunks.append(block)
            got += len(block)
    except OSError as exc:
        raise SourcePathError.unreadable(source, exc) from None
    if got != length:
        raise changed(source)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


class Multipart:
    """One multipart upload by presigned part URLs: parts read in order by the caller's
    thread (which hashes the whole file), each after taking a memory slot; sent by the
    shared pool, which gives the slot back."""

    def __init__(
        self, lanes: Lanes, ask: AskUrls, sha256: str, source: str, fd: int, size: int, plan: Json
    ) -> None:
        """`plan`: the server's (upload ID, part size, parts already there); `ask`: presigned
        URLs for some part numbers of it."""
        self.lanes, self.ask = lanes, ask
        self.sha256, self.source, self.fd, self.size = sha256, source, fd, size
        self.part_size = int(plan["partSize"])
        self.upload_id = str(plan["uploadId"])
        self.count = -(-size // self.part_size)
        self.there = {(int(n), str(etag), int(length)) for n, etag, length in plan["parts"]}
        self.urls: dict[int, str] = {}
        self.url_lock = threading.Lock()
        self.failed = threading.Event()

    def run(self) -> list[list[Any]]:
        """Send every part not already there; the (number, ETag) pairs, in order."""
        digest = hashlib.sha256()
        futures: list[Future[tuple[int, str]]] = []
        with settling(futures):
            for number in range(1, self.count + 1):
                if self.failed.is_set():
                    break
                offset = (number - 1) * self.part_size
                self.lanes.slots.acquire()
                try:
                    data = pread(
                        self.fd, offset, min(self.part_size, self.size - offset), self.source
                    )
                    digest.update(data)
                    job = self.lanes.pool.submit(self._send, number, data)
                except BaseException:
                    self.lanes.slots.release()
                    raise
                job.add_done_callback(self._done)
                futures.append(job)
        if digest.hexdigest() != self.sha256:
            raise changed(self.source)
        return [[n, etag] for n, etag in (job.result() for job in futures)]

    def _done(self, job: Future[tuple[int, str]]) -> None:
        self.lanes.slots.release()  # sent, failed or cancelled: the part's bytes are free
        if job.cancelled() or job.exception() is not None:
            self.failed.set()

    def _send(self, number: int, data: bytes) -> tuple[int, str]:
        md5 = hashlib.md5(data)
        if (number, md5.hexdigest(), len(data)) in self.there:
            return number, md5.hexdigest()  # resumed: the bucket has this very part
        headers = {"Content-MD5": b64(md5.digest())}
        try:
            response = self.lanes.direct.put(self._url(number), data, headers)
        except StorageAccessDenied as exc:
            if "expired" not in exc.message.lower():
                raise
            response = self.lanes.direct.put(self._url(number, fresh=True), data, headers)
        return number, response.headers.get("etag", "").strip('"') or md5.hexdigest()

    def _url(self, number: int, fresh: bool = False) -> str:
        """The part's URL, asked for with the next few parts' when not already held."""
        with self.url_lock:
            if fresh or number not in self.urls:
                last = min(self.count, number + URL_BATCH - 1)
                numbers = [number] if fresh else list(range(number, last + 1))
                self.urls.update(self.ask(self.upload_id, numbers))
            return self.urls.pop(number)
