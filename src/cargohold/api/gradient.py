"""Gradient's REST API (GRADIENT.md §3.1-3.3) at the root, so that a client written for
`https://api.paperspace.io` works against a cargohold server by changing the host.

Paths, methods, bodies and field names are Gradient's: updates are `POST` to the item's URL,
deletes answer 204, lists take LoopBack's `filter[...]` query parameters. Every route acts
through the services of the API key's team, so another team's dataset, version, tag or
provider is simply not found (404). Errors keep cargohold's one JSON shape; Gradient's client
reads the `message` inside `error` (its MessageExtractor descends into `error`).

Routes parse, call the team's services, and render; LoopBack's filters are in `loopback.py`,
the S3 side of the presign endpoint in `gradient_s3.py`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from cargohold.api import gradient_s3, loopback
from cargohold.api.deps import TeamServices
from cargohold.domain import wire
from cargohold.domain.models import Dataset, StorageProvider
from cargohold.errors import InvalidInput, InvalidReference, TagNotFound
from cargohold.services.files import check_writable

router = APIRouter(tags=["gradient"])

Json = dict[str, Any]

GRADIENT_PROVIDER_TYPE = "s3"
"""What every provider is to a Gradient client: files move through S3 calls on these routes
whatever stores them (Gradient's CLI refuses datasets of any other type)."""
MAX_CALLS = 1000
"""Calls one presign request may carry."""
_DATES = ("dtCreated", "dtModified")


# -- bodies ---------------------------------------------------------------------------------


class Body(BaseModel):
    """Fields Gradient's SDK sends; unknown ones are ignored, as Gradient's API did."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class NewDataset(Body):
    name: str
    storage_provider_id: str | None = Field(None, alias="storageProviderId")
    description: str | None = None


class DatasetChange(Body):
    name: str | None = None
    description: str | None = None


class NewVersion(Body):
    message: str | None = None


class VersionChange(Body):
    message: str | None = None
    is_committed: bool | None = Field(None, alias="isCommitted")


class TagTarget(Body):
    version: str


class S3Config(BaseModel):
    """A provider's `config`; a misspelt key is an error, not a silently ignored secret."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    bucket: str | None = None
    access_key: str | None = Field(None, alias="accessKey")
    secret_key: str | None = Field(None, alias="secretAccessKey")
    endpoint: str | None = None
    region: str | None = None
    signature_version: str | None = Field(None, alias="signatureVersion")


class NewProvider(Body):
    name: str
    type: str = GRADIENT_PROVIDER_TYPE
    config: S3Config


class ProviderChange(Body):
    name: str | None = None
    config: S3Config | None = None


class S3Call(Body):
    method: str
    params: dict[str, Any] = Field(default_factory=dict)


class PresignBody(Body):
    """`datasetId` and `version` (sent by Gradient's multipart path) are ignored: the URL
    names the version."""

    calls: list[S3Call]


# -- rendering --------------------------------------------------------------------------------


def _dataset(d: Dataset) -> Json:
    out = wire.dataset(d)
    out["storageProvider"] = {**out["storageProvider"], "type": GRADIENT_PROVIDER_TYPE}
    return out


def _provider(p: StorageProvider) -> Json:
    return {**wire.storage_provider(p), "type": GRADIENT_PROVIDER_TYPE}


def _bare(dataset: str) -> str:
    """A dataset ID (or name) from the path, without a version or tag."""
    if ":" in dataset:
        raise InvalidReference(
            f"Expected a dataset ID without a version or tag: {dataset!r}", ref=dataset
        )
    return dataset


def _ref(dataset: str, version: str) -> str:
    return f"{_bare(dataset)}:{version}"


def _no_content() -> Response:
    return Response(status_code=204)


# -- the team ---------------------------------------------------------------------------------


@router.get("/teams/namespace")
def team_namespace(s: TeamServices) -> str:
    """The namespace of the team's references (`NAMESPACE/DATASET:VERSION`): its name."""
    return s.team.name


# -- datasets ---------------------------------------------------------------------------------


@router.get("/datasets")
def list_datasets(request: Request, s: TeamServices) -> list[Json]:
    rows = [_dataset(d) for d in s.datasets.list()]
    return loopback.page(request, rows, ("id", "name", "description"), ("name", "id", *_DATES))


@router.post("/datasets")
def create_dataset(body: NewDataset, s: TeamServices) -> Json:
    return _dataset(s.datasets.create(body.name, body.storage_provider_id, body.description))


@router.get("/datasets/ref/{ref:path}")
def resolve_ref(ref: str, s: TeamServices) -> Json:
    """The dataset a reference names, with the version it resolves to nested inside."""
    version = s.versions.get(ref)
    return {**_dataset(s.datasets.get(version.dataset_id)), "version": wire.version(version)}


@router.get("/datasets/{dataset}")
def get_dataset(dataset: str, s: TeamServices) -> Json:
    return _dataset(s.datasets.get(_bare(dataset)))


@router.post("/datasets/{dataset}")
def update_dataset(dataset: str, body: DatasetChange, s: TeamServices) -> Json:
    return _dataset(s.datasets.update(_bare(dataset), body.name, body.description))


@router.delete("/datasets/{dataset}", status_code=204, response_class=Response)
def delete_dataset(dataset: str, s: TeamServices) -> Response:
    s.datasets.delete(_bare(dataset))
    return _no_content()


# -- versions ---------------------------------------------------------------------------------


@router.get("/datasets/{dataset}/versions")
def list_versions(dataset: str, request: Request, s: TeamServices) -> list[Json]:
    """Every version, newest first, unless `filter[where][isCommitted]` says which."""
    rows = [wire.version(v) for v in s.versions.list(_bare(dataset), None)]
    return loopback.page(
        request,
        rows,
        ("isCommitted", "version", "message"),
        ("version", "message", "isCommitted", *_DATES),
    )


@router.post("/datasets/{dataset}/versions")
def create_version(dataset: str, body: NewVersion, s: TeamServices) -> Json:
    return wire.version(s.versions.create(_bare(dataset), body.message))


@router.get("/datasets/{dataset}/versions/{version}")
def get_version(dataset: str, version: str, s: TeamServices) -> Json:
    return wire.version(s.versions.get(_ref(dataset, version)))


@router.post("/datasets/{dataset}/versions/{version}")
def update_version(dataset: str, version: str, body: VersionChange, s: TeamServices) -> Json:
    """`{"isCommitted": true}` commits (an error if it already is), `{"message": ...}`
    changes the message; there is no way back from committed."""
    ref = _ref(dataset, version)
    if body.is_committed:
        found = s.versions.commit(ref)  # first: a refused commit changes nothing
    else:
        found = s.versions.get(ref)
        if body.is_committed is False:
            check_writable(found)  # "uncommit" is refused, not ignored
    if body.message is not None:
        found = s.versions.update(ref, body.message)
    return wire.version(found)


@router.delete("/datasets/{dataset}/versions/{version}", status_code=204, response_class=Response)
def delete_version(dataset: str, version: str, s: TeamServices) -> Response:
    s.versions.delete(_ref(dataset, version))
    return _no_content()


@router.post("/datasets/{dataset}/versions/{version}/s3/preSignedUrls")
def presigned_urls(
    dataset: str, version: str, body: PresignBody, request: Request, s: TeamServices
) -> list[Json]:
    """`[{url, expiresIn}]` in the order of the calls; multipart create and complete run
    here and answer their result in `url` (GRADIENT.md §3.3)."""
    if len(body.calls) > MAX_CALLS:
        raise InvalidInput(f"At most {MAX_CALLS} calls per request", calls=len(body.calls))
    calls = [(c.method, c.params) for c in body.calls]
    return gradient_s3.presign(request, s, _ref(dataset, version), calls)


# -- tags -------------------------------------------------------------------------------------


@router.get("/datasets/{dataset}/tags")
def list_tags(dataset: str, request: Request, s: TeamServices) -> list[Json]:
    rows = [wire.tag(t) for t in s.tags.list(_bare(dataset))]
    return loopback.page(request, rows, ("name",), ("name", *_DATES))


@router.get("/datasets/{dataset}/tags/{name}")
def get_tag(dataset: str, name: str, s: TeamServices) -> Json:
    for tag in s.tags.list(_bare(dataset)):
        if tag.name == name:
            return wire.tag(tag)
    raise TagNotFound(f"Tag not found: {dataset}:{name}", dataset=dataset, tag=name)


@router.put("/datasets/{dataset}/tags/{name}")
def set_tag(dataset: str, name: str, body: TagTarget, s: TeamServices) -> Json:
    return wire.tag(s.tags.set(_ref(dataset, body.version), name))


@router.delete("/datasets/{dataset}/tags/{name}", status_code=204, response_class=Response)
def delete_tag(dataset: str, name: str, s: TeamServices) -> Response:
    s.tags.delete(_ref(dataset, name))
    return _no_content()


# -- storage providers ------------------------------------------------------------------------


@router.get("/storageProviders")
def list_providers(request: Request, s: TeamServices) -> list[Json]:
    rows = [_provider(p) for p in s.storage_providers.list()]
    return loopback.page(request, rows, ("id", "name", "type"), ("name", "id", *_DATES))


@router.get("/storageProviders/{provider_id}")
def get_provider(provider_id: str, s: TeamServices) -> Json:
    return _provider(s.storage_providers.get(provider_id))


@router.post("/storageProviders")
def create_provider(body: NewProvider, s: TeamServices) -> Json:
    if body.type != GRADIENT_PROVIDER_TYPE:
        raise InvalidInput(
            f"Unsupported storage provider type: {body.type!r}",
            hint="The only type is s3 (any S3-compatible store)",
            type=body.type,
        )
    c = body.config
    if not (c.bucket and c.access_key and c.secret_key):
        raise InvalidInput(
            "An s3 provider needs config.bucket, config.accessKey and config.secretAccessKey"
        )
    created = s.storage_providers.create_s3(
        body.name,
        c.bucket,
        c.access_key,
        c.secret_key,
        endpoint=c.endpoint,
        region=c.region,
        signature_version=c.signature_version,
    )
    return _provider(created)


@router.post("/storageProviders/{provider_id}")
def update_provider(provider_id: str, body: ProviderChange, s: TeamServices) -> Json:
    changes = body.config.model_dump(exclude_unset=True) if body.config else {}
    return _provider(s.storage_providers.update_s3(provider_id, name=body.name, **changes))


@router.delete("/storageProviders/{provider_id}", status_code=204, response_class=Response)
def delete_provider(provider_id: str, s: TeamServices) -> Response:
    s.storage_providers.delete(provider_id)
    return _no_content()
