"""What every service needs: the catalog, the team it acts for, and the byte stores."""

from __future__ import annotations

from dataclasses import dataclass

from cargohold.blobs import BlobStore, ObjectDB
from cargohold.catalog import Catalog
from cargohold.domain.models import Dataset, Team, Version
from cargohold.domain.refs import PUBLIC_NAMESPACES, Ref, parse_ref
from cargohold.errors import DatasetNotFound
from cargohold.services.stores import StoreRegistry


@dataclass
class Context:
    catalog: Catalog
    team: Team
    stores: StoreRegistry

    def dataset(self, key: str) -> Dataset:
        """A dataset named by ID, name or a reference (its selector ignored)."""
        return self.dataset_of(parse_ref(key))

    def dataset_of(self, ref: Ref) -> Dataset:
        if ref.namespace and ref.namespace not in (self.team.id, self.team.name):
            hint = (
                "Public datasets are not available on this installation yet"
                if ref.namespace in PUBLIC_NAMESPACES
                else "Use your own team's datasets, without a namespace"
            )
            raise DatasetNotFound(f"Dataset not found: {ref}", hint=hint, dataset=str(ref))
        return self.catalog.get_dataset(self.team.id, ref.dataset)

    def version(self, ref_text: str) -> tuple[Dataset, Version]:
        """The dataset and version a reference names (bare DATASET means latest)."""
        ref = parse_ref(ref_text)
        ds = self.dataset_of(ref)
        return ds, self.catalog.resolve(ds.id, ref.selector)

    def store(self, ds: Dataset) -> BlobStore:
        return self.stores.for_provider(ds.storage_provider)

    def odb(self, ds: Dataset) -> ObjectDB:
        return ObjectDB(self.store(ds), self.team.id)
