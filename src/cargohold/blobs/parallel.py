"""Jobs sent to a pool as a batch: all of them land, or the first failure stops the rest.

Here, not in ``s3_multipart``, so that the client's uploads (client/multipart.py) share it
without importing botocore.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from typing import Any


@contextlib.contextmanager
def settling(futures: list[Future[Any]]) -> Iterator[None]:
    """Wait for every job the block adds to `futures`. Once one fails, those not yet begun
    are cancelled, and its exception is raised (unless the block raised one of its own)."""
    try:
        yield
    finally:
        wait(futures, return_when=FIRST_EXCEPTION)
        for job in futures:
            job.cancel()
        wait(futures)
    for job in futures:
        if not job.cancelled() and (exc := job.exception()) is not None:
            raise exc
