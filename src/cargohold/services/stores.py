"""Which byte store backs a storage provider."""

from __future__ import annotations

from cargohold.blobs import BlobStore, LocalBlobStore
from cargohold.domain.models import StorageProvider
from cargohold.errors import ConfigurationError
from cargohold.settings import Settings


class StoreRegistry:
    """Opens (once) the byte store of each provider."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._open: dict[str, BlobStore] = {}

    def for_provider(self, provider: StorageProvider) -> BlobStore:
        store = self._open.get(provider.id)
        if store is None:
            store = self._make(provider)
            self._open[provider.id] = store
        return store

    def _make(self, provider: StorageProvider) -> BlobStore:
        if provider.is_managed and provider.type == "local":
            return LocalBlobStore(self.settings.managed_dir)
        raise ConfigurationError(
            f"Storage provider type {provider.type!r} is not supported yet",
            storageProviderId=provider.id,
        )
