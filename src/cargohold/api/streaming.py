"""Bytes through the server (the managed directory's): request bodies into a store chunk by
chunk, and objects or byte ranges of them out of it, never held whole in memory. Both count
what they move (`observe.count_transfer`)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import TypeVar

import anyio.from_thread
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from cargohold.api.observe import count_transfer
from cargohold.blobs import CHUNK, BlobStore
from cargohold.errors import InvalidInput, ObjectNotFound

RANGE = re.compile(r"bytes=(\d+)-(\d*)")
T = TypeVar("T")


async def receive(
    request: Request, put: Callable[[Iterable[bytes]], T], *, counted: bool = True
) -> T:
    """Run `put` in a worker thread over the request body, read chunk by chunk from the
    event loop as the worker asks for them: the body is never held whole. Each chunk is
    counted as it arrives unless `counted` is false (the caller counts what it kept)."""
    stream = request.stream().__aiter__()
    state = request.app.state

    def chunks() -> Iterator[bytes]:
        while (chunk := anyio.from_thread.run(_next_chunk, stream)) is not None:
            if chunk:
                if counted:
                    count_transfer(state, "upload", len(chunk))
                yield chunk

    return await run_in_threadpool(put, chunks())


async def _next_chunk(stream: AsyncIterator[bytes]) -> bytes | None:
    try:
        return await stream.__anext__()
    except StopAsyncIteration:
        return None


def send(state: State, store: BlobStore, key: str, range_header: str | None) -> Response:
    """The object (or the one byte range asked for) streamed from the store. A range past
    the end is served short (as a ranged GET on S3 is): the reader sees the pack is damaged."""
    size = store.size(key)
    if size is None:
        raise ObjectNotFound(f"Object not found in the provider: {key}", key=key)
    start, end = 0, size
    if range_header:
        match = RANGE.fullmatch(range_header.strip())
        if match is None:
            raise InvalidInput(f"Unsupported Range {range_header!r}: use bytes=START-[END]")
        start = min(size, int(match[1]))
        end = max(start, min(size, int(match[2]) + 1 if match[2] else size))

    def body() -> Iterator[bytes]:
        with store.open(key) as f:
            f.seek(start)
            left = end - start
            while left > 0 and (block := f.read(min(CHUNK, left))):
                left -= len(block)
                count_transfer(state, "download", len(block))
                yield block

    headers = {"Content-Length": str(end - start), "Accept-Ranges": "bytes"}
    if range_header:
        headers["Content-Range"] = (
            f"bytes {start}-{end - 1}/{size}" if end > start else f"bytes */{size}"
        )
    return StreamingResponse(
        body(),
        status_code=206 if range_header else 200,
        media_type="application/octet-stream",
        headers=headers,
    )
