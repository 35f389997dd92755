"""The native API under /api/v1: one route per service call, answering the shapes `--json`
prints (domain/wire.py). Routes parse, call one service method and render; nothing else.

References (`DATASET`, `DATASET:VERSION`, `NS/DATASET:TAG`) travel in the path, URL-encoded
by the client; `{ref:path}` takes them whole, namespaces included.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from cargohold.api.deps import TeamServices
from cargohold.domain import wire

router = APIRouter(prefix="/api/v1")

Json = dict[str, Any]


class Body(BaseModel):
    """A request body of cargohold's own API: an unknown field is a 400, not ignored."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class S3Fields(Body):
    name: str | None = None
    bucket: str | None = None
    access_key: str | None = Field(None, alias="accessKey")
    secret_key: str | None = Field(None, alias="secretAccessKey")
    endpoint: str | None = None
    region: str | None = None
    signature_version: str | None = Field(None, alias="signatureVersion")


class NewS3Provider(S3Fields):
    name: str
    bucket: str
    access_key: str = Field(alias="accessKey")
    secret_key: str = Field(alias="secretAccessKey")


class Origins(Body):
    origins: list[str]


class NewDataset(Body):
    name: str
    storage_provider_id: str | None = Field(None, alias="storageProviderId")
    description: str | None = None


class DatasetChange(Body):
    name: str | None = None
    description: str | None = None


class NewVersion(Body):
    message: str | None = None
    parent: str | None = None


class LineageInputBody(Body):
    name: str
    id: str = Field(description="DATASET_ID:VERSION")


class LineageBody(Body):
    workflow_id: str = Field(alias="workflowId")
    run: int
    job: str
    output: str
    spec_sha256: str = Field(alias="specSha256")
    inputs: list[LineageInputBody] = Field(default_factory=list)
    strings: dict[str, str] = Field(default_factory=dict)


class CommitBody(Body):
    lineage: LineageBody | None = None


class VersionChange(Body):
    message: str | None = None


class TagName(Body):
    name: str


class Paths(Body):
    paths: list[str] = Field(default_factory=lambda: ["/"])


# -- the team -------------------------------------------------------------------------------


@router.get("/team", tags=["team"])
def get_team(s: TeamServices) -> Json:
    return wire.team(s.team)


@router.get("/usage", tags=["team"])
def get_usage(s: TeamServices) -> Json:
    """Bytes, objects and versions the team stores, per provider, and the managed quota."""
    return s.storage_providers.usage()


# -- storage providers ---------------------------------------------------------------------


@router.get("/storageProviders", tags=["storage providers"])
def list_providers(s: TeamServices) -> list[Json]:
    return [wire.storage_provider(p) for p in s.storage_providers.list()]


@router.get("/storageProviders/managed", tags=["storage providers"])
def managed_provider(s: TeamServices) -> Json:
    return wire.storage_provider(s.storage_providers.managed())


@router.get("/storageProviders/{provider_id}", tags=["storage providers"])
def get_provider(provider_id: str, s: TeamServices) -> Json:
    return wire.storage_provider(s.storage_providers.get(provider_id))


@router.post("/storageProviders/s3", status_code=201, tags=["storage providers"])
def create_s3(body: NewS3Provider, s: TeamServices) -> Json:
    return wire.storage_provider(s.storage_providers.create_s3(**body.model_dump()))


@router.patch("/storageProviders/{provider_id}/s3", tags=["storage providers"])
def update_s3(provider_id: str, body: S3Fields, s: TeamServices) -> Json:
    changes = body.model_dump(exclude_unset=True)
    return wire.storage_provider(s.storage_providers.update_s3(provider_id, **changes))


@router.delete("/storageProviders/{provider_id}", tags=["storage providers"])
def delete_provider(provider_id: str, s: TeamServices) -> Json:
    return wire.storage_provider(s.storage_providers.delete(provider_id))


@router.post("/storageProviders/{provider_id}/cors", tags=["storage providers"])
def set_cors(provider_id: str, body: Origins, s: TeamServices) -> Json:
    return s.storage_providers.cors(provider_id, body.origins)


# -- datasets -----------------------------------------------------------------------------


