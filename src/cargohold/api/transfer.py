"""The data path of a team server: the bytes behind a version's files, over HTTP.

Each route parses its input, calls one method of the server's half of the transfer
(services/remote.py: `RemoteUpload`, `RemoteDownload`, which decide what is present, signed,
received, checked and recorded), and renders the answer. A direct provider's bytes go
straight between client and bucket by presigned URLs; the managed directory's stream through
the server (api/streaming.py), chunk by chunk, never held whole in memory.

Every route resolves its version through the team's services, so another team's reference
is 404, and every write route opens a `VersionWriter`, which refuses a committed version
(409). A SHA-256 in the path is checked before the version is resolved.

The client side is client/transfer.py; the in-process equivalent is services/files.py.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import Field

from cargohold.api import streaming
from cargohold.api.deps import TeamServices
from cargohold.api.native import Body
from cargohold.domain.ids import check_sha256
from cargohold.domain.models import FileEntry
from cargohold.errors import ConfigurationError
from cargohold.services.files import ObjectService
from cargohold.services.remote import RemoteDownload, RemoteUpload
from cargohold.services.root import Services

router = APIRouter(prefix="/api/v1/versions/{ref:path}/transfer", tags=["transfer"])

Json = dict[str, Any]
Size = Annotated[int, Field(ge=0)]
MAX_PART_URLS = 100
MAX_FILES_PAGE = 100_000


class Sizes(Body):
    sizes: dict[str, Size]


class ObjectSize(Body):
    size: Size


class PartUrls(Body):
    upload_id: str = Field(alias="uploadId", min_length=1, max_length=1024)
    numbers: list[int] = Field(min_length=1, max_length=MAX_PART_URLS)


class ObjectLanded(Body):
    size: Size
    upload_id: str | None = Field(None, alias="uploadId", max_length=1024)
    parts: list[tuple[int, str]] | None = None  # (number, MD5 hex) for 1..N


class Pack(Body):
    size: Size
    members: list[tuple[str, Size, Size]] = Field(min_length=1)  # (sha256, offset, length)


class Stage(Body):
    entries: list[tuple[str, Size, str, str]]  # (path, size, sha256, content type)
    landed: dict[str, Size] = Field(default_factory=dict)


class Packs(Body):
    packs: list[str]


# -- the two sides of a version, as the team's services see them ---------------------------


def _objects(s: Services) -> ObjectService:
    if not isinstance(s.objects, ObjectService):  # a server always has the in-process ones
        raise ConfigurationError("The transfer routes need the in-process object service")
    return s.objects


def _upload(s: Services, ref: str) -> RemoteUpload:
    """404 for another team's reference, 409 when the version is committed."""
    return RemoteUpload(_objects(s).writer(ref), s.settings.presign_expires)


def _download(s: Services, ref: str) -> RemoteDownload:
    return RemoteDownload(_objects(s).reader(ref), s.settings.presign_expires)


def _checked(ref: str, *sha256s: str) -> str:
    """`ref`, once each of `sha256s` (content named by the client) is known to be a SHA-256."""
    for sha in sha256s:
        check_sha256(sha)
    return ref


# -- the upload side ------------------------------------------------------------------------


@router.post("/writer")
def open_writer(ref: str, s: TeamServices) -> Json:
    """The version (resolved once: later calls name it by ID) and how its bytes travel."""
    return _upload(s, ref).describe()


@router.post("/missing")
def missing(ref: str, body: Sizes, s: TeamServices) -> Json:
    return {"missing": _upload(s, _checked(ref, *body.sizes)).missing(body.sizes)}


@router.post("/clean")
def clean_stale_uploads(ref: str, s: TeamServices) -> Json:
    return {"removed": _upload(s, ref).clean()}


@router.post("/stage")
def stage(ref: str, body: Stage, s: TeamServices) -> Json:
    """Record files. Of the objects the client says `landed`, only those the catalog knows
    or the store holds with that size are recorded (a client's word is not enough)."""
    entries = [FileEntry(*e) for e in body.entries]
    return {"staged": _upload(s, ref).stage(entries, body.landed)}


@router.post("/objects/{sha256}/plan")
def plan_object(ref: str, sha256: str, body: ObjectSize, s: TeamServices) -> Json:
    """How to send one whole object: `present` (nothing to do), `put` (one presigned PUT
    with the headers given), `multipart` (parts, resumed from those listed), or `server`."""
    return _upload(s, _checked(ref, sha256)).plan_object(sha256, body.size)


