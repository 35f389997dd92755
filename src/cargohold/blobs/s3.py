"""A provider in an S3-compatible bucket (AWS S3, GCS interoperability, MinIO, SeaweedFS, Ceph).

Objects up to ``part_size`` go up in one verified PUT; larger ones in a resumable multipart
upload with parallel parts (``s3_multipart``). Reads stream and resume after a broken
connection (``s3_reader``). Errors are cargohold's (``s3_errors``): wrong keys are
``StorageAccessDenied``, a missing bucket ``BucketNotFound``, a dead endpoint
``StorageUnreachable``. The secret key is handed to botocore and kept nowhere else; it never
appears in a message or a ``repr``.

The client is built from the arguments alone: no ``AWS_*`` variable and no ``~/.aws`` file
changes what it does (``AWS_CA_BUNDLE``, say, would otherwise break plain-http endpoints).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
import botocore.session
from botocore.config import Config
from botocore.configprovider import (
    BOTOCORE_DEFAUT_SESSION_VARIABLES,
    ConfigChainFactory,
    ConfigValueStore,
    ConstantProvider,
)

from cargohold.blobs.base import CHUNK
from cargohold.blobs.s3_errors import Requests, s3_code
from cargohold.blobs.s3_multipart import (
    MIN_PART_SIZE,
    Checksums,
    Multipart,
    Part,
    file_parts,
    part_size_for,
    stream_parts,
)
from cargohold.blobs.s3_presign import Presigner
from cargohold.blobs.s3_reader import ObjectReader
from cargohold.errors import (
    ConfigurationError,
    HashMismatch,
    InvalidInput,
    ObjectNotFound,
    StorageError,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MiB = 1024 * 1024
SIGNATURE_VERSIONS = {"v4": "s3v4", "4": "s3v4", "s3v4": "s3v4", "v2": "s3", "2": "s3", "s3": "s3"}
PRESIGN_METHODS = {
    "GET": "get_object",
    "PUT": "put_object",
    "HEAD": "head_object",
    "DELETE": "delete_object",
}


class S3BlobStore:
    packs_small_files = True  # every request costs: small files travel in packs

    def __init__(
        self,
        bucket: str,
        *,
        access_key: str,
        secret_key: str,
        endpoint: str | None = None,
        region: str | None = None,
        signature_version: str | None = None,
        part_size: int = 16 * MiB,
        max_concurrency: int = 8,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        max_attempts: int = 5,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ConfigurationError(f"part_size must be at least 5 MiB, not {part_size}")
        self.bucket = bucket
        self.endpoint = endpoint
        self.region = region or "us-east-1"
        self.part_size = part_size
        self.max_concurrency = max(1, max_concurrency)
        client = _client(
            access_key,
            secret_key,
            endpoint,
            self.region,
            Config(
                signature_version=_signature(signature_version),
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "max_attempts": max_attempts},
                max_pool_connections=self.max_concurrency + 4,
                # Every body carries a signed checksum header (s3_multipart), so the body is
                # not hashed once more for the signature, even over plain http.
                s3={
                    "addressing_style": "path" if endpoint else "auto",
                    "payload_signing_enabled": False,
                },
                # Checksums are ours (SHA-256, or MD5, s3_multipart); botocore's default CRC32
                # trailers are refused by several S3-compatible servers.
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
                tcp_keepalive=True,
            ),
        )
        self._requests = Requests(client, bucket, secret_key, endpoint or "AWS S3")
        self._checksums = Checksums()
        # One part per slot in memory: the uploads in flight plus the one being read.
        self._slots = threading.BoundedSemaphore(self.max_concurrency + 1)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **options: Any) -> S3BlobStore:
        """From a provider's config in Gradient's shape (``bucket``, ``accessKey``,
        ``secretAccessKey``, ``endpoint``, ``region``, ``signatureVersion``)."""
        missing = [k for k in ("bucket", "accessKey", "secretAccessKey") if not config.get(k)]
        if missing:
            raise ConfigurationError(f"S3 provider config lacks {', '.join(missing)}")
        return cls(
            str(config["bucket"]),
            access_key=str(config["accessKey"]),
            secret_key=str(config["secretAccessKey"]),
            endpoint=_endpoint_url(config.get("endpoint")),
            region=config.get("region") or None,
            signature_version=config.get("signatureVersion") or None,
            **options,
        )

    @property
    def requests(self) -> Requests:
        """Requests on the bucket itself (CORS rules, say), errors already cargohold's."""
        return self._requests

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, endpoint={self.endpoint!r})"

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
                self._pool = None

    def __enter__(self) -> S3BlobStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------------------

    def has(self, key: str) -> bool:
        return self.size(key) is not None

    def size(self, key: str) -> int | None:
        """Size of the object; None when absent (a HEAD cannot tell a missing bucket apart)."""
        try:
            return int(self._requests("head_object", key)["ContentLength"])
        except ObjectNotFound:
            return None

    def open(self, key: str) -> BinaryIO:
        answer = self._requests.retrying(lambda: self._requests("get_object", key), key)
        return io.BufferedReader(ObjectReader(self._requests, key, answer), buffer_size=CHUNK)

    def read_bytes(self, key: str) -> bytes:
        with self.open(key) as f:
            return f.read()

    def read_range(self, key: str, offset: int, length: int) -> bytes:
        if length <= 0:
            return b""

        def ranged() -> bytes:
            try:
                answer = self._requests(
                    "get_object", key, Range=f"bytes={offset}-{offset + length - 1}"
                )
            except StorageError as exc:
                if s3_code(exc) == "InvalidRange":  # from past the end: nothing, like a file
                    return b""
                raise
            data: bytes = answer["Body"].read()
            return data

        return self._requests.retrying(ranged, key)

    def list(self, prefix: str) -> Iterator[str]:
        params: dict[str, Any] = {"Prefix": prefix}
        while True:
            page = self._requests("list_objects_v2", **params)
            for item in page.get("Contents", []):
                yield str(item["Key"])
            if not page.get("IsTruncated"):
                return
            params["ContinuationToken"] = page["NextContinuationToken"]

    def presign(self, key: str, method: str, expires: int) -> str | None:
        operation = PRESIGN_METHODS.get(method.upper())
        if operation is None:
            raise InvalidInput(
                f"Cannot presign {method!r}: use one of {', '.join(PRESIGN_METHODS)}"
            )
        url: str = self._requests.client.generate_presigned_url(
            operation, Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires
        )
        return url

    def presigner(self, expires: int) -> Presigner:
        """Signs requests a client sends to the bucket itself (presigned PUT with a signed
        SHA-256, multipart part URLs, GET), each valid for `expires` seconds."""
        return Presigner(self._requests, expires)

    # -- writing ------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        self.put_stream(key, [data])

    def put_file(self, key: str, source: Path, sha256: str | None = None) -> int:
        fd = os.open(source, os.O_RDONLY)
        try:
            total = os.fstat(fd).st_size
            part_size = part_size_for(total, self.part_size)
            parts = file_parts(fd, total, part_size)
            if total <= part_size:
                with self._slot():
                    return self._put_whole(key, next(parts, Part(1, b"")).data, sha256)
            return self._multipart().upload(key, parts, sha256)
        finally:
            os.close(fd)

    def put_stream(self, key: str, chunks: Iterable[bytes], sha256: str | None = None) -> int:
        """One PUT when the stream ends within ``part_size`` bytes, else multipart."""
        stream = iter(chunks)
        head: list[bytes] = []
        held = 0
        for chunk in stream:
            head.append(chunk)
            held += len(chunk)
            if held > self.part_size:
                parts = stream_parts(chain(head, stream), self.part_size)
                return self._multipart().upload(key, parts, sha256)
        with self._slot():
            return self._put_whole(key, b"".join(head), sha256)

    def _put_whole(self, key: str, data: bytes, sha256: str | None) -> int:
        digest = hashlib.sha256(data).digest()
        if sha256 is not None and digest.hex() != sha256:
            raise HashMismatch(
                f"Content of {key} does not match its SHA-256",
                hint="The source changed during the upload; run the command again",
                key=key,
            )

        def put() -> Any:
            headers = self._checksums.headers(data, digest)
            return self._requests("put_object", key, Body=data, **headers)

        try:
            self._requests.retrying(put, key)
        except StorageError as exc:
            if not self._checksums.refused(exc):
                raise
            self._requests.retrying(put, key)
        return len(data)

    def delete(self, key: str) -> None:
        self._requests("delete_object", key)

    def cleanup_incomplete(self, prefix: str, older_than: float) -> int:
        """Abort the multipart uploads under `prefix` begun more than `older_than` s ago."""
        return self._multipart().cleanup(prefix, older_than)

    # -- internals ----------------------------------------------------------------------

    def _multipart(self) -> Multipart:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.max_concurrency, thread_name_prefix="cargohold-s3"
                )
            pool = self._pool
        return Multipart(self._requests, pool, self._slots, self._checksums)

    def _slot(self) -> _Slot:
        return _Slot(self._slots)


