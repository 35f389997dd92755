"""The service protocol (services/protocol.py) over the native HTTP API (api/native.py)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import httpx

from cargohold.client import decode
from cargohold.client.http import HttpClient, ref_path
from cargohold.domain import wire
from cargohold.domain.models import Dataset, ListedEntry, StorageProvider, Tag, Team, Version
from cargohold.domain.workflows import Lineage, LineageGraph
from cargohold.services.root import Services
from cargohold.settings import Settings


class HttpProviders:
    def __init__(self, api: HttpClient, team: Team) -> None:
        self.api, self.team = api, team

    def _one(self, j: Any) -> StorageProvider:
        return decode.storage_provider(j, self.team.id)

    def list(self) -> builtins.list[StorageProvider]:
        return [self._one(j) for j in self.api.call("GET", "/api/v1/storageProviders")]

    def get(self, provider_id: str) -> StorageProvider:
        return self._one(self.api.call("GET", f"/api/v1/storageProviders/{ref_path(provider_id)}"))

    def managed(self) -> StorageProvider:
        return self._one(self.api.call("GET", "/api/v1/storageProviders/managed"))

    def create_s3(
        self,
        name: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        endpoint: str | None = None,
        region: str | None = None,
        signature_version: str | None = None,
    ) -> StorageProvider:
        body = _s3_body(name, bucket, access_key, secret_key, endpoint, region, signature_version)
        return self._one(self.api.call("POST", "/api/v1/storageProviders/s3", json=body))

    def update_s3(
        self,
        provider_id: str,
        *,
        name: str | None = None,
        bucket: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        signature_version: str | None = None,
    ) -> StorageProvider:
        body = _s3_body(name, bucket, access_key, secret_key, endpoint, region, signature_version)
        path = f"/api/v1/storageProviders/{ref_path(provider_id)}/s3"
        return self._one(self.api.call("PATCH", path, json=body))

    def delete(self, provider_id: str) -> StorageProvider:
        path = f"/api/v1/storageProviders/{ref_path(provider_id)}"
        return self._one(self.api.call("DELETE", path))

    def cors(self, provider_id: str, origins: Sequence[str]) -> dict[str, Any]:
        path = f"/api/v1/storageProviders/{ref_path(provider_id)}/cors"
        rule: dict[str, Any] = self.api.call("POST", path, json={"origins": list(origins)})
        return rule

    def usage(self) -> dict[str, Any]:
        found: dict[str, Any] = self.api.call("GET", "/api/v1/usage")
        return found


def _s3_body(
    name: str | None,
    bucket: str | None,
    access_key: str | None,
    secret_key: str | None,
    endpoint: str | None,
    region: str | None,
    signature_version: str | None,
) -> dict[str, str]:
    """Only the fields given: on update, absent means unchanged and "" clears."""
    fields = {
        "name": name,
        "bucket": bucket,
        "accessKey": access_key,
        "secretAccessKey": secret_key,
        "endpoint": endpoint,
        "region": region,
        "signatureVersion": signature_version,
    }
    return {k: v for k, v in fields.items() if v is not None}


class HttpDatasets:
    def __init__(self, api: HttpClient, team: Team) -> None:
        self.api, self.team = api, team

    def _one(self, j: Any) -> Dataset:
        return decode.dataset(j, self.team.id)

    def create(
        self, name: str, storage_provider_id: str | None = None, description: str | None = None
    ) -> Dataset:
        body = {"name": name, "storageProviderId": storage_provider_id, "description": description}
        return self._one(self.api.call("POST", "/api/v1/datasets", json=body))

    def list(self, limit: int | None = None, offset: int = 0) -> builtins.list[Dataset]:
        found = self.api.call("GET", "/api/v1/datasets", params={"limit": limit, "offset": offset})
        return [self._one(j) for j in found]

    def get(self, key: str) -> Dataset:
        return self._one(self.api.call("GET", f"/api/v1/datasets/{ref_path(key)}"))

    def update(self, key: str, name: str | None = None, description: str | None = None) -> Dataset:
        body = {
            k: v for k, v in {"name": name, "description": description}.items() if v is not None
        }
        return self._one(self.api.call("PATCH", f"/api/v1/datasets/{ref_path(key)}", json=body))

    def delete(self, key: str) -> Dataset:
        return self._one(self.api.call("DELETE", f"/api/v1/datasets/{ref_path(key)}"))


class HttpVersions:
    def __init__(self, api: HttpClient) -> None:
        self.api = api

    def create(
        self, dataset: str, message: str | None = None, parent: str | None = None
    ) -> Version:
        path = f"/api/v1/datasets/{ref_path(dataset)}/versions"
        body = {"message": message, "parent": parent}
        return decode.version(self.api.call("POST", path, json=body))

    def list(self, dataset: str, committed: bool | None = True) -> builtins.list[Version]:
        params: dict[str, Any] = {"all": True} if committed is None else {"committed": committed}
        path = f"/api/v1/datasets/{ref_path(dataset)}/versions"
        return [decode.version(j) for j in self.api.call("GET", path, params=params)]

    def get(self, ref: str) -> Version:
        return decode.version(self.api.call("GET", f"/api/v1/versions/{ref_path(ref)}"))

    def update(self, ref: str, message: str | None) -> Version:
        path = f"/api/v1/versions/{ref_path(ref)}"
        return decode.version(self.api.call("PATCH", path, json={"message": message}))

    def commit(self, ref: str, lineage: Lineage | None = None) -> Version:
        path = f"/api/v1/versions/{ref_path(ref)}/commit"
        body = {"lineage": wire.lineage(lineage)} if lineage is not None else None
        return decode.version(self.api.call("POST", path, json=body))

    def lineage(self, ref: str) -> LineageGraph:
        path = f"/api/v1/versions/{ref_path(ref)}/lineage"
        return decode.lineage_graph(self.api.call("GET", path))

    def delete(self, ref: str) -> Version:
        return decode.version(self.api.call("DELETE", f"/api/v1/versions/{ref_path(ref)}"))


class HttpTags:
    def __init__(self, api: HttpClient) -> None:
        self.api = api

    def set(self, ref: str, name: str) -> Tag:
        path = f"/api/v1/versions/{ref_path(ref)}/tags"
        return decode.tag(self.api.call("POST", path, json={"name": name}))

    def list(self, dataset: str) -> builtins.list[Tag]:
        path = f"/api/v1/datasets/{ref_path(dataset)}/tags"
        return [decode.tag(j) for j in self.api.call("GET", path)]

    def delete(self, ref: str) -> Tag:
        return decode.tag(self.api.call("DELETE", f"/api/v1/tags/{ref_path(ref)}"))


class HttpFiles:
    def __init__(self, api: HttpClient) -> None:
        self.api = api

    def list(
        self,
        ref: str,
        path: str | None = None,
        recursive: bool = False,
        limit: int | None = None,
        after: str | None = None,
    ) -> builtins.list[ListedEntry]:
        params = {"path": path, "recursive": recursive, "limit": limit, "after": after}
        found = self.api.call("GET", f"/api/v1/versions/{ref_path(ref)}/files", params=params)
        return [decode.listed_entry(j) for j in found]

    def delete(self, ref: str, paths: Sequence[str] = ("/",)) -> int:
        path = f"/api/v1/versions/{ref_path(ref)}/files/delete"
        removed: int = self.api.call("POST", path, json={"paths": list(paths)})["removed"]
        return removed


def connect(settings: Settings, http: httpx.Client | None = None) -> Services:
    """Services acting, through the server `settings.server`, for the team of the API key."""
    from cargohold.client.secrets import HttpSecrets
    from cargohold.client.transfer import HttpObjects
    from cargohold.client.workflows import HttpWorkflows

    assert settings.server, "connect() needs settings.server"
    api = HttpClient(settings.server, settings.api_key, http)
    team = decode.team(api.call("GET", "/api/v1/team"))
    return Services(
        settings=settings,
        team=team,
        storage_providers=HttpProviders(api, team),
        datasets=HttpDatasets(api, team),
        versions=HttpVersions(api),
        tags=HttpTags(api),
        files=HttpFiles(api),
        objects=HttpObjects(api, settings),
        secrets=HttpSecrets(api),
        workflows=HttpWorkflows(api),
        on_close=[api.close],
    )
