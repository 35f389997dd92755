"""The composition root: `build_services(settings)` wires one independent instance."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from cargohold.cache import Cache
from cargohold.cache.hashes import HashCache
from cargohold.catalog import Catalog
from cargohold.domain.ids import new_provider_id, new_team_id
from cargohold.domain.models import MANAGED_PROVIDER_NAME, StorageProvider, Team
from cargohold.errors import NameTaken
from cargohold.services.context import Context
from cargohold.services.datasets import DatasetService
from cargohold.services.files import FileService, ObjectService
from cargohold.services.providers import StorageProviderService
from cargohold.services.stores import StoreRegistry
from cargohold.services.versions import TagService, VersionService
from cargohold.settings import Settings

DEFAULT_TEAM_NAME = "default"


@dataclass
class Services:
    settings: Settings
    team: Team
    storage_providers: StorageProviderService
    datasets: DatasetService
    versions: VersionService
    tags: TagService
    files: FileService
    objects: ObjectService
    cache: Cache
    hashes: HashCache
    catalog: Catalog

    def close(self) -> None:
        self.cache.close()
        self.catalog.close()


def build_services(settings: Settings) -> Services:
    settings.home.mkdir(parents=True, exist_ok=True)
    catalog = Catalog(settings.database_url)
    team = ensure_default_team(catalog)
    ctx = Context(catalog=catalog, team=team, stores=StoreRegistry(settings))
    providers = StorageProviderService(ctx)
    return Services(
        settings=settings,
        team=team,
        storage_providers=providers,
        datasets=DatasetService(ctx, providers),
        versions=VersionService(ctx),
        tags=TagService(ctx),
        files=FileService(ctx),
        objects=ObjectService(ctx),
        cache=Cache(settings.cache_dir, settings.cache_size),
        hashes=HashCache(settings.home / "hashes.sqlite"),
        catalog=catalog,
    )


def ensure_default_team(catalog: Catalog) -> Team:
    """The team of an installation without a server, with its managed provider (idempotent,
    safe when two first runs race)."""
    team = catalog.default_team()
    if team is None:
        try:
            team = catalog.add_team(new_team_id(), DEFAULT_TEAM_NAME, is_default=True)
        except NameTaken:
            team = catalog.default_team()
        assert team is not None
    if catalog.managed_provider(team.id) is None:
        managed = StorageProvider(
            id=new_provider_id(),
            team_id=team.id,
            name=MANAGED_PROVIDER_NAME,
            type="local",
            is_managed=True,
        )
        with contextlib.suppress(NameTaken):  # another first run made it
            catalog.add_provider(managed)
    return team
