"""Engines for SQLite (WAL, immediate write transactions) and PostgreSQL, and migrations."""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

from cargohold.errors import CatalogUnavailable, ConfigurationError

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0006"
"""The newest migration; bump it with every new migration file (a test checks it)."""


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigurationError(
            f"Invalid catalog URL: {exc}",
            hint="CARGOHOLD_DATABASE_URL takes sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, parsed.database)
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(False)
        return create_engine(url, pool_pre_ping=True, pool_size=5)
    raise ConfigurationError(
        f"Unsupported catalog database: {parsed.get_backend_name()}",
        hint="Use SQLite (the default) or PostgreSQL",
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


MIGRATION_LOCK = 0x636172676F686F6C  # "cargohol": the advisory lock migrations take
"""Processes opening one catalog at once (servers started together, `--workers N`) migrate
one after the other: on PostgreSQL they take this transaction-scoped advisory lock, and on
SQLite the write lock of `BEGIN IMMEDIATE`. The next one then finds the schema at HEAD."""


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; cheap when it is already there. A catalog
    a newer cargohold migrated further is refused plainly (it cannot be migrated back).
    SQLite processes also take a lock file beside the database around the whole step: its
    WAL switch and first reads raced the write lock (seen: a migration run twice)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    with _lock_file(database) as lock:
        if lock is not None:
            # Exclusive even to read the revision: on a fresh file that first read switches
            # it to WAL, which fails at once ("database is locked") beside a migrator.
            fcntl.flock(lock, fcntl.LOCK_EX)
        _migrate(engine)


@contextlib.contextmanager
def _lock_file(database: str | None) -> Iterator[IO[str] | None]:
    """The lock file beside a SQLite database (None for PostgreSQL, memory, or a folder
    this process may not write: then the write lock alone serialises)."""
    if not database or database == ":memory:":
        yield None
        return
    try:
        lock = open(f"{database}.migrate-lock", "a")  # noqa: SIM115 - held across the yield
    except OSError:
        yield None
        return
    with lock:
        yield lock


def _migrate(engine: Engine) -> None:
    current = current_revision(engine)
    if current == HEAD:
        return
    if current is not None and current > HEAD:  # revisions are zero-padded numbers
        raise CatalogUnavailable(
            f"The catalog is at schema {current}, newer than this cargohold knows ({HEAD})",
            hint="Upgrade cargohold (pip install -U cargohold) to use this catalog",
        )
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, "head")
        conn.commit()
