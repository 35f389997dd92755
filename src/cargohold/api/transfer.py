"""The data path of a team server: the bytes behind a version's files.

A provider whose store can presign (an S3 bucket, the managed one included when it is a
bucket) is *direct*: its bytes never pass through here. The server signs
(blobs/s3_presign.py) and the client talks to the bucket, single PUTs and multipart alike; the
provider's keys stay on the server. Other stores (the managed directory) are read and written
through the server (api/streaming.py), chunk by chunk, verified as they land and never held
whole in memory; the through-server routes refuse a direct provider.

Every route resolves its version through the team's services, so another team's reference is
404 (as are its objects and packs: a read is served only when the catalog knows the content
for this team and the dataset's provider). Keys are built here, from validated SHA-256s
(domain/layout.py); a client never names one, so nothing reaches outside the team's folder.
Every write route opens a `VersionWriter`, which refuses a committed version (409).

The client side is client/transfer.py; the in-process equivalent is services/files.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, cast

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from cargohold.api import streaming
from cargohold.api.deps import TeamServices
from cargohold.blobs import BlobStore
from cargohold.domain import wire
from cargohold.domain.ids import check_sha256
from cargohold.domain.layout import pack_index_key, pack_key
from cargohold.domain.models import FileEntry
from cargohold.domain.packs import PackMember, encode_index
from cargohold.errors import ConfigurationError, HashMismatch, InvalidInput, ObjectNotFound
from cargohold.services.files import ObjectService, VersionReader, VersionWriter
from cargohold.services.root import Services

if TYPE_CHECKING:
    from cargohold.blobs.s3_presign import Presigner

router = APIRouter(prefix="/api/v1/versions/{ref:path}/transfer", tags=["transfer"])

Json = dict[str, Any]
Size = Annotated[int, Field(ge=0)]
MAX_PART_URLS = 100
MAX_FILES_PAGE = 100_000


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


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


def _writer(s: Services, ref: str) -> VersionWriter:
    return _objects(s).writer(ref)  # 404 for another team's reference, 409 when committed


def _reader(s: Services, ref: str) -> VersionReader:
    return _objects(s).reader(ref)


def _presigner(store: BlobStore, s: Services) -> Presigner | None:
    """Who signs direct requests to the store; None where bytes go through the server."""
    make = getattr(store, "presigner", None)
    return cast("Presigner", make(s.settings.presign_expires)) if callable(make) else None


def _through_server(store: BlobStore, s: Services) -> None:
    if _presigner(store, s) is not None:
        raise InvalidInput(
            "This provider's bytes go straight to its bucket, not through the server",
            hint="Ask for an upload plan or a download URL instead",
        )


def _members(pack_size: int, raw: list[tuple[str, int, int]]) -> list[PackMember]:
    """The members a client says a pack holds, each checked to lie inside the pack."""
    members = []
    for sha, offset, length in raw:
        if offset + length > pack_size:
            raise InvalidInput(
                f"Member {sha[:12]} ends at byte {offset + length}, past the pack's "
                f"{pack_size} bytes"
            )
        members.append(PackMember(check_sha256(sha), offset, length))
    return members


def _check_landed(store: BlobStore, key: str, size: int) -> None:
    """The object is in the store with the size the client says. A wrong one is left for
    the next plan's PUT to replace: nothing here deletes what a client names."""
    found = store.size(key)
    if found is None:
        raise InvalidInput(f"{key} has not landed in the provider", key=key)
    if found != size:
        raise HashMismatch(
            f"{key} holds {found} bytes, not {size}: it was not recorded",
            hint="Run the command again",
            key=key,
        )


def _recorded(w: VersionWriter, sha256: str) -> int | None:
    """The size of a content the catalog has recorded (whole and verified): such an object
    is never written again, so no route can change what a committed version reads."""
    loc = w.ctx.catalog.object_locations(w.team, w.provider, [sha256]).get(sha256)
    return loc.size if loc is not None else None


# -- the upload side ------------------------------------------------------------------------


@router.post("/writer")
def open_writer(ref: str, s: TeamServices) -> Json:
    """The version (resolved once: later calls name it by ID) and how its bytes travel."""
    w = _writer(s, ref)
    settings = w.settings
    return {
        "teamId": s.team.id,
        "dataset": wire.dataset(w.ds),
        "version": wire.version(w.version),
        "packsSmallFiles": w.odb.packs_small_files,
        "packThreshold": settings.pack_threshold,
        "packSize": settings.pack_size,
        "partSize": settings.part_size,
        "direct": _presigner(w.odb.store, s) is not None,
    }


@router.post("/missing")
def missing(ref: str, body: Sizes, s: TeamServices) -> Json:
    for sha in body.sizes:
        check_sha256(sha)
    return {"missing": sorted(_writer(s, ref).missing(body.sizes))}


@router.post("/clean")
def clean_stale_uploads(ref: str, s: TeamServices) -> Json:
    return {"removed": _writer(s, ref).clean_stale_uploads()}


