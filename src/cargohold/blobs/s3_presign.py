"""Presigned requests: a client moves the bytes straight to and from the bucket; whoever
holds the provider's keys (the server) only signs, and never hands the secret out.

Every URL is a SigV4 query signature over one method, one key and the query parameters the
operation needs (``uploadId``, ``partNumber``), valid for ``expires`` seconds. A PUT of a whole
object also signs ``x-amz-checksum-sha256`` with the object's SHA-256: a client must send that
header, and the bucket refuses any other body.

Checked by hand against SeaweedFS 4.48 (and the tests keep checking it, tests/
test_http_transfer.py): a PUT URL without its signed checksum header, with another header
value, another key, another method, or past its expiry answers 403 (``SignatureDoesNotMatch``,
``AccessDenied: Request has expired``); a body that does not match the signed checksum
answers 400 ``BadDigest``. Part URLs sign ``host`` only: an unsigned ``x-amz-*`` header is
refused there, but ``Content-MD5`` is taken unsigned and verified (``BadDigest``), so a part
travels with its MD5. SeaweedFS lists a part uploaded twice twice (two ETags under one
number), so a part is "there" when any listed entry matches it; and it refuses to complete
an upload begun with ``ChecksumAlgorithm=SHA256`` without the parts' checksums, which only
the uploader knows, so such an upload (begun in-process) is discarded here, not resumed.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cargohold.blobs.s3_errors import Requests, s3_code
from cargohold.blobs.s3_multipart import abort, listed_parts, uploads_of, whole
from cargohold.errors import InvalidInput, StorageError

MAX_PART_NUMBER = 10_000
REFUSED = frozenset({"InvalidArgument", "InvalidRequest", "InvalidPart", "NotImplemented"})


@dataclass(frozen=True)
class Presigned:
    """A URL and the headers the request must carry (they are part of its signature)."""

    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class ListedPart:
    number: int
    etag: str  # the part's MD5 in hex, without quotes
    size: int


class Presigner:
    """Signs requests on one bucket; the multipart bookkeeping (create, list, complete)
    stays with the signer, only part bodies travel by URL."""

    def __init__(self, requests: Requests, expires: int) -> None:
        if expires <= 0:
            raise InvalidInput(f"Presigned URLs must live at least a second, not {expires}")
        self.requests = requests
        self.expires = expires

    def _url(self, operation: str, key: str, **params: Any) -> str:
        url: str = self.requests.client.generate_presigned_url(
            operation,
            Params={"Bucket": self.requests.bucket, "Key": key, **params},
            ExpiresIn=self.expires,
        )
        return url

    def put(self, key: str, sha256: str) -> Presigned:
        """A PUT of `key` that only a body with this SHA-256 (hex) can satisfy."""
        checksum = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        url = self._url("put_object", key, ChecksumSHA256=checksum)
        return Presigned(url, {"x-amz-checksum-sha256": checksum})

    def get(self, key: str) -> str:
        """A GET of `key` (a `Range` header may be added: it is not signed)."""
        return self._url("get_object", key)

    # -- multipart ----------------------------------------------------------------------

    def start_multipart(self, key: str) -> tuple[str, list[ListedPart]]:
        """The newest unfinished upload of `key` with the parts already there (the others
        are aborted), or a new one: (upload ID, parts)."""
        uploads = uploads_of(self.requests, key)
        resumable = next((u for u in uploads if u.get("ChecksumAlgorithm") is None), None)
        for other in uploads:
            if other is not resumable:
                abort(self.requests, key, str(other["UploadId"]))
        if resumable is None:
            answer = self.requests("create_multipart_upload", key)
            return str(answer["UploadId"]), []
        upload_id = str(resumable["UploadId"])
        return upload_id, self.parts(key, upload_id)

    def part_urls(self, key: str, upload_id: str, numbers: Sequence[int]) -> dict[int, str]:
        for number in numbers:
            if not 1 <= number <= MAX_PART_NUMBER:
                raise InvalidInput(f"Part numbers go from 1 to {MAX_PART_NUMBER}, not {number}")
        return {n: self._url("upload_part", key, UploadId=upload_id, PartNumber=n) for n in numbers}

    def parts(self, key: str, upload_id: str) -> list[ListedPart]:
        return [
            ListedPart(int(part["PartNumber"]), str(part["ETag"]).strip('"'), int(part["Size"]))
            for part in listed_parts(self.requests, key, upload_id)
        ]

    def complete(
        self, key: str, upload_id: str, chosen: Sequence[tuple[int, str]], size: int
    ) -> None:
        """Complete with the parts the uploader names, (number, MD5 hex) for 1..N, once the
        bucket's own listing shows each of them and their sizes add up to `size`."""
        try:
            listed = {(p.number, p.etag): p.size for p in self.parts(key, upload_id)}
        except StorageError as exc:
            if s3_code(exc) != "NoSuchUpload":
                raise
            if whole(self.requests, key, size):
                return  # another uploader of the same content completed it
            raise InvalidInput(
                f"No unfinished upload {upload_id} of {key}",
                hint="Run the command again: the next attempt starts a new upload",
                key=key,
            ) from None
        numbers = [n for n, _ in chosen]
        if numbers != list(range(1, len(numbers) + 1)):
            raise InvalidInput("The parts of an upload must be numbered 1, 2, 3, ... in order")
        missing = [n for n, etag in chosen if (n, etag) not in listed]
        if missing:
            raise InvalidInput(
                f"Part {missing[0]} of {key} is not in the bucket ({len(missing)} missing)",
                hint="Send the missing parts, then complete again",
                key=key,
            )
        total = sum(listed[p] for p in chosen)
        if total != size:
            raise InvalidInput(f"The parts of {key} hold {total} bytes, not {size}", key=key)
        parts = [{"PartNumber": n, "ETag": f'"{etag}"'} for n, etag in chosen]
        try:
            self.requests(
                "complete_multipart_upload",
                key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except StorageError as exc:
            if s3_code(exc) not in REFUSED:
                raise
            abort(self.requests, key, upload_id)
            raise StorageError(
                f"The bucket refused to complete the upload of {key} ({s3_code(exc)}); it was "
                "discarded",
                hint="Run the command again: the next attempt starts a new upload",
                key=key,
                restart=True,
            ) from None
