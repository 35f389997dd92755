"""The blob-store contract, run against every implementation (fsspec style), and the S3
store's own promises: parallel, resumable, verified multipart uploads; clear errors; faults.

``BlobStoreContract`` holds the tests; ``TestLocalBlobStore`` and ``TestS3BlobStore`` give it
a store. The S3 store runs against the SeaweedFS server ``scripts/test`` starts, with the
smallest part size S3 allows (5 MiB), so that multipart paths run on small files.
"""

from __future__ import annotations

import hashlib
import random
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cargohold.blobs import BlobStore, LocalBlobStore
from cargohold.blobs.s3 import S3BlobStore
from cargohold.errors import (
    BucketNotFound,
    HashMismatch,
    ObjectNotFound,
    StorageAccessDenied,
    StorageError,
    StorageUnreachable,
)
from tests.conftest import S3Server, bucket_name_for
from tests.faultproxy import FaultProxy

PART = 5 * 1024 * 1024
SIZES = [0, 1, PART - 1, PART, PART + 1, 2 * PART, 2 * PART + 1, 3 * PART - 1]
ODD_KEYS = ["dir with space/naïve ☃ 文件.txt", "a+b=c&d?.bin", "percent%20sign", "x/~tilde!'()*"]


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed * 1_000_003 + size).randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chunked(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def write(tmp_path: Path, data: bytes, name: str = "source.bin") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


class BlobStoreContract:
    """What every ``BlobStore`` promises. Subclasses provide the ``store`` fixture."""

    @pytest.fixture
    def store(self) -> BlobStore:
        raise NotImplementedError

    def test_round_trip(self, store: BlobStore) -> None:
        store.put_bytes("a/b/c.txt", b"hello")
        assert store.read_bytes("a/b/c.txt") == b"hello"
        assert store.has("a/b/c.txt")
        assert store.size("a/b/c.txt") == 5
        with store.open("a/b/c.txt") as f:
            assert f.read(2) == b"he"
            assert f.read() == b"llo"
            assert f.read(10) == b""

    def test_overwrite_replaces(self, store: BlobStore) -> None:
        store.put_bytes("k", b"first")
        store.put_bytes("k", b"second, longer")
        assert store.read_bytes("k") == b"second, longer"

    def test_missing_object(self, store: BlobStore) -> None:
        assert not store.has("nope/x")
        assert store.size("nope/x") is None
        for read in (
            lambda: store.open("nope/x"),
            lambda: store.read_bytes("nope/x"),
            lambda: store.read_range("nope/x", 0, 10),
        ):
            with pytest.raises(ObjectNotFound) as caught:
                read()
            assert isinstance(caught.value, FileNotFoundError)

    def test_read_range(self, store: BlobStore) -> None:
        data = payload(100_000)
        store.put_bytes("r", data)
        assert store.read_range("r", 0, 10) == data[:10]
        assert store.read_range("r", 12_345, 6_789) == data[12_345 : 12_345 + 6_789]
        assert store.read_range("r", 99_990, 100) == data[99_990:]
        assert store.read_range("r", 100_000, 10) == b""
        assert store.read_range("r", 5, 0) == b""

    def test_open_seeks(self, store: BlobStore) -> None:
        data = payload(300_000)
        store.put_bytes("s", data)
        with store.open("s") as f:
            f.seek(250_000)
            assert f.read(10) == data[250_000:250_010]
            f.seek(7)
            assert f.read(5) == data[7:12]

    def test_list_by_prefix(self, store: BlobStore) -> None:
        for key in ("a/1", "a/2", "ab/3", "b/4", "a/deep/5"):
            store.put_bytes(key, key.encode())
        assert sorted(store.list("a/")) == ["a/1", "a/2", "a/deep/5"]
        assert sorted(store.list("a")) == ["a/1", "a/2", "a/deep/5", "ab/3"]
        assert sorted(store.list("")) == ["a/1", "a/2", "a/deep/5", "ab/3", "b/4"]
        assert list(store.list("zzz/")) == []

    def test_delete(self, store: BlobStore) -> None:
        store.put_bytes("d/x", b"1")
        store.delete("d/x")
        assert not store.has("d/x")
        assert list(store.list("d/")) == []
        store.delete("d/x")  # deleting what is gone is fine

    def test_empty_objects(self, store: BlobStore, tmp_path: Path) -> None:
        empty = write(tmp_path, b"")
        store.put_bytes("e/bytes", b"")
        assert store.put_stream("e/stream", iter([]), sha(b"")) == 0
        assert store.put_stream("e/chunks", [b"", b""]) == 0
        assert store.put_file("e/file", empty, sha(b"")) == 0
        for key in ("e/bytes", "e/stream", "e/chunks", "e/file"):
            assert store.size(key) == 0
            assert store.read_bytes(key) == b""

    @pytest.mark.parametrize("size", SIZES)
    def test_put_file_sizes(self, store: BlobStore, tmp_path: Path, size: int) -> None:
        data = payload(size)
        assert store.put_file("f/obj", write(tmp_path, data), sha(data)) == size
        assert store.size("f/obj") == size
        assert store.read_bytes("f/obj") == data

    @pytest.mark.parametrize("size", [PART, PART + 1, 2 * PART, 2 * PART + 1])
    def test_put_stream_sizes(self, store: BlobStore, size: int) -> None:
        data = payload(size, seed=1)
        assert store.put_stream("s/obj", chunked(data, 1024 * 1024 + 7), sha(data)) == size
        assert store.read_bytes("s/obj") == data

    def test_put_stream_one_big_chunk(self, store: BlobStore) -> None:
        data = payload(2 * PART + 3, seed=2)
        store.put_bytes("big", data)
        assert store.read_bytes("big") == data

    @pytest.mark.parametrize("size", [10, PART + 1, 2 * PART])
    def test_hash_mismatch_leaves_nothing(
        self, store: BlobStore, tmp_path: Path, size: int
    ) -> None:
        data = payload(size, seed=3)
        with pytest.raises(HashMismatch):
            store.put_file("h/file", write(tmp_path, data), sha(b"something else"))
        with pytest.raises(HashMismatch):
            store.put_stream("h/stream", chunked(data, 1 << 20), sha(b"something else"))
        assert not store.has("h/file")
        assert not store.has("h/stream")
        # Nothing was left half-done: the same keys take the right content at once.
        assert store.put_file("h/file", write(tmp_path, data), sha(data)) == size
        assert store.read_bytes("h/file") == data

    @pytest.mark.parametrize("key", ODD_KEYS)
    def test_unicode_and_odd_keys(self, store: BlobStore, key: str) -> None:
        store.put_bytes(key, key.encode())
        assert store.read_bytes(key) == key.encode()
        assert store.has(key)
        assert list(store.list(key)) == [key]
        store.delete(key)
        assert not store.has(key)

    def test_cleanup_incomplete_on_clean_store(self, store: BlobStore) -> None:
        store.put_bytes("c/x", b"1")
        assert store.cleanup_incomplete("c/", 0) == 0
        assert store.read_bytes("c/x") == b"1"


class TestLocalBlobStore(BlobStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> BlobStore:
        return LocalBlobStore(tmp_path / "store")

    def test_presign_is_unsupported(self, store: BlobStore) -> None:
        assert store.presign("k", "GET", 60) is None


def s3_store(config: dict[str, str], **options: Any) -> S3BlobStore:
    return S3BlobStore.from_config(config, **{"part_size": PART, **options})


class TestS3BlobStore(BlobStoreContract):
    @pytest.fixture
    def store(self, s3_config: dict[str, str]) -> Iterator[BlobStore]:
        with s3_store(s3_config) as store:
            yield store

    def test_presign(self, store: BlobStore) -> None:
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        put_url = store.presign("p/obj", "PUT", 60)
        assert put_url is not None
        direct.open(urllib.request.Request(put_url, data=b"presigned", method="PUT"))
        get_url = store.presign("p/obj", "GET", 60)
        assert get_url is not None
        assert direct.open(get_url).read() == b"presigned"
        head_url = store.presign("p/obj", "HEAD", 60)
        assert head_url is not None
        head = direct.open(urllib.request.Request(head_url, method="HEAD"))
        assert head.headers["Content-Length"] == "9"
        delete_url = store.presign("p/obj", "DELETE", 60)
        assert delete_url is not None
        direct.open(urllib.request.Request(delete_url, method="DELETE"))
        assert not store.has("p/obj")

    def test_repr_hides_the_secret(self, store: BlobStore, s3_config: dict[str, str]) -> None:
        assert s3_config["secretAccessKey"] not in repr(store)
        assert s3_config["bucket"] in repr(store)


class TestS3Multipart:
    """Parallel parts, bounded memory, resume and cleanup, counted at a proxy."""

    def test_parallel_parts_right_bytes(self, s3_config: dict[str, str], tmp_path: Path) -> None:
        data = payload(6 * PART + 17, seed=4)
        proxy = FaultProxy(s3_config["endpoint"])
        proxy.delay(0.1, method="PUT", match="partNumber=")
        with proxy as url, s3_store({**s3_config, "endpoint": url}, max_concurrency=3) as store:
            assert store.put_file("m/obj", write(tmp_path, data), sha(data)) == len(data)
            assert store.read_bytes("m/obj") == data
        assert proxy.count("PUT", match="partNumber=") == 7
        assert 2 <= proxy.max_in_flight <= 3  # parallel, and never more than asked

    def test_resume_sends_only_missing_parts(
        self, s3_server: S3Server, s3_bucket: str, s3_config: dict[str, str], tmp_path: Path
    ) -> None:
        data = payload(4 * PART + 123, seed=5)  # five parts
        parts = list(chunked(data, PART))
        admin, key = s3_server.client(), "objects/resume"
        stale = admin.create_multipart_upload(Bucket=s3_bucket, Key=key)["UploadId"]
        time.sleep(1.1)  # ListMultipartUploads has one-second timestamps
        upload = admin.create_multipart_upload(
            Bucket=s3_bucket, Key=key, ChecksumAlgorithm="SHA256"
        )["UploadId"]
        for number, body in ((1, parts[0]), (2, b"x" * PART), (3, parts[2])):
            admin.upload_part(
                Bucket=s3_bucket, Key=key, UploadId=upload, PartNumber=number, Body=body
            )
        proxy = FaultProxy(s3_config["endpoint"])
        with proxy as url, s3_store({**s3_config, "endpoint": url}) as store:
            store.put_file(key, write(tmp_path, data), sha(data))
            assert store.read_bytes(key) == data
        # Part 2 was wrong and 4, 5 were missing: three PUTs, not five.
        assert proxy.count("PUT", match="partNumber=") == 3
        left = admin.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
        assert [u["UploadId"] for u in left] == [], f"stale {stale} or used {upload} remains"

    def test_crash_then_resume(self, s3_config: dict[str, str], tmp_path: Path) -> None:
        data = payload(5 * PART, seed=6)  # exactly five parts
        source = write(tmp_path, data)
        proxy = FaultProxy(s3_config["endpoint"])
        config = {**s3_config}
        with proxy as url:
            config["endpoint"] = url
            proxy.reset(method="PUT", match="partNumber=", after=2)  # dies after two parts
            with s3_store(config, max_concurrency=1, max_attempts=1) as store:
                store.requests.retries = 0  # fail at the first reset: a crash, in effect
                with pytest.raises(StorageError):
                    store.put_file("c/obj", source, sha(data))
            assert not store.has("c/obj")
            proxy.clear()
            proxy.reset_counts()
            with s3_store(config) as store:
                store.put_file("c/obj", source, sha(data))
                assert store.read_bytes("c/obj") == data
        assert proxy.count("PUT", match="partNumber=") == 3

    def test_cleanup_incomplete(
        self, s3_server: S3Server, s3_bucket: str, s3_config: dict[str, str]
    ) -> None:
        admin = s3_server.client()
        for key in ("team/objects/a", "team/objects/b", "other/c"):
            admin.create_multipart_upload(Bucket=s3_bucket, Key=key)
        with s3_store(s3_config) as store:
            assert store.cleanup_incomplete("team/", older_than=3600) == 0
            time.sleep(1.1)
            assert store.cleanup_incomplete("team/", older_than=0.5) == 2
        left = admin.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", [])
        assert [u["Key"] for u in left] == ["other/c"]


class TestS3Errors:
    def test_wrong_secret_is_access_denied(self, s3_config: dict[str, str]) -> None:
        wrong = "Wr0ng-secret-that-must-never-show-up"
        with s3_store({**s3_config, "secretAccessKey": wrong}, max_attempts=1) as store:
            for call in (
                lambda: store.put_bytes("k", b"1"),
                lambda: store.has("k"),
                lambda: store.read_bytes("k"),
                lambda: list(store.list("")),
            ):
                with pytest.raises(StorageAccessDenied) as caught:
                    call()
                shown = f"{caught.value} {caught.value.hint} {caught.value.to_json()}"
                assert wrong not in shown
                assert s3_config["secretAccessKey"] not in shown
            assert wrong not in repr(store)

    def test_wrong_access_key_is_access_denied(self, s3_config: dict[str, str]) -> None:
        with (
            s3_store({**s3_config, "accessKey": "NOSUCHKEY"}, max_attempts=1) as store,
            pytest.raises(StorageAccessDenied),
        ):
            store.put_bytes("k", b"1")

    def test_missing_bucket(self, s3_config: dict[str, str], tmp_path: Path) -> None:
        config = {**s3_config, "bucket": s3_config["bucket"][:50] + "-missing"}
        big = write(tmp_path, payload(PART + 1))
        with s3_store(config, max_attempts=1) as store:
            for call in (
                lambda: store.put_bytes("k", b"1"),
                lambda: store.put_file("k", big),
                lambda: store.read_bytes("k"),
                lambda: list(store.list("")),
            ):
                with pytest.raises(BucketNotFound):
                    call()

    def test_unreachable_endpoint(self, s3_config: dict[str, str]) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        config = {**s3_config, "endpoint": f"http://127.0.0.1:{closed}"}
        started = time.monotonic()
        with s3_store(config, max_attempts=1, connect_timeout=1, read_timeout=2) as store:
            with pytest.raises(StorageUnreachable) as caught:
                store.put_bytes("k", b"1")
            with pytest.raises(StorageUnreachable):
                store.has("k")
        assert time.monotonic() - started < 5
        assert s3_config["secretAccessKey"] not in str(caught.value)

    def test_no_aws_setting_changes_anything(
        self, s3_config: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        aws_config = tmp_path / "aws-config"
        aws_config.write_text(
            "[profile elsewhere]\nregion = mars-1\ns3 =\n  addressing_style = virtual\n"
        )
        hostile = {
            "AWS_PROFILE": "elsewhere-that-does-not-exist",
            "AWS_CONFIG_FILE": str(aws_config),
            "AWS_SHARED_CREDENTIALS_FILE": str(aws_config),
            "AWS_ACCESS_KEY_ID": "AKIAWRONG",
            "AWS_SECRET_ACCESS_KEY": "wrong",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9",
            "AWS_CA_BUNDLE": str(tmp_path / "no-such-ca.pem"),
            "AWS_DEFAULT_REGION": "mars-1",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_REQUEST_CHECKSUM_CALCULATION": "WHEN_SUPPORTED",
        }
        for name, value in hostile.items():
            monkeypatch.setenv(name, value)
        with s3_store(s3_config) as store:
            store.put_bytes("env/k", b"still fine")
            assert store.read_bytes("env/k") == b"still fine"


class TestS3Faults:
    def test_errors_and_resets_on_a_share_of_requests(
        self, s3_config: dict[str, str], tmp_path: Path
    ) -> None:
        data = payload(4 * PART + 999, seed=7)
        proxy = FaultProxy(s3_config["endpoint"], seed=11)
        proxy.fail(500, fraction=0.1)
        proxy.fail(503, fraction=0.1)
        proxy.reset(method="PUT", fraction=0.2)
        proxy.reset_response(method="GET", fraction=0.3)
        with proxy as url, s3_store({**s3_config, "endpoint": url}) as store:
            store.put_file("f/obj", write(tmp_path, data), sha(data))
            for _ in range(3):
                assert store.read_bytes("f/obj") == data
            assert store.read_range("f/obj", PART - 5, 10) == data[PART - 5 : PART + 5]
        faults = proxy.faults()
        assert faults["fail"] and faults["reset"] and faults["reset_response"], faults

    def test_read_resumes_after_a_broken_body(self, s3_config: dict[str, str]) -> None:
        data = payload(3 * PART, seed=8)
        proxy = FaultProxy(s3_config["endpoint"])
        with proxy as url, s3_store({**s3_config, "endpoint": url}) as store:
            store.put_bytes("r/obj", data)
            proxy.reset_response(method="GET", first=2, at_byte=1_000_000)
            assert store.read_bytes("r/obj") == data
        assert proxy.faults()["reset_response"] == 2

    def test_server_stopped_mid_upload_then_restarted(
        self, s3_server: S3Server, s3_config: dict[str, str], tmp_path: Path
    ) -> None:
        data = payload(6 * PART, seed=9)
        source = write(tmp_path, data)
        proxy = FaultProxy(s3_config["endpoint"])
        proxy.delay(0.2, method="PUT", match="partNumber=")
        failure: list[BaseException] = []

        def upload(store: S3BlobStore) -> None:
            try:
                store.put_file("s/obj", source, sha(data))
            except BaseException as exc:
                failure.append(exc)

        with proxy as url:
            config = {**s3_config, "endpoint": url}
            options = {"max_concurrency": 1, "max_attempts": 1, "connect_timeout": 1}
            with s3_store(config, **options) as store:
                store.requests.retries = 0  # give up at once while the server is down
                worker = threading.Thread(target=upload, args=(store,))
                worker.start()
                try:
                    deadline = time.monotonic() + 20
                    while proxy.count("PUT", match="partNumber=") < 3:
                        assert time.monotonic() < deadline, "the upload did not start"
                        time.sleep(0.02)
                    s3_server.stop()
                    worker.join(60)
                finally:
                    s3_server.start()
            assert not worker.is_alive()
            assert failure and isinstance(failure[0], StorageError), failure
            proxy.clear()
            proxy.reset_counts()
            with s3_store(config) as store:
                store.put_file("s/obj", source, sha(data))
                assert store.read_bytes("s/obj") == data
        assert proxy.count("PUT", match="partNumber=") < 6  # resumed, not started over


@pytest.mark.parametrize(
    "test_name",
    ["test_x", "TestS3[Mixed Case/with ✓ symbols]" + "y" * 80, "---", "9_starts_with_digit"],
)
def test_bucket_names_are_valid_s3_names(test_name: str) -> None:
    name = bucket_name_for(test_name)
    assert re.fullmatch(r"test-bucket-[a-z0-9-]*[a-z0-9]", name), name
    assert 3 <= len(name) <= 63
    assert bucket_name_for(test_name) != name  # unique per call