@router.post("/objects/{sha256}/parts")
def part_urls(ref: str, sha256: str, body: PartUrls, s: TeamServices) -> Json:
    """Presigned URLs for some parts of a multipart upload (asked for just before use)."""
    upload = _upload(s, _checked(ref, sha256))
    urls = upload.part_urls(sha256, body.upload_id, body.numbers)
    return {"urls": {str(n): url for n, url in urls.items()}}


@router.post("/objects/{sha256}/complete")
def complete_object(ref: str, sha256: str, body: ObjectLanded, s: TeamServices) -> Json:
    """Complete a multipart upload (from the bucket's own list of parts), check the object's
    size by HEAD and record it."""
    upload = _upload(s, _checked(ref, sha256))
    return {"size": upload.complete_object(sha256, body.size, body.upload_id, body.parts)}


@router.put("/objects/{sha256}")
async def put_object(
    ref: str, sha256: str, request: Request, s: TeamServices, size: int = Query(ge=0)
) -> Json:
    """One whole object through the server (the managed directory), verified as it lands."""
    checked = _checked(ref, sha256)
    written = await streaming.receive(
        request, lambda chunks: _upload(s, checked).receive_object(sha256, size, chunks)
    )
    return {"size": written}


@router.post("/packs/{pack}/plan")
def plan_pack(ref: str, pack: str, body: Pack, s: TeamServices) -> Json:
    """How to send a pack (named by the SHA-256 of its bytes): `present`, `put` or `server`.
    Complete it afterwards in every case: that writes its index and records it."""
    return _upload(s, _checked(ref, pack)).plan_pack(pack, body.size, body.members)


@router.put("/packs/{pack}")
async def put_pack(
    ref: str, pack: str, request: Request, s: TeamServices, size: int = Query(ge=0)
) -> Json:
    checked = _checked(ref, pack)
    written = await streaming.receive(
        request, lambda chunks: _upload(s, checked).receive_pack(pack, chunks)
    )
    return {"size": written}


@router.post("/packs/{pack}/complete")
def complete_pack(ref: str, pack: str, body: Pack, s: TeamServices) -> Json:
    """Once the pack is whole in the store (HEAD, its size): write its index from the
    members the client names (each inside the pack), and record it."""
    return {"size": _upload(s, _checked(ref, pack)).complete_pack(pack, body.size, body.members)}


# -- the read side --------------------------------------------------------------------------


@router.get("/reader")
def open_reader(ref: str, s: TeamServices) -> Json:
    return _download(s, ref).describe()


@router.get("/files")
def files(
    ref: str,
    s: TeamServices,
    prefix: str = "",
    after: str | None = None,
    limit: int = Query(MAX_FILES_PAGE, ge=1, le=MAX_FILES_PAGE),
) -> Json:
    """A page of the version's files under a directory prefix, in path order."""
    found = _download(s, ref).files_page(prefix, after, limit)
    return {"files": [list(e) for e in found]}


@router.get("/file")
def file(ref: str, key: str, s: TeamServices) -> Json:
    found = _download(s, ref).file(key)
    return {"file": list(found) if found is not None else None}


@router.post("/locations")
def locations(ref: str, body: Sizes, s: TeamServices) -> Json:
    found = _download(s, ref).locations(body.sizes)
    return {"locations": {sha: [loc.size, loc.pack, loc.offset] for sha, loc in found.items()}}


@router.post("/pack-sizes")
def pack_sizes(ref: str, body: Packs, s: TeamServices) -> Json:
    return {"sizes": _download(s, ref).pack_sizes(body.packs)}


@router.get("/objects/{sha256}/url")
def object_url(ref: str, sha256: str, s: TeamServices) -> Json:
    """A presigned GET of the object; `null` where it is read through the server."""
    return {"url": _download(s, ref).object_url(sha256)}


@router.get("/objects/{sha256}")
def get_object(
    ref: str,
    sha256: str,
    request: Request,
    s: TeamServices,
    byte_range: str | None = Header(None, alias="Range"),
) -> Response:
    """The object through the server (the managed directory), or one byte range of it."""
    store, key = _download(s, ref).object_source(sha256)
    return streaming.send(request.app.state, store, key, byte_range)


@router.get("/packs/{pack}/url")
def pack_url(ref: str, pack: str, s: TeamServices) -> Json:
    return {"url": _download(s, ref).pack_url(pack)}


@router.get("/packs/{pack}")
def get_pack(
    ref: str,
    pack: str,
    request: Request,
    s: TeamServices,
    byte_range: str | None = Header(None, alias="Range"),
) -> Response:
    """A pack through the server, or one byte range of it (members read together)."""
    store, key = _download(s, ref).pack_source(pack)
    return streaming.send(request.app.state, store, key, byte_range)
