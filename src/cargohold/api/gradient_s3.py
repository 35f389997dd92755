"""The S3 side of Gradient's presign endpoint (GRADIENT.md §3.3), served by cargohold itself.

Gradient's clients name files by path (`Key`), cargohold stores contents by SHA-256; so the
URLs handed out point here, not at the bucket, and the bytes pass through the server, which
hashes them and stores each content once in cargohold's layout (`services.upload.put_one`).

A URL is `/gradient-s3/<dataset>/<version>/<Key>?X-Cargohold-Grant=<grant>`. The grant names
the team, dataset, version, operation and Key (with the upload ID and part number of a part,
or the parameters of a listing), and when it expires; it is signed with HMAC-SHA256 under a
key derived from the server's secret (`CARGOHOLD_SECRET_KEY` or the home's key file), so any
server process sharing that secret accepts it and none keeps state about it. It allows the
one HTTP method of its operation on the one Key it names, and nothing after it expires.

Writes are refused when the URL is minted if the version is committed, and again when it is
used. Multipart parts wait in the provider's store under `<team>/uploads/gradient/<upload>/`
until `completeMultipartUpload` (run at presign time) joins them into one content object.
Failures answer S3's XML error shape.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cargohold.api import observe
from cargohold.api.deps import platform_of
from cargohold.blobs import CHUNK, BlobStore
from cargohold.domain.models import FileEntry, ListedEntry
from cargohold.domain.packs import PackMember, Span
from cargohold.domain.paths import check_key, dir_prefix, user_path
from cargohold.errors import (
    CargoholdError,
    DatasetNotFound,
    FileNotInVersion,
    HashMismatch,
    InvalidInput,
    InvalidPath,
    NotFound,
    TeamNotFound,
    VersionNotFound,
)
from cargohold.services.crypto import KEY_FILE, read_key_file
from cargohold.services.files import check_writable
from cargohold.services.protocol import Reader
from cargohold.services.root import Services
from cargohold.services.upload import put_one
from cargohold.settings import Settings

router = APIRouter(include_in_schema=False)

Json = dict[str, Any]

GRANT_PARAM = "X-Cargohold-Grant"
S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_BODY_BYTES = 5 * 1024**3
"""S3's limit for one PUT (an object, or a part)."""
MAX_PART_NUMBER = 10_000
MAX_KEYS = 1000
MAX_CONTENT_TYPE = 255
UPLOADS = "uploads/gradient"
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


# -- grants -----------------------------------------------------------------------------------


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
        return f"{_b64(payload)}.{_b64(self._mac('grant', payload))}"

    def grant(self, token: str) -> Grant:
        payload_text, _, mac_text = token.partition(".")
        try:
            payload, mac = _unb64(payload_text), _unb64(mac_text)
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


@functools.lru_cache(maxsize=8)
def _signing_key(secret_key: str | None, home: str) -> bytes:
    """The HMAC key of grants: derived from the same secret as the provider secrets' key
    (services/crypto.py), under another label, so neither key reveals the other."""
    text = secret_key or read_key_file(Path(home) / KEY_FILE, create=True) or ""
    return hmac.new(text.strip().encode(), b"cargohold gradient-s3 grants v1", "sha256").digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError(text) from None


# -- presigning (run by POST /datasets/{id}/versions/{v}/s3/preSignedUrls) ------------------


def presign(
    request: Request, services: Services, ref: str, calls: list[tuple[str, dict[str, Any]]]
) -> list[Json]:
    """`[{url, expiresIn}]` for the calls, in order. The version is resolved once (a tag or
    `latest` cannot move between calls); writes to a committed version are refused."""
    version = services.versions.get(ref)
    expires_in = services.settings.presign_expires
    base = Grant(
        team=services.team.id,
        dataset=version.dataset_id,
        version=version.version,
        op="",
        expires=int(time.time()) + expires_in,
    )
    signer = Signer(services.settings)
    answers: list[Json] = []
    for method, params in calls:
        if method not in OPERATIONS:
            raise InvalidInput(
                f"Unsupported S3 operation: {method!r}",
                hint=f"Supported: {', '.join(sorted(OPERATIONS))}",
                method=method,
            )
        if method in WRITES:
            check_writable(version)
        grant = dataclasses.replace(base, op=method)
        if method == "listObjectsV2":
            url: Any = _url(request, signer, _listing_grant(grant, params))
        else:
            grant = dataclasses.replace(grant, key=_key(params))
            url = _sign_object_call(request, services, signer, grant, params)
        answers.append({"url": url, "expiresIn": expires_in})
    return answers


