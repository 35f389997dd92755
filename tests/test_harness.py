"""The test harness itself: a real PostgreSQL, one fresh database per test, both catalogs."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

# Databases handed to earlier tests in this module; later tests check they were dropped.
_databases_seen: list[str] = []


@pytest.mark.parametrize("run", ["first", "second"])
def test_each_test_gets_its_own_empty_database(
    run: str, postgres_url: str, postgres_admin_engine: sa.Engine
) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.begin() as conn:
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            assert not sa.inspect(conn).has_table("probe"), "saw another test's table"
            conn.execute(sa.text("CREATE TABLE probe (id integer PRIMARY KEY, label text)"))
            conn.execute(sa.text("INSERT INTO probe VALUES (1, :label)"), {"label": run})
            assert conn.execute(sa.text("SELECT label FROM probe")).scalar_one() == run
    finally:
        engine.dispose()

    assert name != "postgres"
    assert name.startswith("test_each_test_gets_its_own_empty_database_")
    with postgres_admin_engine.connect() as conn:
        existing = set(conn.execute(sa.text("SELECT datname FROM pg_database")).scalars())
    assert name in existing
    assert not existing & set(_databases_seen), "an earlier test's database was not dropped"
    _databases_seen.append(name)


@pytest.mark.parametrize("label", ["Mixed-Case, spaces & / symbols " + "x" * 100])
def test_database_name_is_a_short_lowercase_identifier(label: str, postgres_url: str) -> None:
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
    finally:
        engine.dispose()
    assert len(name) <= 63  # PostgreSQL's identifier limit
    assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name


def test_catalog_url_connects(catalog_url: str) -> None:
    engine = sa.create_engine(catalog_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    finally:
        engine.dispose()
    assert engine.dialect.name in {"sqlite", "postgresql"}
