"""The server's half of a client's transfer of one version: what the team server's transfer
routes (api/transfer.py) decide; the client's half is client/transfer.py.

A provider whose store can presign (an S3 bucket, the managed one included when it is a
bucket) is *direct*: its bytes never pass through the server, which signs requests
(blobs/s3_presign.py) for the client to send to the bucket, single PUTs and multipart alike;
the provider's keys stay on the server. Other stores (the managed directory) take their bytes
through the server, verified as they land; the through-server methods refuse a direct
provider.

Nothing is taken on a client's word: an object is recorded once the store holds it with the
size named, a pack's members must lie inside the pack, and content the catalog has recorded
is never written again by a plan or a completion, so no client can change what a committed
version reads. Keys are built from validated SHA-256s (domain/layout.py), inside the team's
folder; a client never names one. Both sides start from a `VersionWriter` or `VersionReader`
of the team's services, so another team's reference (and its contents) is 404 and every write
to a committed version is 409.
"""

from __future__ import annotations

import builtins
import functools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from cargohold.blobs import BlobStore
from cargohold.domain import layout, wire
from cargohold.domain.ids import check_sha256
from cargohold.domain.models import FileEntry, ObjectLocation
from cargohold.domain.packs import PackMember
from cargohold.errors import ContentMismatch, HashMismatch, InvalidInput, ObjectNotFound
from cargohold.services.files import VersionReader, VersionWriter

if TYPE_CHECKING:
    from cargohold.blobs.s3_presign import Presigned, Presigner

Json = dict[str, Any]


class _Remote:
    """What both sides share: the provider's store and, when it is direct, its signer."""

    def __init__(self, side: VersionWriter | VersionReader, expires: int) -> None:
        self._side = side
        self.expires = expires

    @property
    def store(self) -> BlobStore:
        return self._side.odb.store

    @functools.cached_property
    def presigner(self) -> Presigner | None:
        """Who signs direct requests to the store; None where bytes go through the server."""
        make = getattr(self.store, "presigner", None)
        return cast("Presigner", make(self.expires)) if callable(make) else None

    def _through_server(self) -> BlobStore:
        """The store, for bytes that go through the server: refused for a direct provider."""
        if self.presigner is not None:
            raise InvalidInput(
                "This provider's bytes go straight to its bucket, not through the server",
                hint="Ask for an upload plan or a download URL instead",
            )
        return self.store


# -- the upload side ------------------------------------------------------------------------


class RemoteUpload(_Remote):
    """The server's half of a client's upload of one uncommitted version."""

    def __init__(self, writer: VersionWriter, expires: int) -> None:
        super().__init__(writer, expires)
        self.writer = writer

    def describe(self) -> Json:
        """The version (resolved once: the client names it by ID from then on) and how its
        bytes travel."""
        w, settings = self.writer, self.writer.settings
        return {
            "teamId": w.team,
            "dataset": wire.dataset(w.ds),
            "version": wire.version(w.version),
            "packsSmallFiles": w.odb.packs_small_files,
            "packThreshold": settings.pack_threshold,
            "packSize": settings.pack_size,
            "partSize": settings.part_size,
            "direct": self.presigner is not None,
        }

    def missing(self, sizes: dict[str, int]) -> list[str]:
        """The objects the provider lacks, in order (the quota reserves room for them)."""
        for sha in sizes:
            check_sha256(sha)
        return sorted(self.writer.missing(sizes))

    def clean(self) -> int:
        return self.writer.clean_stale_uploads()

    def stage(self, entries: Sequence[FileEntry], claimed_landed: dict[str, int]) -> int:
        """Record files. Of the objects the client says landed, only those the catalog knows
        or the store holds with that size are recorded (a client's word is not enough)."""
        for sha in claimed_landed:
            check_sha256(sha)
        known = self.writer.known(claimed_landed)
        landed = {
            sha: size
            for sha, size in claimed_landed.items()
            if sha not in known and self.writer.odb.exists(sha, size)
        }
        self.writer.stage(entries, landed)
        return len(entries)

    # -- whole objects ------------------------------------------------------------------

    def plan_object(self, sha256: str, size: int) -> Json:
        """How to send one whole object: `present` (nothing to do), `put` (one presigned PUT
        with the headers given), `multipart` (parts, resumed from those listed), or `server`."""
        from cargohold.blobs.s3_multipart import part_size_for

        if sha256 not in self.writer.missing({sha256: size}):  # known, or found; the quota
            return {"via": "present"}
        if self.presigner is None:
            return {"via": "server"}
        key = self.writer.odb.key(sha256)
        part_size = part_size_for(size, self.writer.settings.part_size)
        if size <= part_size:
            return _put_plan(self.presigner.put(key, sha256))
        upload_id, parts = self.presigner.start_multipart(key)
        return {
            "via": "multipart",
            "uploadId": upload_id,
            "partSize": part_size,
            "parts": [[p.number, p.etag, p.size] for p in parts],
        }

    def part_urls(self, sha256: str, upload_id: str, numbers: Sequence[int]) -> dict[int, str]:
        """Presigned URLs for some parts of a multipart upload (asked for just before use)."""
        if self.presigner is None:
            raise InvalidInput("This provider takes no parts: send the object through the server")
        if self.writer.recorded(sha256) is not None:
            raise InvalidInput(f"Object {sha256} is stored already", hint="Nothing to send")
        return self.presigner.part_urls(self.writer.odb.key(sha256), upload_id, numbers)

    def complete_object(
        self,
        sha256: str,
        size: int,
        upload_id: str | None = None,
        parts: Sequence[tuple[int, str]] | None = None,
    ) -> int:
        """Complete a multipart upload (from the bucket's own list of parts), check the
        object's size by HEAD and record it; a recorded object keeps its size."""
        recorded = self.writer.recorded(sha256)
        if recorded is not None:
            return recorded
        key = self.writer.odb.key(sha256)
        if upload_id is not None:
            if self.presigner is None:
                raise InvalidInput("This provider has no multipart uploads")
            self.presigner.complete(key, upload_id, parts or [], size)
        _check_landed(self.store, key, size)
        self.writer.record({sha256: size})
        return size

    def receive_object(self, sha256: str, size: int, chunks: Iterable[bytes]) -> int:
        """One whole object through the server, verified as it lands, then recorded. The
        quota is checked before a byte is read."""
        store = self._through_server()
        self.writer.missing({sha256: size})
        key = self.writer.odb.key(sha256)  # stored even when it is there already: same bytes
        written = _received(lambda: store.put_stream(key, chunks, sha256))
        self.writer.record({sha256: written})
        return written

    # -- packs --------------------------------------------------------------------------

    def plan_pack(self, pack: str, size: int, members: Sequence[tuple[str, int, int]]) -> Json:
        """How to send a pack (named by the SHA-256 of its bytes): `present`, `put` or
        `server`. It is completed afterwards in every case."""
        _members(size, members)
        key = layout.pack_key(self.writer.team, pack)
        if self.store.size(key) == size:
            return {"via": "present"}
        if self.presigner is None:
            return {"via": "server"}
        return _put_plan(self.presigner.put(key, pack))

    def receive_pack(self, pack: str, chunks: Iterable[bytes]) -> int:
        """A pack through the server, verified as it lands (recorded by `complete_pack`)."""
        store = self._through_server()
        key = layout.pack_key(self.writer.team, pack)
        return _received(lambda: store.put_stream(key, chunks, pack))

    def complete_pack(self, pack: str, size: int, members: Sequence[tuple[str, int, int]]) -> int:
        """Once the pack is whole in the store (HEAD, its size): write its index from the
        members the client names (each inside the pack), and record it."""
        checked = _members(size, members)
        _check_landed(self.store, layout.pack_key(self.writer.team, pack), size)
        self.writer.index_pack(pack, size, checked)
        return size


