"""Datasets in the catalog."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from cargohold.catalog import rows
from cargohold.catalog.catalog import CatalogBase, dataset_of
from cargohold.catalog.schema import datasets, objects, storage_providers, versions
from cargohold.domain.ids import is_dataset_id
from cargohold.domain.models import Dataset, StorageProvider
from cargohold.errors import DatasetNotFound, NameTaken, ProviderInUse


class DatasetCatalog(CatalogBase):
    def add_dataset(
        self, team_id: str, dataset_id: str, name: str, description: str | None, provider_id: str
    ) -> Dataset:
        stamp = rows.now()
        try:
            with self.writing() as conn:
                self._provider(conn, team_id, provider_id)
                conn.execute(
                    insert(datasets).values(
                        id=dataset_id,
                        team_id=team_id,
                        name=name,
                        description=description,
                        storage_provider_id=provider_id,
                        dt_created=stamp,
                        dt_modified=stamp,
                    )
                )
        except SqlIntegrityError:
            raise NameTaken(
                f"A dataset named {name!r} already exists",
                hint="Dataset names are unique in a team; choose another name",
                name=name,
            ) from None
        return self.get_dataset(team_id, dataset_id)

    def get_dataset(self, team_id: str, key: str) -> Dataset:
        """A dataset by ID or by name."""
        with self.reading() as conn:
            return self._dataset(conn, team_id, key)

    def _dataset(self, conn: Connection, team_id: str, key: str) -> Dataset:
        row = dataset_of(conn, team_id, key, by_id=is_dataset_id(key))
        if row is None:
            raise DatasetNotFound(f"Dataset not found: {key}", dataset=key)
        return rows.dataset(row, self._provider(conn, team_id, row.storage_provider_id))

    def list_datasets(
        self, team_id: str, limit: int | None = None, offset: int = 0
    ) -> list[Dataset]:
        query = (
            select(datasets)
            .where(datasets.c.team_id == team_id)
            .order_by(datasets.c.name)
            .limit(limit)
            .offset(offset)
        )
        with self.reading() as conn:
            providers = {p.id: p for p in self.list_providers(team_id)}
            return [rows.dataset(r, providers[r.storage_provider_id]) for r in conn.execute(query)]

    def usage_by_provider(self, team_id: str) -> dict[str, dict[str, int]]:
        """Per provider of the team: bytes of content stored (each content once), objects,
        datasets and versions."""
        stored = (
            select(objects.c.provider_id, func.sum(objects.c.size), func.count())
            .where(objects.c.team_id == team_id)
            .group_by(objects.c.provider_id)
        )
        counted = (
            select(
                datasets.c.storage_provider_id,
                func.count(func.distinct(datasets.c.id)),
                func.count(versions.c.pk),
            )
            .select_from(datasets.outerjoin(versions, versions.c.dataset_id == datasets.c.id))
            .where(datasets.c.team_id == team_id)
            .group_by(datasets.c.storage_provider_id)
        )
        zero = {"bytes": 0, "objects": 0, "datasets": 0, "versions": 0}
        found: dict[str, dict[str, int]] = {}
        with self.reading() as conn:
            for provider, nbytes, count in conn.execute(stored):
                found.setdefault(provider, dict(zero)).update(bytes=int(nbytes or 0), objects=count)
            for provider, n_datasets, n_versions in conn.execute(counted):
                found.setdefault(provider, dict(zero)).update(
                    datasets=n_datasets, versions=n_versions
                )
        return found

    def update_dataset(self, team_id: str, key: str, **changes: Any) -> Dataset:
        values = {k: v for k, v in changes.items() if v is not None}
        try:
            with self.writing() as conn:
                ds = self._dataset(conn, team_id, key)
                if values:
                    conn.execute(
                        update(datasets)
                        .where(datasets.c.id == ds.id)
                        .values(dt_modified=rows.now(), **values)
                    )
        except SqlIntegrityError:
            name = values.get("name")
            raise NameTaken(f"A dataset named {name!r} already exists", name=name) from None
        return self.get_dataset(team_id, ds.id)

    def delete_dataset(self, team_id: str, key: str) -> Dataset:
        with self.writing() as conn:
            ds = self._dataset(conn, team_id, key)
            conn.execute(delete(datasets).where(datasets.c.id == ds.id))
        return ds

    def update_provider(
        self,
        team_id: str,
        provider_id: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> StorageProvider:
        """Rename a provider and/or replace its config (None leaves a field as it is)."""
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = name
        if config is not None:
            values["config"] = config
        try:
            with self.writing() as conn:
                self._provider(conn, team_id, provider_id)
                if values:
                    conn.execute(
                        update(storage_providers)
                        .where(storage_providers.c.id == provider_id)
                        .values(dt_modified=rows.now(), **values)
                    )
        except SqlIntegrityError:
            raise NameTaken(
                f"A storage provider named {name!r} already exists",
                hint="Storage provider names are unique in a team; choose another name",
                name=name,
            ) from None
        return self.get_provider(team_id, provider_id)

    def delete_provider(self, team_id: str, provider_id: str) -> None:
        with self.writing() as conn:
            self._provider(conn, team_id, provider_id)
            used = conn.execute(
                select(func.count()).where(datasets.c.storage_provider_id == provider_id)
            ).scalar_one()
            if used:
                raise ProviderInUse(
                    f"Storage provider {provider_id} is used by {used} dataset(s)",
                    storageProviderId=provider_id,
                )
            conn.execute(delete(storage_providers).where(storage_providers.c.id == provider_id))