@router.get("/datasets", tags=["datasets"])
def list_datasets(
    s: TeamServices,
    limit: int | None = Query(None, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
) -> list[Json]:
    return [wire.dataset(d) for d in s.datasets.list(limit, offset)]


@router.post("/datasets", status_code=201, tags=["datasets"])
def create_dataset(body: NewDataset, s: TeamServices) -> Json:
    ds = s.datasets.create(body.name, body.storage_provider_id, body.description)
    return wire.dataset(ds)


@router.get("/datasets/{dataset:path}/versions", tags=["versions"])
def list_versions(
    dataset: str,
    s: TeamServices,
    committed: bool | None = Query(True, description="true, false, or absent for all"),
    all_versions: bool = Query(False, alias="all"),
) -> list[Json]:
    found = s.versions.list(dataset, None if all_versions else committed)
    return [wire.version(v) for v in found]


@router.post("/datasets/{dataset:path}/versions", status_code=201, tags=["versions"])
def create_version(dataset: str, body: NewVersion, s: TeamServices) -> Json:
    return wire.version(s.versions.create(dataset, body.message, parent=body.parent))


@router.get("/datasets/{dataset:path}/tags", tags=["tags"])
def list_tags(dataset: str, s: TeamServices) -> list[Json]:
    return [wire.tag(t) for t in s.tags.list(dataset)]


@router.get("/datasets/{dataset:path}", tags=["datasets"])
def get_dataset(dataset: str, s: TeamServices) -> Json:
    return wire.dataset(s.datasets.get(dataset))


@router.patch("/datasets/{dataset:path}", tags=["datasets"])
def update_dataset(dataset: str, body: DatasetChange, s: TeamServices) -> Json:
    return wire.dataset(s.datasets.update(dataset, body.name, body.description))


@router.delete("/datasets/{dataset:path}", tags=["datasets"])
def delete_dataset(dataset: str, s: TeamServices) -> Json:
    return wire.dataset(s.datasets.delete(dataset))


# -- versions, tags and files, by reference -------------------------------------------------


@router.post("/versions/{ref:path}/commit", tags=["versions"])
def commit_version(ref: str, s: TeamServices, body: CommitBody | None = None) -> Json:
    """Commit; a workflow's output sends how it was made (`lineage`), recorded with it."""
    given = body.lineage if body else None
    lineage = wire.parse_lineage(given.model_dump(by_alias=True)) if given else None
    return wire.version(s.versions.commit(ref, lineage))


@router.get("/versions/{ref:path}/lineage", tags=["versions"])
def version_lineage(ref: str, s: TeamServices) -> Json:
    return wire.lineage_graph(s.versions.lineage(ref))


@router.post("/versions/{ref:path}/tags", tags=["tags"])
def set_tag(ref: str, body: TagName, s: TeamServices) -> Json:
    return wire.tag(s.tags.set(ref, body.name))


@router.get("/versions/{ref:path}/files", tags=["files"])
def list_files(
    ref: str,
    s: TeamServices,
    path: str | None = None,
    recursive: bool = False,
    limit: int | None = Query(None, ge=1, le=100_000),
    after: str | None = None,
) -> list[Json]:
    rows = s.files.list(ref, path, recursive, limit, after)
    return [wire.listed_entry(e) for e in rows]


@router.post("/versions/{ref:path}/files/delete", tags=["files"])
def delete_files(ref: str, body: Paths, s: TeamServices) -> Json:
    return {"removed": s.files.delete(ref, body.paths)}


@router.get("/versions/{ref:path}", tags=["versions"])
def get_version(ref: str, s: TeamServices) -> Json:
    return wire.version(s.versions.get(ref))


@router.patch("/versions/{ref:path}", tags=["versions"])
def update_version(ref: str, body: VersionChange, s: TeamServices) -> Json:
    return wire.version(s.versions.update(ref, body.message))


@router.delete("/versions/{ref:path}", tags=["versions"])
def delete_version(ref: str, s: TeamServices) -> Json:
    return wire.version(s.versions.delete(ref))


@router.delete("/tags/{ref:path}", tags=["tags"])
def delete_tag(ref: str, s: TeamServices) -> Json:
    return wire.tag(s.tags.delete(ref))