def _put_plan(signed: Presigned) -> Json:
    return {"via": "put", "url": signed.url, "headers": signed.headers}


def _members(pack_size: int, raw: Sequence[tuple[str, int, int]]) -> list[PackMember]:
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
        raise ContentMismatch(f"{key} holds {found} bytes, not {size}: not recorded", key=key)


def _received(put: Callable[[], int]) -> int:
    """Bytes a client sent, stored by `put`: content that is not what its name says is the
    client's mistake (400), not damage in the store."""
    try:
        return put()
    except HashMismatch as exc:
        raise ContentMismatch(exc.message, **exc.details) from None


# -- the read side --------------------------------------------------------------------------


class RemoteDownload(_Remote):
    """The server's half of a client's download of one version. An object or pack is
    served only when the catalog knows it for this team and the dataset's provider."""

    def __init__(self, reader: VersionReader, expires: int) -> None:
        super().__init__(reader, expires)
        self.reader = reader

    def describe(self) -> Json:
        r = self.reader
        return {
            "teamId": r.team,
            "dataset": wire.dataset(r.ds),
            "version": wire.version(r.version),
            "direct": self.presigner is not None,
        }

    def files_page(self, prefix: str, after: str | None, limit: int) -> builtins.list[FileEntry]:
        """A page of the version's files under a directory prefix, in path order."""
        return self.reader.files(prefix, after, limit)

    def file(self, key: str) -> FileEntry | None:
        return self.reader.file(key)

    def locations(self, sizes: dict[str, int]) -> dict[str, ObjectLocation]:
        return self.reader.locations(sizes)

    def pack_sizes(self, packs: Iterable[str]) -> dict[str, int]:
        return self.reader.pack_sizes(packs)

    def object_key(self, sha256: str) -> str:
        """The key of a whole object the team's provider holds, else 404."""
        loc = self.reader.recorded(check_sha256(sha256))
        if loc is None or loc.pack is not None:
            raise ObjectNotFound(f"No object {sha256} in this dataset's provider", sha256=sha256)
        return self.reader.odb.key(sha256)

    def pack_key(self, pack: str) -> str:
        """The key of a pack the team's provider holds, else 404."""
        if pack not in self.reader.pack_sizes([check_sha256(pack)]):
            raise ObjectNotFound(f"No pack {pack} in this dataset's provider", pack=pack)
        return layout.pack_key(self.reader.team, pack)

    def object_url(self, sha256: str) -> str | None:
        """A presigned GET of the object; None where it is read through the server."""
        return self._url(self.object_key(sha256))

    def pack_url(self, pack: str) -> str | None:
        return self._url(self.pack_key(pack))

    def object_source(self, sha256: str) -> tuple[BlobStore, str]:
        """Where to stream a whole object from, through the server (not a direct provider)."""
        key = self.object_key(sha256)
        return self._through_server(), key

    def pack_source(self, pack: str) -> tuple[BlobStore, str]:
        key = self.pack_key(pack)
        return self._through_server(), key

    def _url(self, key: str) -> str | None:
        return self.presigner.get(key) if self.presigner is not None else None