def _sign_object_call(
    request: Request, services: Services, signer: Signer, grant: Grant, params: dict[str, Any]
) -> Any:
    if grant.op == "putObject":
        mime = str(params.get("ContentType") or "")
        if len(mime) > MAX_CONTENT_TYPE or not mime.isprintable():
            raise InvalidInput(f"Invalid ContentType: {mime[:80]!r}")
        return _url(request, signer, dataclasses.replace(grant, mime=mime))
    if grant.op == "createMultipartUpload":
        upload = signer.upload_id(grant)
        return {"Bucket": grant.dataset, "Key": params["Key"], "UploadId": upload}
    if grant.op == "uploadPart":
        upload = signer.check_upload(grant, params.get("UploadId"))
        part = _part_number(params.get("PartNumber"))
        return _url(request, signer, dataclasses.replace(grant, upload=upload, part=part))
    if grant.op == "completeMultipartUpload":
        upload = signer.check_upload(grant, params.get("UploadId"))
        parts = _parts(params.get("MultipartUpload"))
        etag = _complete(request, services, dataclasses.replace(grant, upload=upload), parts)
        location = _object_url(request, grant)
        return {"Location": location, "Bucket": grant.dataset, "Key": params["Key"], "ETag": etag}
    return _url(request, signer, grant)  # getObject, headObject, deleteObject


def _key(params: dict[str, Any]) -> str:
    """The Key as a path in the version. Gradient's CLI sends '/dir/file' for `files put`
    (its paths start at the version's root), so a leading '/' means the root; '..' or an
    empty path is refused, so no Key leaves the version."""
    raw = params.get("Key")
    if not isinstance(raw, str) or not raw.strip("/"):
        raise InvalidPath(
            "Every call needs a Key: the file's path in the version", key=str(raw or "")
        )
    key, is_dir = user_path(raw, "Key")
    if is_dir:
        raise InvalidPath(f"Key {raw!r} names a directory, not a file", key=raw)
    return check_key(key)


