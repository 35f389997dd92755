"""The S3 side of Gradient's presign endpoint (GRADIENT.md §3.3), served by cargohold itself.

Gradient's clients name files by path (`Key`), cargohold stores contents by SHA-256; so the
URLs handed out point here, not at the bucket, and the bytes pass through the server, which
hashes them and stores each content once in cargohold's layout
(`services.gradient_files`, through `services.upload.put_one`).

A URL is `/gradient-s3/<dataset>/<version>/<Key>?X-Cargohold-Grant=<grant>`: a signed grant
(`gradient_grants.py`) that allows the one HTTP method of its operation on the one Key it
names, until it expires. Writes are refused when the URL is minted if the version is
committed, and again when it is used. Multipart create and complete run at presign time.
Failures answer S3's XML error shape (`s3_xml.py`).

This module parses: a presign request's calls into grants and URLs, and a URL's request into
one call of `GradientFiles`, whose result it renders.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from cargohold.api import observe, s3_xml, streaming
from cargohold.api.deps import platform_of
from cargohold.api.gradient_grants import (
    GRANT_PARAM,
    OPERATIONS,
    WRITES,
    Denied,
    Grant,
    Signer,
    authorize,
    listing_grant,
)
from cargohold.domain.models import FileEntry
from cargohold.errors import CargoholdError, InvalidInput, TeamNotFound
from cargohold.services.files import check_writable
from cargohold.services.gradient_files import Body, GradientFiles, key_of
from cargohold.services.root import Services

router = APIRouter(include_in_schema=False)

Json = dict[str, Any]
T = TypeVar("T")

MAX_PART_NUMBER = 10_000
MAX_CONTENT_TYPE = 255


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
    files = GradientFiles(services, platform_of(request).stores, base.dataset, base.version)
    minting = _Minting(request, Signer(services.settings), files)
    answers: list[Json] = []
    for method, params in calls:
        _check_operation(method)
        if method in WRITES:
            check_writable(version)
        url = minting.answer(dataclasses.replace(base, op=method), params)
        answers.append({"url": url, "expiresIn": expires_in})
    return answers


def _check_operation(method: str) -> None:
    if method not in OPERATIONS:
        raise InvalidInput(
            f"Unsupported S3 operation: {method!r}",
            hint=f"Supported: {', '.join(sorted(OPERATIONS))}",
            method=method,
        )


@dataclasses.dataclass
class _Minting:
    """What one presign request answers for each call: a URL, or the result of a call run
    at presign time."""

    request: Request
    signer: Signer
    files: GradientFiles

    def answer(self, grant: Grant, params: dict[str, Any]) -> Any:
        if grant.op == "listObjectsV2":
            return self.url(listing_grant(grant, params))
        grant = dataclasses.replace(grant, key=key_of(params.get("Key")))
        if grant.op == "putObject":
            return self.url(dataclasses.replace(grant, mime=_content_type(params)))
        if grant.op == "createMultipartUpload":
            upload = self.signer.upload_id(grant)
            return {"Bucket": grant.dataset, "Key": params["Key"], "UploadId": upload}
        if grant.op == "uploadPart":
            upload = self.signer.check_upload(grant, params.get("UploadId"))
            part = _part_number(params.get("PartNumber"))
            return self.url(dataclasses.replace(grant, upload=upload, part=part))
        if grant.op == "completeMultipartUpload":
            return self.complete(grant, params)
        return self.url(grant)  # getObject, headObject, deleteObject

    def complete(self, grant: Grant, params: dict[str, Any]) -> Json:
        upload = self.signer.check_upload(grant, params.get("UploadId"))
        parts = _parts(params.get("MultipartUpload"))
        etag = self.files.complete(grant.key, upload, parts)
        location = self.object_url(grant)
        return {"Location": location, "Bucket": grant.dataset, "Key": params["Key"], "ETag": etag}

    def url(self, grant: Grant) -> str:
        return f"{self.object_url(grant)}?{GRANT_PARAM}={self.signer.token(grant)}"

    def object_url(self, grant: Grant) -> str:
        path = f"gradient-s3/{grant.dataset}/{grant.version}/{quote(grant.key, safe='/')}"
        return f"{self.request.base_url}{path}"


def _content_type(params: dict[str, Any]) -> str:
    mime = str(params.get("ContentType") or "")
    if len(mime) > MAX_CONTENT_TYPE or not mime.isprintable():
        raise InvalidInput(f"Invalid ContentType: {mime[:80]!r}")
    return mime


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


# -- the URLs ---------------------------------------------------------------------------------

Endpoint = Callable[[Request, GradientFiles, Grant], Awaitable[Response]]


@router.api_route(
    "/gradient-s3/{dataset}/{version}/{key:path}",
    methods=["GET", "HEAD", "PUT", "DELETE", "POST"],
    name="gradient_s3",
)
async def s3_request(dataset: str, version: str, key: str, request: Request) -> Response:
    """One presigned S3 call: the grant is checked, then its operation runs."""
    head = request.method == "HEAD"
    try:
        token = request.query_params.get(GRANT_PARAM)
        settings = platform_of(request).settings
        grant = authorize(settings, token, request.method, dataset, version, key)
        request.state.team_id = grant.team
        files = await run_in_threadpool(_files, request, grant)
        return await _ENDPOINTS[grant.op](request, files, grant)
    except Denied as exc:
        return s3_xml.error(403, "AccessDenied", str(exc), key, "access-denied", head)
    except CargoholdError as exc:
        return s3_xml.error(exc.status, s3_xml.s3_code(exc), exc.message, key, exc.code, head)


def _files(request: Request, grant: Grant) -> GradientFiles:
    """The files of the grant's version, acting for the grant's team."""
    platform = platform_of(request)
    try:
        team = platform.catalog.get_team(grant.team)
    except TeamNotFound:
        raise Denied("The team of this URL no longer exists") from None
    return GradientFiles(platform.services(team), platform.stores, grant.dataset, grant.version)


async def _put_object(request: Request, files: GradientFiles, grant: Grant) -> Response:
    got = await _with_body(request, lambda body: files.put(grant.key, body, grant.mime or None))
    observe.count_transfer(request.app.state, "upload", got.size)
    return Response(status_code=200, headers={"ETag": f'"{got.sha256}"'})


async def _upload_part(request: Request, files: GradientFiles, grant: Grant) -> Response:
    got = await _with_body(request, lambda body: files.put_part(grant.upload, grant.part, body))
    observe.count_transfer(request.app.state, "upload", got.size)
    return Response(status_code=200, headers={"ETag": f'"{got.md5}"'})


async def _get_object(request: Request, files: GradientFiles, grant: Grant) -> Response:
    entry, chunks = await run_in_threadpool(files.get, grant.key)

    def counted() -> Iterator[bytes]:
        yield from chunks
        observe.count_transfer(request.app.state, "download", entry.size)

    return StreamingResponse(counted(), media_type=entry.content_type, headers=_meta(entry))


async def _head_object(request: Request, files: GradientFiles, grant: Grant) -> Response:
    entry = await run_in_threadpool(files.head, grant.key)
    return Response(status_code=200, media_type=entry.content_type, headers=_meta(entry))


async def _delete_object(request: Request, files: GradientFiles, grant: Grant) -> Response:
    await run_in_threadpool(files.delete, grant.key)
    return Response(status_code=204)


async def _list_objects(request: Request, files: GradientFiles, grant: Grant) -> Response:
    recursive = grant.delimiter == ""
    page = await run_in_threadpool(
        files.list_page, grant.prefix, recursive, grant.max_keys, grant.after
    )
    return s3_xml.list_result(grant, page)


_ENDPOINTS: dict[str, Endpoint] = {
    "putObject": _put_object,
    "uploadPart": _upload_part,
    "getObject": _get_object,
    "headObject": _head_object,
    "deleteObject": _delete_object,
    "listObjectsV2": _list_objects,
}


def _meta(entry: FileEntry) -> dict[str, str]:
    return {"Content-Length": str(entry.size), "ETag": f'"{entry.sha256}"'}


async def _with_body(request: Request, work: Callable[[Body], T]) -> T:
    """Run `work` in a worker thread over the request's body, streamed (api/streaming.py);
    the callers count the bytes once kept."""
    headers = request.headers
    length, md5 = headers.get("content-length"), headers.get("content-md5")
    return await streaming.receive(
        request, lambda chunks: work(Body(chunks, length, md5)), counted=False
    )
