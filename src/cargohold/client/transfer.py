"""The object protocol (services/protocol.py: `Writer`, `Reader`, `ObjectsAPI`) over a server's
transfer routes (api/transfer.py), so that services/upload.py and download.py run unchanged.

For an S3 provider the bytes go straight between this machine and the bucket, by presigned
URLs the server hands out; the server only signs and records. Those requests use an HTTP
client of their own that never carries the API key. A whole object up to the part size is one
PUT whose signed `x-amz-checksum-sha256` header makes the bucket refuse any other body; above
it, parts go in parallel (a few at once, each read from the file at its offset, sent with its
`Content-MD5`), an unfinished upload of the same content is resumed (a part whose MD5 equals
the ETag the bucket lists is not sent again), and the file's SHA-256, computed as the parts are
read, must be the one the upload was planned with. The managed directory's bytes stream
through the server instead, verified there as they land.

A version is resolved once (`writer(ref)`, `reader(ref)`), then named by its ID, so `latest`
cannot move under an upload or a download.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import hashlib
import io
import os
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, BinaryIO

import httpx

from cargohold.blobs import CHUNK
from cargohold.client import decode
from cargohold.client.bucket import DIRECT_TIMEOUT, Bucket, Download
from cargohold.client.http import HttpClient, ref_path
from cargohold.client.multipart import Multipart, pread
from cargohold.domain.models import Dataset, FileEntry, ObjectLocation, Version
from cargohold.domain.packs import PackMember, Span
from cargohold.errors import (
    ContentMismatch,
    HashMismatch,
    SourcePathError,
    StorageError,
)
from cargohold.services.files import changed, read_verified
from cargohold.settings import Settings

Json = dict[str, Any]

PARTS_IN_FLIGHT = 4
"""Parts sent at once, over all files: memory stays near (this + 1) x the part size."""
FILES_PAGE = 50_000


class HttpObjects:
    """Writers and readers of versions on a server; direct transfers share one bucket
    client, one pool of part senders and its memory slots."""

    def __init__(
        self, api: HttpClient, settings: Settings, direct: httpx.Client | None = None
    ) -> None:
        self.api = api
        self.settings = settings
        self._direct = Bucket(direct) if direct is not None else None
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.slots = threading.BoundedSemaphore(PARTS_IN_FLIGHT + 1)

    def writer(self, ref: str) -> HttpWriter:
        return HttpWriter(self, self.api.call("POST", f"{_base(ref)}/writer"))

    def reader(self, ref: str) -> HttpReader:
        return HttpReader(self, self.api.call("GET", f"{_base(ref)}/reader"))

    def open_ahead(self, ds: Dataset) -> None:
        """Nothing to open ahead: the server holds the stores."""

    @property
    def direct(self) -> Bucket:
        """Requests to the bucket itself, by presigned URL (a client built on first use)."""
        with self._lock:
            if self._direct is None:
                http = httpx.Client(timeout=DIRECT_TIMEOUT)
                weakref.finalize(self, http.close)
                self._direct = Bucket(http)
            return self._direct

    @direct.setter
    def direct(self, bucket: Bucket) -> None:
        self._direct = bucket

    @property
    def pool(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    PARTS_IN_FLIGHT, thread_name_prefix="cargohold-part"
                )
                weakref.finalize(self, self._pool.shutdown, wait=False)
            return self._pool


def _base(ref: str) -> str:
    return f"/api/v1/versions/{ref_path(ref)}/transfer"


class _OpenedVersion:
    """A version the server opened for writing or reading: its transfer routes."""

    def __init__(self, objects: HttpObjects, opened: Json) -> None:
        self.objects = objects
        self.api = objects.api
        self.ds: Dataset = decode.dataset(opened["dataset"], opened["teamId"])
        self.version: Version = decode.version(opened["version"])
        self.base = _base(self.version.ref)

    def _call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return self.api.call(method, f"{self.base}/{path}", json=body, params=params or None)


# -- the upload side ------------------------------------------------------------------------


class HttpWriter(_OpenedVersion):
    """The upload side of one uncommitted version (see `files.VersionWriter`)."""

    def __init__(self, objects: HttpObjects, opened: Json) -> None:
        super().__init__(objects, opened)
        self._packs_small_files = bool(opened["packsSmallFiles"])
        self._pack_threshold = int(opened["packThreshold"])
        self._pack_size = int(opened["packSize"])

    @property
    def pack_size(self) -> int:
        return self._pack_size

    def clean_stale_uploads(self) -> int:
        return int(self._call("POST", "clean")["removed"])

    def packed(self, size: int) -> bool:
        return self._packs_small_files and size < self._pack_threshold

    def missing(self, sizes: dict[str, int]) -> set[str]:
        if not sizes:
            return set()
        return set(self._call("POST", "missing", {"sizes": sizes})["missing"])

    def stage(self, entries: Sequence[FileEntry], landed: dict[str, int] | None = None) -> None:
        body = {"entries": [list(e) for e in entries], "landed": landed or {}}
        self._call("POST", "stage", body)

    # -- whole objects ------------------------------------------------------------------

    def send_file(self, sha256: str, source: str) -> int:
        """Store one local file, verified; returns its size. An unfinished upload the bucket
        refuses to complete is discarded by the server and begun again, once."""
        try:
            fd = os.open(source, os.O_RDONLY)
        except OSError as exc:
            raise SourcePathError.unreadable(source, exc) from None
        try:
            for attempt in range(2):
                try:
                    return self._send_file(sha256, source, fd)
                except StorageError as exc:
                    if attempt or not exc.details.get("restart"):
                        raise
            raise AssertionError("unreachable")
        finally:
            os.close(fd)

    def _send_file(self, sha256: str, source: str, fd: int) -> int:
        size = os.fstat(fd).st_size
        plan = self._call("POST", f"objects/{sha256}/plan", {"size": size})
        via = plan["via"]
        if via == "present":
            return size
        if via == "server":
            return self._through_server(sha256, source, fd, size)
        landed: Json = {"size": size}
        if via == "put":
            with self.objects.slots:
                data = pread(fd, 0, size, source)
                if hashlib.sha256(data).hexdigest() != sha256:
                    raise changed(source)
                self.objects.direct.put(plan["url"], data, plan["headers"])
        elif via == "multipart":
            ask = functools.partial(self._part_urls, sha256)
            parts = Multipart(self.objects, ask, sha256, source, fd, size, plan).run()
            landed |= {"uploadId": plan["uploadId"], "parts": parts}
        else:
            raise StorageError(f"The server planned an unknown transfer {via!r}")
        self._call("POST", f"objects/{sha256}/complete", landed)
        return size

    def _part_urls(self, sha256: str, upload_id: str, numbers: Sequence[int]) -> dict[int, str]:
        body = {"uploadId": upload_id, "numbers": list(numbers)}
        urls = self._call("POST", f"objects/{sha256}/parts", body)["urls"]
        return {int(n): str(url) for n, url in urls.items()}

    def _through_server(self, sha256: str, source: str, fd: int, size: int) -> int:
        """Stream the file to the server, read at its offsets as it goes; the server hashes
        it as it lands and keeps it only when it is the content planned."""

        def body() -> Iterator[bytes]:
            for offset in range(0, size, CHUNK):
                yield pread(fd, offset, min(CHUNK, size - offset), source)

        path = f"{self.base}/objects/{sha256}?size={size}"
        try:
            with self.api.stream("PUT", path, content=body()) as response:
                response.read()
        except ContentMismatch:  # the server got other bytes than planned: the file changed
            raise changed(source) from None
        return size

    # -- packs --------------------------------------------------------------------------

    def send_pack(self, files: Sequence[tuple[FileEntry, str]]) -> int:
        """Small files as one pack, each verified as read: planned, sent, then completed
        (the server writes its index and records it)."""
        contents: list[bytes] = []
        members: list[list[Any]] = []
        offset = 0
        for entry, source in files:
            content = read_verified(entry, source)
            members.append([entry.sha256, offset, len(content)])
            contents.append(content)
            offset += len(content)
        data = b"".join(contents)
        del contents
        pack = hashlib.sha256(data).hexdigest()
        body = {"size": len(data), "members": members}
        plan = self._call("POST", f"packs/{pack}/plan", body)
        if plan["via"] == "put":
            self.objects.direct.put(plan["url"], data, plan["headers"])
        elif plan["via"] == "server":
            with self.api.stream("PUT", f"{self.base}/packs/{pack}?size={len(data)}", content=data):
                pass
        self._call("POST", f"packs/{pack}/complete", body)
        return len(data)


# -- the read side --------------------------------------------------------------------------


class HttpReader(_OpenedVersion):
    """The read side of one version (see `files.VersionReader`)."""

    def __init__(self, objects: HttpObjects, opened: Json) -> None:
        super().__init__(objects, opened)
        self.direct = bool(opened["direct"])

    def locations(self, sizes: dict[str, int]) -> dict[str, ObjectLocation]:
        if not sizes:
            return {}
        found = self._call("POST", "locations", {"sizes": sizes})["locations"]
        return {
            sha: ObjectLocation(sha, int(size), pack, offset)
            for sha, (size, pack, offset) in found.items()
        }

    def pack_sizes(self, packs: Iterable[str]) -> dict[str, int]:
        wanted = list(packs)
        if not wanted:
            return {}
        found = self._call("POST", "pack-sizes", {"packs": wanted})["sizes"]
        return {pack: int(size) for pack, size in found.items()}

    def files(self, prefix: str = "") -> builtins.list[FileEntry]:
        """The version's files under a directory prefix, in path order (paged)."""
        found: list[FileEntry] = []
        after: str | None = None
        while True:
            page = self._call("GET", "files", prefix=prefix, after=after, limit=FILES_PAGE)
            found.extend(FileEntry(*row) for row in page["files"])
            if len(page["files"]) < FILES_PAGE:
                return found
            after = found[-1].path

    def file(self, key: str) -> FileEntry | None:
        row = self._call("GET", "file", key=key)["file"]
        return FileEntry(*row) if row is not None else None

    def open(self, sha256: str) -> BinaryIO:
        """The object as a stream; a connection that breaks mid-body is resumed by a ranged
        request from where it broke."""
        if self.direct:

            def from_bucket(start: int) -> contextlib.AbstractContextManager[httpx.Response]:
                url = self._call("GET", f"objects/{sha256}/url")["url"]
                return self.objects.direct.stream(url, _range(start))

            opener = from_bucket
        else:
            path = f"{self.base}/objects/{sha256}"

            def opener(start: int) -> contextlib.AbstractContextManager[httpx.Response]:
                return self.api.stream("GET", path, headers=_range(start))

        raw = Download(opener, sha256)
        raw.start()  # a missing object fails here, as the in-process store's open does
        return io.BufferedReader(raw, buffer_size=CHUNK)

    def read_span(self, pack: str, span: Span) -> dict[str, memoryview]:
        """The members one ranged read of a pack serves, as views into one buffer. Not
        verified here: the cache verifies each member as it goes in."""
        headers = {"Range": f"bytes={span.offset}-{span.offset + span.length - 1}"}
        if self.direct:
            url = self._call("GET", f"packs/{pack}/url")["url"]
            data = self.objects.direct.get(url, headers)
        else:
            with self.api.stream("GET", f"{self.base}/packs/{pack}", headers=headers) as r:
                data = r.read()
        blob = memoryview(data)
        if len(blob) != span.length:
            raise HashMismatch(
                f"Pack {pack} is shorter than its index says ({span.offset + len(blob)} bytes)",
                hint="The provider holds damaged data; upload the files again",
                pack=pack,
            )
        members: tuple[PackMember, ...] = span.members
        return {m.sha256: blob[m.offset - span.offset : m.end - span.offset] for m in members}


def _range(start: int) -> dict[str, str]:
    return {"Range": f"bytes={start}-"} if start else {}
