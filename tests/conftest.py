"""Fixtures shared by the whole suite.

PostgreSQL is a real server started by ``scripts/test``, which exports its URL as
``CARGOHOLD_TEST_POSTGRES_URL``. Each test that asks for ``postgres_url`` gets a fresh database
named after it, dropped afterwards. Without the server, such tests are skipped locally and fail
under ``CI=true``: CI must never pass by skipping them.

SeaweedFS (S3) is started the same way (``scripts/_seaweedfs.sh``), exported as
``CARGOHOLD_TEST_S3_*``. ``s3_server`` describes it (and can stop and restart it for fault
tests), ``s3_bucket`` is a fresh bucket named after the test, emptied and deleted afterwards,
and ``s3_config`` is a provider config in Gradient's shape for that bucket.

This module imports nothing from ``cargohold``.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

if TYPE_CHECKING:
    from cargohold.services import Services
    from tests.cli_helpers import Cli

POSTGRES_URL_ENV = "CARGOHOLD_TEST_POSTGRES_URL"
S3_ENV = "CARGOHOLD_TEST_S3_"
MAX_BUCKET_NAME_LENGTH = 63
MAX_IDENTIFIER_LENGTH = 63  # PostgreSQL's NAMEDATALEN - 1
CARGOHOLD_ENV_TO_CLEAR = (
    "CARGOHOLD_CACHE_DIR",
    "CARGOHOLD_DATABASE_URL",
    "CARGOHOLD_SERVER",
    "CARGOHOLD_API_KEY",
)


def running_on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1"}


def database_name_for(test_name: str) -> str:
    """A lowercase identifier of at most 63 characters, unique per call, naming the test."""
    suffix = uuid.uuid4().hex[:8]
    stem = re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_") or "test"
    if not stem[0].isalpha():
        stem = f"t_{stem}"
    stem = stem[: MAX_IDENTIFIER_LENGTH - len(suffix) - 1].rstrip("_")
    return f"{stem}_{suffix}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses ``postgres_url`` directly, so ``-m "not postgres"`` works."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of the maintenance database on the server ``scripts/test`` started."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if url:
        return url
    message = f"{POSTGRES_URL_ENV} is not set: run scripts/test, which starts PostgreSQL"
    if running_on_ci():
        pytest.fail(f"{message} (CI is set, so a missing server is a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_admin_engine(postgres_server_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, postgres_admin_engine: sa.Engine) -> Iterator[str]:
    """SQLAlchemy URL of a fresh database for this test alone; dropped after it."""
    name = database_name_for(request.node.name)
    with postgres_admin_engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = make_url(postgres_admin_engine.url).set(database=name)
    yield url.render_as_string(hide_password=False)
    _drop_database(postgres_admin_engine, name)


def _drop_database(engine: sa.Engine, name: str) -> None:
    with engine.connect() as conn:
        if (conn.dialect.server_version_info or (0,)) >= (13,):
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        conn.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        )
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for an empty catalog database: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/catalog.sqlite"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def cargohold_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated ``CARGOHOLD_HOME`` (not created: cargohold must create it) and no other
    ``CARGOHOLD_*`` settings leaking in from the developer's environment."""
    home = tmp_path / "home"
    monkeypatch.setenv("CARGOHOLD_HOME", str(home))
    for name in CARGOHOLD_ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    return home


# --- S3 (SeaweedFS) ---------------------------------------------------------------------------


@dataclass
class S3Server:
    """The S3 server ``scripts/test`` started; ``stop``/``start`` are for fault tests (the
    server keeps its ports, keys and data across them)."""

    endpoint: str
    access_key: str
    secret_key: str
    data_dir: str
    start_command: str
    stop_command: str

    def __repr__(self) -> str:
        return f"S3Server(endpoint={self.endpoint!r})"

    def stop(self) -> None:
        """Kill the server at once (as a crash would)."""
        subprocess.run(shlex.split(self.stop_command), check=True, timeout=30)

    def start(self) -> None:
        """Start it again and wait until a signed round-trip works."""
        subprocess.run(
            shlex.split(self.start_command), check=True, timeout=90, stdout=subprocess.DEVNULL
        )

    def client(self) -> Any:
        """A boto3 client with the server's keys, unaffected by any ``AWS_*`` setting."""
        return s3_client(self.endpoint, self.access_key, self.secret_key)