def _part_number(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if not 1 <= number <= MAX_PART_NUMBER:
        raise InvalidInput(
            f"PartNumber must be an integer from 1 to {MAX_PART_NUMBER}, not {value!r}",
            partNumber=str(value),
        )
    return number


def _parts(value: Any) -> list[tuple[int, str]]:
    """(PartNumber, ETag without quotes) in ascending order, as S3 requires."""
    listed = value.get("Parts") if isinstance(value, dict) else None
    if not isinstance(listed, list) or not listed:
        raise InvalidInput("completeMultipartUpload needs MultipartUpload.Parts")
    parts = [
        (_part_number(p.get("PartNumber")), str(p.get("ETag") or "").strip('"'))
        for p in listed
        if isinstance(p, dict)
    ]
    numbers = [n for n, _ in parts]
    if len(parts) != len(listed) or numbers != sorted(set(numbers)):
        raise InvalidInput(
            "MultipartUpload.Parts must list each part once, in ascending PartNumber order"
        )
    return parts


def _listing_grant(grant: Grant, params: dict[str, Any]) -> Grant:
    prefix = params.get("Prefix") or ""
    delimiter = params.get("Delimiter")
    delimiter = "/" if delimiter is None else delimiter
    if not isinstance(prefix, str) or delimiter not in ("/", ""):
        raise InvalidInput(
            "listObjectsV2 takes a string Prefix and a Delimiter of '/' or ''",
            hint="Without Delimiter the listing stops at '/'; Delimiter '' lists everything",
        )
    _split_prefix(prefix)  # refuses '..'
    try:
        max_keys = min(int(params.get("MaxKeys", MAX_KEYS)), MAX_KEYS)
    except (TypeError, ValueError):
        max_keys = -1
    if max_keys < 0:
        raise InvalidInput(f"MaxKeys must be a non-negative integer: {params.get('MaxKeys')!r}")
    token = params.get("ContinuationToken") or ""
    try:
        after = _unb64(str(token)).decode() if token else ""
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Invalid ContinuationToken") from None
    return dataclasses.replace(
        grant,
        prefix=prefix,
        delimiter=delimiter,
        max_keys=max_keys,
        token=str(token),
        after=after,
    )


def _url(request: Request, signer: Signer, grant: Grant) -> str:
    return f"{_object_url(request, grant)}?{GRANT_PARAM}={signer.token(grant)}"


def _object_url(request: Request, grant: Grant) -> str:
    path = f"gradient-s3/{grant.dataset}/{grant.version}/{quote(grant.key, safe='/')}"
    return f"{request.base_url}{path}"


# -- multipart --------------------------------------------------------------------------------


def _part_key(grant: Grant, part: int) -> str:
    return f"{grant.team}/{UPLOADS}/{grant.upload}/{part:05d}"


def _store(request: Request, services: Services, grant: Grant) -> BlobStore:
    dataset = services.datasets.get(grant.dataset)  # the team's, or DatasetNotFound
    return platform_of(request).stores.for_provider(dataset.storage_provider)


def _complete(
    request: Request, services: Services, grant: Grant, parts: list[tuple[int, str]]
) -> str:
    """Join the parts in order into one file while hashing it, store that as one content
    object at Key (`put_one`: deduplicated), then delete the parts. Returns the ETag."""
    store = _store(request, services, grant)
    with _spool(services.settings) as (out, path):
        digest = hashlib.sha256()
        for number, etag in parts:
            md5 = hashlib.md5(usedforsecurity=False)
            try:
                stream = store.open(_part_key(grant, number))
            except FileNotFoundError:
                raise InvalidInput(
                    f"Part {number} of upload {grant.upload} was not uploaded",
                    partNumber=number,
                ) from None
            with stream:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    md5.update(chunk)
                    out.write(chunk)
            if etag and etag != md5.hexdigest():
                raise InvalidInput(
                    f"Part {number} does not match its ETag {etag!r}", partNumber=number
                )
        out.flush()
        put_one(services, grant.ref, grant.key, path, sha256=digest.hexdigest())
    for number, _ in parts:
        store.delete(_part_key(grant, number))
    return f'"{digest.hexdigest()}-{len(parts)}"'


# -- the URLs ---------------------------------------------------------------------------------

Endpoint = Callable[[Request, Services, Grant], Awaitable[Response]]


@router.api_route(
    "/gradient-s3/{dataset}/{version}/{key:path}",
    methods=["GET", "HEAD", "PUT", "DELETE", "POST"],
    name="gradient_s3",
)
async def s3_request(dataset: str, version: str, key: str, request: Request) -> Response:
    """One presigned S3 call: the grant is checked, then its operation runs."""
    head = request.method == "HEAD"
    try:
        grant = _authorize(request, dataset, version, key)
        request.state.team_id = grant.team
        services = await run_in_threadpool(_services, request, grant)
        return await _ENDPOINTS[grant.op](request, services, grant)
    except Denied as exc:
        return _error(403, "AccessDenied", str(exc), key, "access-denied", head)
    except CargoholdError as exc:
        return _error(exc.status, _s3_code(exc), exc.message, key, exc.code, head)


def _authorize(request: Request, dataset: str, version: str, key: str) -> Grant:
    token = request.query_params.get(GRANT_PARAM)
    if not token:
        raise Denied("This URL carries no grant: ask the presign endpoint for one")
    grant = Signer(platform_of(request).settings).grant(token)
    if grant.expires < time.time():
        raise Denied("Request has expired: ask the presign endpoint for a new URL")
    if (grant.dataset, grant.version, grant.key) != (dataset, version, key):
        raise Denied("This URL's grant is for another Key")
    allowed = METHOD_OF.get(grant.op)
    if request.method != allowed:
        raise Denied(f"This URL's grant allows {grant.op} ({allowed}), not {request.method}")
    return grant


def _services(request: Request, grant: Grant) -> Services:
    platform = platform_of(request)
    try:
        team = platform.catalog.get_team(grant.team)
    except TeamNotFound:
        raise Denied("The team of this URL no longer exists") from None
    return platform.services(team)


async def _put_object(request: Request, services: Services, grant: Grant) -> Response:
    await run_in_threadpool(_writable, services, grant)
    async with _received(request, services.settings) as body:
        await run_in_threadpool(
            put_one, services, grant.ref, grant.key, body.path, body.sha256, grant.mime or None
        )
    observe.count_transfer(request.app.state, "upload", body.size)
    return Response(status_code=200, headers={"ETag": f'"{body.sha256}"'})


async def _upload_part(request: Request, services: Services, grant: Grant) -> Response:
    await run_in_threadpool(_writable, services, grant)
    store = await run_in_threadpool(_store, request, services, grant)
    async with _received(request, services.settings) as body:
        await run_in_threadpool(
            store.put_file, _part_key(grant, grant.part), Path(body.path), body.sha256
        )
    observe.count_transfer(request.app.state, "upload", body.size)
    return Response(status_code=200, headers={"ETag": f'"{body.md5}"'})


async def _get_object(request: Request, services: Services, grant: Grant) -> Response:
    entry, chunks = await run_in_threadpool(_open_object, services, grant)

    def counted() -> Iterator[bytes]:
        yield from chunks
        observe.count_transfer(request.app.state, "download", entry.size)

    return StreamingResponse(counted(), media_type=entry.content_type, headers=_meta(entry))


async def _head_object(request: Request, services: Services, grant: Grant) -> Response:
    entry = await run_in_threadpool(lambda: _file(services.objects.reader(grant.ref), grant))
    return Response(status_code=200, media_type=entry.content_type, headers=_meta(entry))


async def _delete_object(request: Request, services: Services, grant: Grant) -> Response:
    def delete() -> None:
        _writable(services, grant)
        if services.objects.reader(grant.ref).file(grant.key) is not None:
            services.files.delete(grant.ref, [grant.key])  # names a file: that file only

    await run_in_threadpool(delete)
    return Response(status_code=204)


async def _list_objects(request: Request, services: Services, grant: Grant) -> Response:
    rows, truncated = await run_in_threadpool(_listing, services, grant)
    return Response(_list_xml(grant, rows, truncated), media_type="application/xml")


_ENDPOINTS: dict[str, Endpoint] = {
    "putObject": _put_object,
    "uploadPart": _upload_part,
    "getObject": _get_object,
    "headObject": _head_object,
    "deleteObject": _delete_object,
    "listObjectsV2": _list_objects,
}


def _writable(services: Services, grant: Grant) -> None:
    """Refuse a write to a version committed since its URL was minted."""
    check_writable(services.versions.get(grant.ref))


def _file(reader: Reader, grant: Grant) -> FileEntry:
    entry = reader.file(grant.key)
    if entry is None:
        raise FileNotInVersion(
            f"No such file in {grant.ref}: {grant.key}", dataset=grant.dataset, path=grant.key
        )
    return entry


def _meta(entry: FileEntry) -> dict[str, str]:
    return {"Content-Length": str(entry.size), "ETag": f'"{entry.sha256}"'}


def _open_object(services: Services, grant: Grant) -> tuple[FileEntry, Iterator[bytes]]:
    """The file and its bytes, verified against its SHA-256 as they stream (a damaged object
    breaks the connection rather than pass as the file)."""
    reader = services.objects.reader(grant.ref)
    entry = _file(reader, grant)
    loc = reader.locations({entry.sha256: entry.size})[entry.sha256]
    if loc.pack is not None and loc.offset is not None:  # small: one ranged read
        span = Span(loc.offset, entry.size, (PackMember(entry.sha256, loc.offset, entry.size),))
        content = bytes(reader.read_span(loc.pack, span)[entry.sha256])
        return entry, _verified(entry, iter([content]))
    return entry, _verified(entry, _chunks(reader.open(entry.sha256)))


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK):
            yield chunk


