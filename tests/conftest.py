"""Fixtures shared by the whole suite.

PostgreSQL is a real server started by ``scripts/test``, which exports its URL as
``CARGOHOLD_TEST_POSTGRES_URL``. Each test that asks for ``postgres_url`` gets a fresh database
named after it, dropped afterwards. Without the server, such tests are skipped locally and fail
under ``CI=true``: CI must never pass by skipping them.

This module imports nothing from ``cargohold``.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

POSTGRES_URL_ENV = "CARGOHOLD_TEST_POSTGRES_URL"
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
