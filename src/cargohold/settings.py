"""One settings object for every entry point, read from the environment (DESIGN.md)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cargohold.cache.sizes import parse_size

MIB = 1024 * 1024
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
    secret_key: str | None = field(default=None, repr=False)
    """CARGOHOLD_SECRET_KEY: encrypts provider secrets; else a key file in the home."""
    managed_s3: dict[str, str] = field(default_factory=dict, repr=False)
    """The managed provider in a bucket instead of $CARGOHOLD_HOME/managed (empty: the
    directory), from the variables named in MANAGED_S3."""
    managed_quota: int | None = None
    """CARGOHOLD_MANAGED_QUOTA: bytes a team may store in the managed provider."""
    part_size: int = 8 * MIB
    """CARGOHOLD_PART_SIZE: multipart part size; files above it go up in parallel parts."""
    pack_threshold: int = 4 * MIB
    """CARGOHOLD_PACK_THRESHOLD: files smaller than this travel and rest in packs (S3)."""
    pack_size: int = 8 * MIB
    """CARGOHOLD_PACK_SIZE: the size a pack is closed at."""
    volume_limit: int = 5 * 1024**3
    """CARGOHOLD_VOLUME_LIMIT: bytes a workflow volume may hold (5 GB, as on Gradient)."""
    workflow_parallel: int = 4
    """CARGOHOLD_WORKFLOW_PARALLEL: jobs of one run that may run at once."""
    presign_expires: int = 600
    """CARGOHOLD_PRESIGN_EXPIRES: seconds a presigned URL the server hands out stays valid
    (a client asks for part URLs in small batches, just before it sends them)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("CARGOHOLD_HOME") or Path.home() / ".cargohold").expanduser()
        size_text = env.get("CARGOHOLD_CACHE_SIZE")
        saved = load_config(home)
        return cls(
            home=home,
            database_url=env.get("CARGOHOLD_DATABASE_URL")
            or f"sqlite:///{home / 'catalog.sqlite'}",
            cache_dir=Path(env.get("CARGOHOLD_CACHE_DIR") or home / "cache").expanduser(),
            cache_size=parse_size(size_text) if size_text else DEFAULT_CACHE_SIZE,
            storage_dir=Path(env.get("CARGOHOLD_STORAGE_DIR") or home / "storage").expanduser(),
            managed_dir=home / "managed",
            server=_chosen(env, "CARGOHOLD_SERVER", saved.get("server")),
            api_key=env.get("CARGOHOLD_API_KEY") or saved.get("apiKey") or None,
            jobs=int(env.get("CARGOHOLD_JOBS") or 8),
            secret_key=env.get("CARGOHOLD_SECRET_KEY") or None,
            managed_s3=_managed_s3(env),
            managed_quota=_size(env, "CARGOHOLD_MANAGED_QUOTA", None),
            part_size=_size(env, "CARGOHOLD_PART_SIZE", 8 * MIB) or 8 * MIB,
            pack_threshold=_size(env, "CARGOHOLD_PACK_THRESHOLD", 4 * MIB) or 0,
            pack_size=_size(env, "CARGOHOLD_PACK_SIZE", 8 * MIB) or 8 * MIB,
            presign_expires=int(env.get("CARGOHOLD_PRESIGN_EXPIRES") or 600),
            volume_limit=_size(env, "CARGOHOLD_VOLUME_LIMIT", 5 * 1024**3) or 5 * 1024**3,
            workflow_parallel=max(1, int(env.get("CARGOHOLD_WORKFLOW_PARALLEL") or 4)),
        )


CONFIG_FILE = "config.json"


def load_config(home: Path) -> dict[str, str]:
    """What `cargohold apiKey` saved (`apiKey`, `server`); empty when nothing was, or the
    file cannot be read (the variables and options still work)."""
    try:
        data = json.loads((home / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def save_config(home: Path, values: Mapping[str, str | None]) -> Path:
    """Merge `values` into the saved config (None removes a key); the file is mode 0600, as
    it holds an API key."""
    data = {**load_config(home), **{k: v for k, v in values.items() if v is not None}}
    for key in [k for k, v in values.items() if v is None]:
        data.pop(key, None)
    home.mkdir(parents=True, exist_ok=True)
    path = home / CONFIG_FILE
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)
    return path


MANAGED_S3 = {
    "endpoint": "CARGOHOLD_MANAGED_S3_ENDPOINT",
    "bucket": "CARGOHOLD_MANAGED_S3_BUCKET",
    "access_key": "CARGOHOLD_MANAGED_S3_ACCESS_KEY",
    "secret_key": "CARGOHOLD_MANAGED_S3_SECRET_KEY",
    "region": "CARGOHOLD_MANAGED_S3_REGION",
}


def _chosen(env: Mapping[str, str], name: str, saved: str | None) -> str | None:
    """The variable when set (set but empty: none, ahead of the saved value), else saved."""
    return env.get(name, saved) or None


def _managed_s3(env: Mapping[str, str]) -> dict[str, str]:
    return {key: env[name] for key, name in MANAGED_S3.items() if env.get(name)}


def _size(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    text = env.get(name)
    return parse_size(text) if text else default