@router.post("/stage")
def stage(ref: str, body: Stage, s: TeamServices) -> Json:
    """Record files. Of the objects the client says `landed`, only those the catalog knows
    or the store holds with that size are recorded (a client's word is not enough)."""
    w = _writer(s, ref)
    for sha in body.landed:
        check_sha256(sha)
    known = w.ctx.catalog.known_objects(w.team, w.provider, body.landed)
    landed = {
        sha: size
        for sha, size in body.landed.items()
        if sha not in known and w.odb.exists(sha, size)
    }
    w.stage([FileEntry(*e) for e in body.entries], landed)
    return {"staged": len(body.entries)}


@router.post("/objects/{sha256}/plan")
def plan_object(ref: str, sha256: str, body: ObjectSize, s: TeamServices) -> Json:
    """How to send one whole object: `present` (nothing to do), `put` (one presigned PUT
    with the headers given), `multipart` (parts, resumed from those listed), or `server`."""
    from cargohold.blobs.s3_multipart import part_size_for

    w = _writer(s, _checked(ref, sha256))
    if sha256 not in w.missing({sha256: body.size}):  # known, or found by a HEAD; quota
        return {"via": "present"}
    presigner = _presigner(w.odb.store, s)
    if presigner is None:
        return {"via": "server"}
    key = w.odb.key(sha256)
    part_size = part_size_for(body.size, w.settings.part_size)
    if body.size <= part_size:
        signed = presigner.put(key, sha256)
        return {"via": "put", "url": signed.url, "headers": signed.headers}
    upload_id, parts = presigner.start_multipart(key)
    return {
        "via": "multipart",
        "uploadId": upload_id,
        "partSize": part_size,
        "parts": [[p.number, p.etag, p.size] for p in parts],
    }


@router.post("/objects/{sha256}/parts")
def part_urls(ref: str, sha256: str, body: PartUrls, s: TeamServices) -> Json:
    """Presigned URLs for some parts of a multipart upload (asked for just before use)."""
    w = _writer(s, _checked(ref, sha256))
    presigner = _presigner(w.odb.store, s)
    if presigner is None:
        raise InvalidInput("This provider takes no parts: send the object through the server")
    if _recorded(w, sha256) is not None:
        raise InvalidInput(f"Object {sha256} is stored already", hint="Nothing to send")
    urls = presigner.part_urls(w.odb.key(sha256), body.upload_id, body.numbers)
    return {"urls": {str(n): url for n, url in urls.items()}}


@router.post("/objects/{sha256}/complete")
def complete_object(ref: str, sha256: str, body: ObjectLanded, s: TeamServices) -> Json:
    """Complete a multipart upload (from the bucket's own list of parts), check the object's
    size by HEAD and record it."""
    w = _writer(s, _checked(ref, sha256))
    recorded = _recorded(w, sha256)
    if recorded is not None:
        return {"size": recorded}
    key = w.odb.key(sha256)
    if body.upload_id is not None:
        presigner = _presigner(w.odb.store, s)
        if presigner is None:
            raise InvalidInput("This provider has no multipart uploads")
        presigner.complete(key, body.upload_id, body.parts or [], body.size)
    _check_landed(w.odb.store, key, body.size)
    w.ctx.catalog.record_objects(w.team, w.provider, {sha256: body.size})
    return {"size": body.size}


@router.put("/objects/{sha256}")
async def put_object(
    ref: str, sha256: str, request: Request, s: TeamServices, size: int = Query(ge=0)
) -> Json:
    """One whole object through the server (the managed directory), verified as it lands."""
    w = await run_in_threadpool(_writer, s, _checked(ref, sha256))
    store = await run_in_threadpool(lambda: w.odb.store)
    _through_server(store, s)
    await run_in_threadpool(w.missing, {sha256: size})  # the quota, before a byte lands
    key = w.odb.key(sha256)  # stored even when it is there already: same bytes, verified
    written = await streaming.receive(request, lambda chunks: store.put_stream(key, chunks, sha256))
    await run_in_threadpool(w.ctx.catalog.record_objects, w.team, w.provider, {sha256: written})
    return {"size": written}


@router.post("/packs/{pack}/plan")
def plan_pack(ref: str, pack: str, body: Pack, s: TeamServices) -> Json:
    """How to send a pack (named by the SHA-256 of its bytes): `present`, `put` or `server`.
    Complete it afterwards in every case: that writes its index and records it."""
    w = _writer(s, _checked(ref, pack))
    _members(body.size, body.members)
    store = w.odb.store
    if store.size(pack_key(w.team, pack)) == body.size:
        return {"via": "present"}
    presigner = _presigner(store, s)
    if presigner is None:
        return {"via": "server"}
    signed = presigner.put(pack_key(w.team, pack), pack)
    return {"via": "put", "url": signed.url, "headers": signed.headers}


@router.put("/packs/{pack}")
async def put_pack(
    ref: str, pack: str, request: Request, s: TeamServices, size: int = Query(ge=0)
) -> Json:
    w = await run_in_threadpool(_writer, s, _checked(ref, pack))
    store = await run_in_threadpool(lambda: w.odb.store)
    _through_server(store, s)
    key = pack_key(w.team, pack)
    written = await streaming.receive(request, lambda chunks: store.put_stream(key, chunks, pack))
    return {"size": written}


