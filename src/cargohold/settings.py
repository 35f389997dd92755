"""One settings object for every entry point, read from the environment (DESIGN.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cargohold.cache.sizes import parse_size

DEFAULT_CACHE_SIZE = 20 * 1024**3


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    cache_dir: Path
    cache_size: int
    storage_dir: Path
    managed_dir: Path
    server: str | None = None
    api_key: str | None = None
    jobs: int = 8

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("CARGOHOLD_HOME") or Path.home() / ".cargohold").expanduser()
        size_text = env.get("CARGOHOLD_CACHE_SIZE")
        return cls(
            home=home,
            database_url=env.get("CARGOHOLD_DATABASE_URL")
            or f"sqlite:///{home / 'catalog.sqlite'}",
            cache_dir=Path(env.get("CARGOHOLD_CACHE_DIR") or home / "cache").expanduser(),
            cache_size=parse_size(size_text) if size_text else DEFAULT_CACHE_SIZE,
            storage_dir=Path(env.get("CARGOHOLD_STORAGE_DIR") or home / "storage").expanduser(),
            managed_dir=home / "managed",
            server=env.get("CARGOHOLD_SERVER") or None,
            api_key=env.get("CARGOHOLD_API_KEY") or None,
            jobs=int(env.get("CARGOHOLD_JOBS") or 8),
        )