class _Slot:
    def __init__(self, slots: threading.BoundedSemaphore) -> None:
        self._slots = slots

    def __enter__(self) -> None:
        self._slots.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self._slots.release()


def _endpoint_url(endpoint: object) -> str | None:
    """Gradient accepts a bare host ("s3.example.com"); botocore wants a URL."""
    text = str(endpoint or "").strip()
    if not text:
        return None
    return text if "://" in text else f"https://{text}"


def _signature(version: str | None) -> str:
    if version is None:
        return "s3v4"
    found = SIGNATURE_VERSIONS.get(version.strip().lower())
    if found is None:
        raise ConfigurationError(
            f"Unknown S3 signature version {version!r}", hint="Use v4 (or v2 for old servers)"
        )
    return found


def _client(
    access_key: str, secret_key: str, endpoint: str | None, region: str, config: Config
) -> S3Client:
    session = boto3.session.Session(botocore_session=_isolated_session())
    return session.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        verify=True,
        config=config,
    )


def _isolated_session() -> botocore.session.Session:
    """A botocore session that reads no environment variable and no ``~/.aws`` file: every
    setting is its built-in default unless the client's arguments say otherwise."""
    session = botocore.session.Session()
    chains = ConfigChainFactory(session=session, environ={})
    mapping: dict[str, Any] = {
        name: chains.create_config_chain(
            instance_name=name, default=spec[2], conversion_func=spec[3]
        )
        for name, spec in BOTOCORE_DEFAUT_SESSION_VARIABLES.items()
    }
    mapping["config_file"] = ConstantProvider(os.devnull)
    mapping["credentials_file"] = ConstantProvider(os.devnull)
    session.register_component("config_store", ConfigValueStore(mapping=mapping))
    return session
