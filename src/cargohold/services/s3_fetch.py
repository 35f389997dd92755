"""Copy everything under an ``s3://bucket/prefix/`` into a local directory (the
``s3-download@v1`` workflow action), through the same S3 client as the providers."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from cargohold.blobs import CHUNK
from cargohold.blobs.s3 import S3BlobStore
from cargohold.domain.paths import check_key
from cargohold.errors import InvalidInput, InvalidPath


@dataclass
class Fetched:
    files: int = 0
    bytes: int = 0


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix/`` -> (bucket, "some/prefix/")."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise InvalidInput(
            f"Not an S3 URL: {url!r}", hint="Write it as s3://BUCKET/PREFIX/", url=url
        )
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix


def fetch_prefix(
    url: str,
    target: Path,
    *,
    access_key: str,
    secret_key: str,
    endpoint: str | None = None,
    region: str | None = None,
    jobs: int = 8,
    stopped: Callable[[], bool] = lambda: False,
) -> Fetched:
    """Every object under the URL's prefix into `target`, at its path below the prefix
    (a URL naming one object fetches that object). Keys that would leave `target` are
    refused before anything is written."""
    bucket, prefix = parse_s3_url(url)
    fetched = Fetched()
    lock = threading.Lock()
    with S3BlobStore(
        bucket, access_key=access_key, secret_key=secret_key, endpoint=endpoint, region=region
    ) as store:
        keys = [k for k in store.list(prefix) if not k.endswith("/")]
        if prefix and not prefix.endswith("/"):  # 'data' means the object or the folder
            keys = [k for k in keys if k == prefix or k.startswith(prefix + "/")]
        plan = [(k, target / _relative(k, prefix)) for k in keys]

        def one(item: tuple[str, Path]) -> None:
            key, dest = item
            if stopped():
                return
            dest.parent.mkdir(parents=True, exist_ok=True)
            size = 0
            with store.open(key) as src, open(dest, "wb") as out:
                while chunk := src.read(CHUNK):
                    out.write(chunk)
                    size += len(chunk)
            with lock:
                fetched.files += 1
                fetched.bytes += size

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            list(pool.map(one, plan))
    return fetched


def _relative(key: str, prefix: str) -> str:
    """Where `key` lands below the target: its path below the prefix, or its own name when
    the URL names this one object."""
    rel = os.path.basename(key) if key == prefix else key[len(prefix) :].lstrip("/")
    try:
        return check_key(rel)
    except InvalidPath:
        raise InvalidPath(
            f"The bucket key {key!r} would leave the output directory", path=key
        ) from None
