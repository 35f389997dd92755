"""Which byte store backs a storage provider."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from cargohold.blobs import BlobStore, LocalBlobStore
from cargohold.domain.models import StorageProvider
from cargohold.errors import ConfigurationError
from cargohold.services.crypto import SecretBox
from cargohold.settings import Settings

PARTS_IN_FLIGHT = 4
"""Parts a store sends at once: enough to fill a link, and memory stays near 4 x part size."""


class StoreRegistry:
    """Opens (once) the byte store of each provider; the only place secrets are decrypted."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.secrets = SecretBox(settings.secret_key, settings.home)
        self._open: dict[str, tuple[object, BlobStore]] = {}
        self._lock = threading.Lock()

    def for_provider(self, provider: StorageProvider) -> BlobStore:
        """The provider's store, opened once per configuration: a provider another server
        process updated (newer `dt_modified`) gets a new store here too."""
        stamp = provider.dt_modified
        with self._lock:
            held = self._open.get(provider.id)
            if held is not None and held[0] == stamp:
                return held[1]
            if held is not None:
                close_store(held[1])
            store = self._make(provider)
            self._open[provider.id] = (stamp, store)
            return store

    def open_ahead(self, provider: StorageProvider) -> None:
        """Open the provider's store in the background: an S3 client takes 0.3 s to build
        (boto3's import and service model), time a caller can spend walking and hashing
        its files meanwhile. A failure is left for the real use to report."""

        def run() -> None:
            with contextlib.suppress(Exception):  # the call that needs the store reports it
                self.for_provider(provider)

        threading.Thread(target=run, name="cargohold-open-store", daemon=True).start()

    def forget(self, provider_id: str) -> None:
        """Drop an open store (its provider changed or went away)."""
        with self._lock:
            held = self._open.pop(provider_id, None)
        if held is not None:
            close_store(held[1])

    def close(self) -> None:
        with self._lock:
            held, self._open = list(self._open.values()), {}
        for _, store in held:
            close_store(store)

    def open_s3(self, config: dict[str, Any], **options: Any) -> BlobStore:
        """A store for a Gradient-shaped S3 config whose secret is in clear; `options` go to
        the S3 store (timeouts, attempts)."""
        from cargohold.blobs.s3 import S3BlobStore

        settings = {
            "part_size": self.settings.part_size,
            "max_concurrency": min(self.settings.jobs, PARTS_IN_FLIGHT),
        }
        store: BlobStore = S3BlobStore.from_config(config, **{**settings, **options})
        return store

    def _make(self, provider: StorageProvider) -> BlobStore:
        if provider.is_managed:
            return self._managed()
        if provider.type == "s3":
            return self.open_s3(self.secrets.unseal(provider))
        raise ConfigurationError(
            f"Storage provider type {provider.type!r} is not supported",
            storageProviderId=provider.id,
        )

    def _managed(self) -> BlobStore:
        """The operator's bucket (CARGOHOLD_MANAGED_S3_BUCKET and its siblings), else the
        managed directory."""
        s3 = self.settings.managed_s3
        if not s3.get("bucket"):
            return LocalBlobStore(self.settings.managed_dir)
        config = {
            "bucket": s3["bucket"],
            "accessKey": s3.get("access_key", ""),
            "secretAccessKey": s3.get("secret_key", ""),
            "endpoint": s3.get("endpoint", ""),
            "region": s3.get("region", ""),
        }
        return self.open_s3({k: v for k, v in config.items() if v})


def close_store(store: object) -> None:
    """Release what a store holds (an S3 store's thread pool); stores without it are fine."""
    close = getattr(store, "close", None)
    if callable(close):
        close()