def s3_client(endpoint: str, access_key: str, secret_key: str) -> Any:
    import boto3
    from botocore.config import Config

    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("AWS_")]:
            mp.delenv(name)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        return boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"mode": "standard", "max_attempts": 3},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )


def bucket_name_for(test_name: str) -> str:
    """``test-bucket-<test>-<hex>``: a valid S3 bucket name of at most 63 characters, unique
    per call (SeaweedFS refuses short names, hence the long prefix)."""
    prefix, suffix = "test-bucket-", uuid.uuid4().hex[:8]
    stem = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-") or "test"
    stem = stem[: MAX_BUCKET_NAME_LENGTH - len(prefix) - len(suffix) - 1].strip("-")
    return f"{prefix}{stem}-{suffix}" if stem else f"{prefix}{suffix}"


@pytest.fixture(scope="session")
def s3_server() -> S3Server:
    names = ("ENDPOINT", "ACCESS_KEY", "SECRET_KEY", "DIR", "START", "STOP")
    values = {name: os.environ.get(S3_ENV + name, "") for name in names}
    missing = [S3_ENV + name for name, value in values.items() if not value]
    if not missing:
        return S3Server(*values.values())
    message = f"{', '.join(missing)} not set: run scripts/test, which starts SeaweedFS"
    if running_on_ci():
        pytest.fail(f"{message} (CI is set, so a missing server is a failure)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def s3_bucket(request: pytest.FixtureRequest, s3_server: S3Server) -> Iterator[str]:
    """A fresh, empty bucket for this test alone; emptied and deleted after it."""
    client = s3_server.client()
    name = bucket_name_for(request.node.name)
    client.create_bucket(Bucket=name)
    yield name
    _delete_bucket(client, name)


def _delete_bucket(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3_config(s3_server: S3Server, s3_bucket: str) -> dict[str, str]:
    """A storage provider config in Gradient's shape for this test's bucket."""
    return {
        "bucket": s3_bucket,
        "accessKey": s3_server.access_key,
        "secretAccessKey": s3_server.secret_key,
        "endpoint": s3_server.endpoint,
    }


SERVICE_MODES = ["in-process", "asgi", "uvicorn"]


@pytest.fixture(params=SERVICE_MODES)
def svc(request: pytest.FixtureRequest, cargohold_home: Path) -> Iterator[Services]:
    """The service protocol three ways: in-process, over ASGI, and against a real uvicorn."""
    from cargohold.services import build_services
    from cargohold.settings import Settings
    from tests.server_helpers import TestServer

    settings = Settings.from_env()
    if request.param == "in-process":
        services = build_services(settings)
        yield services
        services.close()
        return
    server = TestServer(settings, mode=request.param)
    try:
        yield server.services(server.key("contract"))
    finally:
        server.close()


@pytest.fixture(params=["local", "server"])
def cli(
    request: pytest.FixtureRequest,
    cargohold_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cli]:
    """The CLI in-process on the local catalog, and the same CLI against a real uvicorn
    server (on the same home: the cache stays the client's): every command must behave the
    same both ways."""
    from cargohold.settings import Settings
    from tests.cli_helpers import Cli
    from tests.server_helpers import TestServer

    if request.param == "local":
        yield Cli(capsys)
        return
    if request.node.get_closest_marker("local_only"):
        pytest.skip("about the local catalog")
    server = TestServer(Settings.from_env(), mode="uvicorn")
    monkeypatch.setenv("CARGOHOLD_SERVER", server.url)
    monkeypatch.setenv("CARGOHOLD_API_KEY", server.key("cli"))
    try:
        yield Cli(capsys)
    finally:
        server.close()