def _verified(entry: FileEntry, chunks: Iterator[bytes]) -> Iterator[bytes]:
    digest, size = hashlib.sha256(), 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        yield chunk
    if size != entry.size or digest.hexdigest() != entry.sha256:
        raise HashMismatch(
            f"The stored content of {entry.path} does not match its SHA-256", path=entry.path
        )


# -- listing ----------------------------------------------------------------------------------


def _split_prefix(prefix: str) -> tuple[str, str]:
    """A Prefix as (directory prefix, start of a name in it): '/a/b/' → ('a/b/', ''),
    'a/b' → ('a/', 'b'). '..' is refused."""
    key, is_dir = user_path(prefix, "Prefix")
    if is_dir:
        return dir_prefix(key), ""
    folder, _, stem = key.rpartition("/")
    return (f"{folder}/" if folder else ""), stem


def _listing(services: Services, grant: Grant) -> tuple[list[ListedEntry], bool]:
    """A page of rows under the Prefix (names relative to its directory) and whether more
    follow. Rows come from the catalog in name order, a page at a time."""
    folder, stem = _split_prefix(grant.prefix)
    if grant.max_keys == 0:
        return [], False
    recursive = grant.delimiter == ""
    batch = grant.max_keys + 1
    # start just before the stem's run of names (rows before it are skipped below)
    after: str | None = grant.after or stem[:-1] or None
    rows: list[ListedEntry] = []
    first = not grant.after
    while len(rows) <= grant.max_keys:
        page = services.files.list(grant.ref, folder, recursive, batch, after)
        if first and after is None and _names_a_file(services, grant, folder, page):
            page = []
        first = False
        for row in page:
            after = row.name
            if row.name.startswith(stem):
                rows.append(row)
                if len(rows) > grant.max_keys:
                    break
            elif row.name > stem:  # past the names that start with the stem
                return rows, False
        if len(page) < batch:
            break
    return rows[: grant.max_keys], len(rows) > grant.max_keys


