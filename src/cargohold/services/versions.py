"""Use cases for versions and tags."""

from __future__ import annotations

import io
import queue
import threading
from collections.abc import Iterator
from dataclasses import replace

from cargohold.domain import manifest
from cargohold.domain.ids import SHA256, is_dataset_id, is_version_id, is_workflow_id
from cargohold.domain.layout import manifest_key
from cargohold.domain.models import Dataset, FileEntry, Tag, Version
from cargohold.domain.refs import check_tag_name, parse_ref
from cargohold.domain.workflows import Lineage, LineageGraph, LineageInput
from cargohold.errors import InvalidInput, InvalidReference
from cargohold.services.context import Context
from cargohold.services.files import check_writable


class VersionService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def create(
        self, dataset: str, message: str | None = None, parent: str | None = None
    ) -> Version:
        """A new uncommitted version; with `parent`, it starts with the parent's files."""
        ds = self.ctx.dataset(dataset)
        origin = None
        if parent:
            pds, pv = self.ctx.version(parent)
            if pds.storage_provider.id != ds.storage_provider.id:
                raise InvalidInput(
                    f"Parent {pv.ref} lives in another storage provider than {ds.name}",
                    hint="A parent must be stored in the same provider as the new version",
                    parent=parent,
                )
            origin = (pds.id, pv.version)
        return self.ctx.catalog.add_version(ds.id, message or None, origin)

    def list(self, dataset: str, committed: bool | None = True) -> list[Version]:
        ds = self.ctx.dataset(dataset)
        return self.ctx.catalog.list_versions(ds.id, committed)

    def get(self, ref: str) -> Version:
        """The version, with its lineage when a workflow made it."""
        ds, v = self.ctx.version(ref)
        if not v.is_committed:
            return v
        return replace(v, lineage=self.ctx.catalog.lineage_of(ds.id, v.version))

    def update(self, ref: str, message: str | None) -> Version:
        ds, v = self.ctx.version(ref)
        return self.ctx.catalog.update_version(ds.id, v.version, message)

    def commit(self, ref: str, lineage: Lineage | None = None) -> Version:
        """Freeze the version and write its manifest into the provider; with `lineage` (a
        workflow's output), record how it was made in the same transaction."""
        ds, v = self.ctx.version(ref)
        check_writable(v)  # before the provider's store is opened for nothing
        if lineage is not None:
            lineage = check_lineage(lineage)
        key = manifest_key(self.ctx.team.id, ds.id, v.version)
        store = self.ctx.store(ds)

        def write(entries: Iterator[FileEntry]) -> str:
            blob = _gzip_alongside(manifest.text_chunks(entries))
            store.put_bytes(key, blob)
            return manifest.digest(blob)

        return self.ctx.catalog.commit_version(ds.id, v.version, write, lineage)

    def lineage(self, ref: str) -> LineageGraph:
        """How the version was made, what it was made from (up) and what from it (down)."""
        ds, v = self.ctx.version(ref)
        return self.ctx.catalog.lineage_graph(self.ctx.team.id, ds.id, v.version)

    def delete(self, ref: str) -> Version:
        ds, v = self.ctx.version(ref)
        gone = self.ctx.catalog.delete_version(ds.id, v.version)
        self.ctx.store(ds).delete(manifest_key(self.ctx.team.id, ds.id, v.version))
        return gone


class TagService:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def set(self, ref: str, name: str) -> Tag:
        check_tag_name(name)
        ds, v = self.ctx.version(ref)
        return self.ctx.catalog.set_tag(ds.id, name, v.version)

    def list(self, dataset: str) -> list[Tag]:
        return self.ctx.catalog.list_tags(self.ctx.dataset(dataset).id)

    def delete(self, ref: str) -> Tag:
        parsed = parse_ref(ref)
        if not parsed.selector:
            raise InvalidReference(f"The reference {ref!r} is missing the tag", ref=ref)
        ds: Dataset = self.ctx.dataset_of(parsed)
        return self.ctx.catalog.delete_tag(ds.id, parsed.selector)


MAX_RUN = 2**31 - 1  # the catalog's INTEGER
MAX_NAME = 100  # the catalog's NAME columns


def check_lineage(lineage: Lineage) -> Lineage:
    """A lineage fit to record (InvalidInput otherwise), its workflow ID in canonical form.
    Whether its inputs are committed versions of the team is checked by the commit itself."""
    problems = list(_lineage_problems(lineage))
    if problems:
        raise InvalidInput(
            f"Invalid lineage: {'; '.join(problems)}",
            hint="Lineage names a workflow (UUID), a run number, a job, an output, the spec's "
            "SHA-256 and input versions as DATASET_ID:VERSION",
        )
    return replace(lineage, workflow_id=lineage.workflow_id.lower())


def _lineage_problems(lineage: Lineage) -> Iterator[str]:
    if not is_workflow_id(lineage.workflow_id):
        yield f"workflow ID {lineage.workflow_id!r} is not a UUID"
    if not 1 <= lineage.run <= MAX_RUN:
        yield f"run {lineage.run} is not a run number (1, 2, 3, ...)"
    for what, name in (("job", lineage.job), ("output", lineage.output)):
        if problem := _name_problem(name):
            yield f"{what} {name!r}: {problem}"
    if not SHA256.fullmatch(lineage.spec_sha256):
        yield f"spec SHA-256 {lineage.spec_sha256!r} is not 64 lowercase hex digits"
    names = [i.name for i in lineage.inputs]
    for given in lineage.inputs:
        yield from _input_problems(given)
    for twice in sorted({n for n in names if names.count(n) > 1}):
        yield f"input {twice!r} is named twice"
    for key in lineage.strings:
        if problem := _name_problem(key):
            yield f"string {key!r}: {problem}"


def _input_problems(given: LineageInput) -> Iterator[str]:
    if problem := _name_problem(given.name):
        yield f"input {given.name!r}: {problem}"
    if not (is_dataset_id(given.dataset_id) and is_version_id(given.version)):
        yield f"input {given.name!r}: {given.ref!r} is not DATASET_ID:VERSION"


def _name_problem(name: str) -> str | None:
    if not name:
        return "empty"
    if len(name) > MAX_NAME:
        return f"longer than {MAX_NAME} characters"
    if not name.isprintable():
        return "holds control characters"
    return None


def _gzip_alongside(chunks: Iterator[bytes]) -> bytes:
    """The chunks gzip-compressed (as `manifest.encode` does) by a second thread while this
    one makes the next chunk: zlib lets go of the interpreter, so a 1,000,000-file manifest
    costs the encoding or the compression, whichever is longer, instead of both."""
    out = io.BytesIO()
    todo: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
    failed: list[BaseException] = []

    def compress() -> None:
        ended = False
        try:
            with manifest.gzip_writer(out) as gz:
                while (chunk := todo.get()) is not None:
                    gz.write(chunk)
                ended = True
        except BaseException as exc:  # handed to the caller below
            failed.append(exc)
            while not ended and todo.get() is not None:  # drain: the producer must not block
                pass

    worker = threading.Thread(target=compress, name="cargohold-gzip")
    worker.start()
    try:
        for chunk in chunks:
            todo.put(chunk)
    finally:
        todo.put(None)
        worker.join()
    if failed:
        raise failed[0]
    return out.getvalue()
