"""Use cases for datasets."""

from __future__ import annotations

from cargohold.domain.ids import new_dataset_id
from cargohold.domain.layout import dataset_prefix
from cargohold.domain.models import Dataset
from cargohold.domain.refs import check_dataset_name
from cargohold.errors import InvalidReference
from cargohold.services.context import Context
from cargohold.services.providers import StorageProviderService

MAX_ROWS = 2**63 - 1


class DatasetService:
    def __init__(self, ctx: Context, providers: StorageProviderService) -> None:
        self.ctx = ctx
        self.providers = providers

    def create(
        self, name: str, storage_provider_id: str | None = None, description: str | None = None
    ) -> Dataset:
        check_dataset_name(name)
        provider = (
            self.providers.get(storage_provider_id)
            if storage_provider_id
            else self.providers.managed()
        )
        return self.ctx.catalog.add_dataset(
            self.ctx.team.id, new_dataset_id(), name, description or None, provider.id
        )

    def list(self, limit: int | None = None, offset: int = 0) -> list[Dataset]:
        """A page of the team's datasets by name. A limit or offset beyond what SQL's BIGINT
        holds (the drivers refuse it) is taken as the largest one: the same rows."""
        limit = None if limit is None else min(limit, MAX_ROWS)
        return self.ctx.catalog.list_datasets(self.ctx.team.id, limit, min(offset, MAX_ROWS))

    def get(self, key: str) -> Dataset:
        return self.ctx.dataset(_bare(key))

    def update(self, key: str, name: str | None = None, description: str | None = None) -> Dataset:
        ds = self.get(key)
        if name is not None:
            check_dataset_name(name)
        return self.ctx.catalog.update_dataset(
            self.ctx.team.id, ds.id, name=name, description=description
        )

    def delete(self, key: str) -> Dataset:
        """Forget the dataset, then remove its manifests (content objects stay for other
        versions and datasets that share them). The store is opened first, so a provider that
        cannot be reached fails the command before anything is forgotten."""
        ds = self.get(key)
        store = self.ctx.store(ds)
        gone = self.ctx.catalog.delete_dataset(self.ctx.team.id, ds.id)
        for stale in list(store.list(dataset_prefix(self.ctx.team.id, ds.id))):
            store.delete(stale)
        return gone


def _bare(key: str) -> str:
    if ":" in key:
        raise InvalidReference(
            f"Expected a dataset ID or name without a version or tag: {key!r}", ref=key
        )
    return key
