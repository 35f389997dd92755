"""The composition root.

`Platform` is what one process shares between teams (settings, catalog, byte stores);
`Platform.services(team)` builds the use cases acting for one team, cheaply enough to do once
per HTTP request. `build_services(settings)` is the local, single-team installation.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

from cargohold.cache import Cache
from cargohold.cache.hashes import HashCache
from cargohold.catalog import Catalog
from cargohold.domain.ids import new_provider_id, new_team_id
from cargohold.domain.models import MANAGED_PROVIDER_NAME, StorageProvider, Team
from cargohold.errors import NameTaken
from cargohold.services.context import Context
from cargohold.services.datasets import DatasetService
from cargohold.services.files import FileService, ObjectService
from cargohold.services.protocol import (
    DatasetsAPI,
    FilesAPI,
    ObjectsAPI,
    ProvidersAPI,
    SecretsAPI,
    TagsAPI,
    VersionsAPI,
    WorkflowsAPI,
)
from cargohold.services.providers import StorageProviderService
from cargohold.services.secrets import SecretService
from cargohold.services.stores import StoreRegistry
from cargohold.services.versions import TagService, VersionService
from cargohold.services.workflow_records import WorkflowService
from cargohold.settings import Settings

DEFAULT_TEAM_NAME = "default"


@dataclass
class Services:
    """The use cases for one team. In-process they are the classes of this package; against
    a server (`client/`) the same protocols are implemented over HTTP. The cache and the hash
    cache are always local (the client's machine), opened on first use."""

    settings: Settings
    team: Team
    storage_providers: ProvidersAPI
    datasets: DatasetsAPI
    versions: VersionsAPI
    tags: TagsAPI
    files: FilesAPI
    objects: ObjectsAPI
    secrets: SecretsAPI
    workflows: WorkflowsAPI
    on_close: list[Callable[[], None]] = field(default_factory=list)

    @functools.cached_property
    def cache(self) -> Cache:
        cache = Cache(self.settings.cache_dir, self.settings.cache_size)
        self.on_close.append(cache.close)
        return cache

    @functools.cached_property
    def hashes(self) -> HashCache:
        return HashCache(self.settings.home / "hashes.sqlite")

    def close(self) -> None:
        while self.on_close:
            self.on_close.pop()()


class Platform:
    """Settings, catalog and byte stores of one process, shared by every team it serves."""

    def __init__(self, settings: Settings, stores: StoreRegistry | None = None) -> None:
        settings.home.mkdir(parents=True, exist_ok=True)
        self.settings = settings
        self.catalog = Catalog(settings.database_url)
        self.stores = stores or StoreRegistry(settings)

    def services(self, team: Team) -> Services:
        ctx = Context(catalog=self.catalog, team=team, stores=self.stores)
        providers = StorageProviderService(ctx)
        return Services(
            settings=self.settings,
            team=team,
            storage_providers=providers,
            datasets=DatasetService(ctx, providers),
            versions=VersionService(ctx),
            tags=TagService(ctx),
            files=FileService(ctx),
            objects=ObjectService(ctx),
            secrets=SecretService(ctx),
            workflows=WorkflowService(ctx),
        )

    def close(self) -> None:
        self.stores.close()
        self.catalog.close()


def build_services(settings: Settings) -> Services:
    """The local installation: the default team, its catalog and stores in this process."""
    platform = Platform(settings)
    services = platform.services(ensure_default_team(platform.catalog))
    services.on_close.append(platform.close)
    return services


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
    ensure_managed_provider(catalog, team)
    return team


def ensure_managed_provider(catalog: Catalog, team: Team) -> None:
    """Give the team its managed provider unless it has one (safe when two callers race)."""
    if catalog.managed_provider(team.id) is not None:
        return
    managed = StorageProvider(
        id=new_provider_id(),
        team_id=team.id,
        name=MANAGED_PROVIDER_NAME,
        type="local",
        is_managed=True,
    )
    with contextlib.suppress(NameTaken):  # another first run made it
        catalog.add_provider(managed)