@router.post("/packs/{pack}/complete")
def complete_pack(ref: str, pack: str, body: Pack, s: TeamServices) -> Json:
    """Once the pack is whole in the store (HEAD, its size): write its index from the
    members the client names (each inside the pack), and record it."""
    w = _writer(s, _checked(ref, pack))
    members = _members(body.size, body.members)
    store = w.odb.store
    _check_landed(store, pack_key(w.team, pack), body.size)
    if not w.ctx.catalog.pack_sizes(w.team, w.provider, [pack]):
        store.put_bytes(pack_index_key(w.team, pack), encode_index(members))
        w.ctx.catalog.record_pack(w.team, w.provider, pack, body.size, members)
    return {"size": body.size}


# -- the read side --------------------------------------------------------------------------


@router.get("/reader")
def open_reader(ref: str, s: TeamServices) -> Json:
    r = _reader(s, ref)
    return {
        "teamId": s.team.id,
        "dataset": wire.dataset(r.ds),
        "version": wire.version(r.version),
        "direct": _presigner(r.odb.store, s) is not None,
    }


@router.get("/files")
def files(
    ref: str,
    s: TeamServices,
    prefix: str = "",
    after: str | None = None,
    limit: int = Query(MAX_FILES_PAGE, ge=1, le=MAX_FILES_PAGE),
) -> Json:
    """A page of the version's files under a directory prefix, in path order."""
    r = _reader(s, ref)
    found = r.ctx.catalog.files(r.ds.id, r.version.version, prefix, after, limit)
    return {"files": [list(e) for e in found]}


@router.get("/file")
def file(ref: str, key: str, s: TeamServices) -> Json:
    found = _reader(s, ref).file(key)
    return {"file": list(found) if found is not None else None}


@router.post("/locations")
def locations(ref: str, body: Sizes, s: TeamServices) -> Json:
    found = _reader(s, ref).locations(body.sizes)
    return {"locations": {sha: [loc.size, loc.pack, loc.offset] for sha, loc in found.items()}}


@router.post("/pack-sizes")
def pack_sizes(ref: str, body: Packs, s: TeamServices) -> Json:
    return {"sizes": _reader(s, ref).pack_sizes(body.packs)}


def _object_key(r: VersionReader, sha256: str) -> tuple[str, int]:
    """The key and size of a whole object the team's provider holds, else 404."""
    loc = r.ctx.catalog.object_locations(r.team, r.provider, [check_sha256(sha256)]).get(sha256)
    if loc is None or loc.pack is not None:
        raise ObjectNotFound(f"No object {sha256} in this dataset's provider", sha256=sha256)
    return r.odb.key(sha256), loc.size


def _pack_key(r: VersionReader, pack: str) -> tuple[str, int]:
    size = r.ctx.catalog.pack_sizes(r.team, r.provider, [check_sha256(pack)]).get(pack)
    if size is None:
        raise ObjectNotFound(f"No pack {pack} in this dataset's provider", pack=pack)
    return pack_key(r.team, pack), size


@router.get("/objects/{sha256}/url")
def object_url(ref: str, sha256: str, s: TeamServices) -> Json:
    """A presigned GET of the object; `null` where it is read through the server."""
    r = _reader(s, ref)
    key, _ = _object_key(r, sha256)
    presigner = _presigner(r.odb.store, s)
    return {"url": presigner.get(key) if presigner is not None else None}


@router.get("/objects/{sha256}")
def get_object(
    ref: str,
    sha256: str,
    request: Request,
    s: TeamServices,
    byte_range: str | None = Header(None, alias="Range"),
) -> Response:
    """The object through the server (the managed directory), or one byte range of it."""
    r = _reader(s, ref)
    key, _ = _object_key(r, sha256)
    _through_server(r.odb.store, s)
    return streaming.send(request.app.state, r.odb.store, key, byte_range)


@router.get("/packs/{pack}/url")
def pack_url(ref: str, pack: str, s: TeamServices) -> Json:
    r = _reader(s, ref)
    key, _ = _pack_key(r, pack)
    presigner = _presigner(r.odb.store, s)
    return {"url": presigner.get(key) if presigner is not None else None}


@router.get("/packs/{pack}")
def get_pack(
    ref: str,
    pack: str,
    request: Request,
    s: TeamServices,
    byte_range: str | None = Header(None, alias="Range"),
) -> Response:
    """A pack through the server, or one byte range of it (members read together)."""
    r = _reader(s, ref)
    key, _ = _pack_key(r, pack)
    _through_server(r.odb.store, s)
    return streaming.send(request.app.state, r.odb.store, key, byte_range)


def _checked(ref: str, sha256: str) -> str:
    """`ref`, once `sha256` (a path segment naming content) is known to be a SHA-256."""
    check_sha256(sha256)
    return ref