def _names_a_file(services: Services, grant: Grant, folder: str, page: list[ListedEntry]) -> bool:
    """Whether `files list` answered a folder prefix that is a file with that file (its
    `files list --path FILE` convenience): S3 lists nothing under 'file/'."""
    if not folder or len(page) != 1 or page[0].is_dir:
        return False
    return services.objects.reader(grant.ref).file(folder + page[0].name) is None


def _list_xml(grant: Grant, rows: list[ListedEntry], truncated: bool) -> bytes:
    """S3's ListObjectsV2 answer, keys spelled from the Prefix as the client sent it."""
    _, stem = _split_prefix(grant.prefix)
    root = ET.Element("ListBucketResult", xmlns=S3_XMLNS)
    fields = [
        ("Name", grant.dataset),
        ("Prefix", grant.prefix),
        ("Delimiter", grant.delimiter),
        ("MaxKeys", str(grant.max_keys)),
        ("KeyCount", str(len(rows))),
        ("IsTruncated", "true" if truncated else "false"),
        ("ContinuationToken", grant.token),
        ("NextContinuationToken", _b64(rows[-1].name.encode()) if truncated else ""),
    ]
    for tag, text in fields:
        if text or tag == "Prefix":
            ET.SubElement(root, tag).text = text
    for row in (r for r in rows if not r.is_dir):
        item = ET.SubElement(root, "Contents")
        ET.SubElement(item, "Key").text = grant.prefix + row.name[len(stem) :]
        ET.SubElement(item, "Size").text = str(row.size)
        ET.SubElement(item, "StorageClass").text = "STANDARD"
    for row in (r for r in rows if r.is_dir):
        item = ET.SubElement(root, "CommonPrefixes")
        ET.SubElement(item, "Prefix").text = grant.prefix + row.name[len(stem) :]
    return _xml(root)


# -- bodies and errors ------------------------------------------------------------------------


@dataclass
class _Body:
    path: str
    size: int = 0
    sha256: str = ""
    md5: str = ""


@contextlib.contextmanager
def _spool(settings: Settings) -> Iterator[tuple[BinaryIO, str]]:
    """A temporary file in the server's home, removed afterwards."""
    folder = settings.home / "spool"
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, prefix="gradient-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out, path
    finally:
        Path(path).unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def _received(request: Request, settings: Settings) -> AsyncIterator[_Body]:
    """The request's body in a temporary file, hashed (SHA-256, MD5) as it arrives: never
    whole in memory. A `Content-MD5` header is checked."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    with _spool(settings) as (out, path):
        body = _Body(path)
        sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)

        def absorb(chunk: bytes) -> None:
            sha.update(chunk)
            md5.update(chunk)
            out.write(chunk)

        async for chunk in request.stream():
            body.size += len(chunk)
            if body.size > MAX_BODY_BYTES:
                raise _too_large()
            if chunk:
                await run_in_threadpool(absorb, chunk)
        await run_in_threadpool(out.flush)
        body.sha256, body.md5 = sha.hexdigest(), md5.hexdigest()
        expected = request.headers.get("content-md5")
        if expected and expected != base64.b64encode(md5.digest()).decode():
            raise InvalidInput("The body does not match its Content-MD5 header")
        yield body


def _too_large() -> InvalidInput:
    return InvalidInput(f"A body may be at most {MAX_BODY_BYTES:,} bytes; use a multipart upload")


def _s3_code(exc: CargoholdError) -> str:
    if isinstance(exc, DatasetNotFound | VersionNotFound):
        return "NoSuchBucket"
    if isinstance(exc, NotFound):
        return "NoSuchKey"
    if isinstance(exc, InvalidInput):
        return "InvalidArgument"
    return "".join(word.capitalize() for word in exc.code.split("-"))


def _error(status: int, code: str, message: str, key: str, ours: str, head: bool) -> Response:
    """S3's XML error shape (no body for HEAD, as S3)."""
    headers = {observe.ERROR_CODE_HEADER: ours}
    if head:
        return Response(status_code=status, headers=headers)
    root = ET.Element("Error")
    for tag, text in (("Code", code), ("Message", message), ("Key", key)):
        ET.SubElement(root, tag).text = text
    return Response(_xml(root), status_code=status, media_type="application/xml", headers=headers)


def _xml(root: ET.Element) -> bytes:
    text = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()
