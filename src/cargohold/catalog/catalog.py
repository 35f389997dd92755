"""The catalog: teams, storage providers, datasets, versions, tags, files and known objects.

One class over SQLite or PostgreSQL. Each public method is one transaction; methods that
write take the write lock up front (``BEGIN IMMEDIATE`` on SQLite, ``FOR UPDATE`` on the
version row on PostgreSQL) so that concurrent writers serialise instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Table, and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError
from sqlalchemy.exc import InterfaceError, OperationalError

from cargohold.catalog import rows
from cargohold.catalog.engine import make_engine, migrate
from cargohold.catalog.schema import (
    datasets,
    objects,
    packs,
    pending_objects,
    storage_providers,
    teams,
    version_files,
    versions,
)
from cargohold.domain.models import FileEntry, ObjectLocation, StorageProvider, Team
from cargohold.domain.packs import PackMember
from cargohold.errors import (
    CatalogUnavailable,
    NameTaken,
    ObjectMissing,
    StorageProviderNotFound,
    TeamNotFound,
)

BATCH = 2000
"""Rows per INSERT statement / IN (...) list."""


def chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@contextmanager
def unavailable_as_error(engine: Engine) -> Iterator[None]:
    """A database that cannot be reached or used becomes one clear error (no password shown)."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        where = engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise CatalogUnavailable(f"Cannot use the catalog at {where}: {reason}") from None


class CatalogBase:
    """Engine, transactions and the team/provider/object tables."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)
        with unavailable_as_error(self.engine):
            migrate(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with unavailable_as_error(self.engine), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        with (
            unavailable_as_error(self.engine),
            self.engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn,
            conn.begin(),
        ):
            yield conn

    def ping(self) -> None:
        """One trivial query: raises CatalogUnavailable when the database cannot answer."""
        with self.reading() as conn:
            conn.execute(select(1))

    @property
    def for_update(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    # -- teams ---------------------------------------------------------------------------

    def default_team(self) -> Team | None:
        with self.reading() as conn:
            row = conn.execute(select(teams).where(teams.c.is_default)).first()
        return rows.team(row) if row else None

    def add_team(self, team_id: str, name: str, *, is_default: bool = False) -> Team:
        values = {"id": team_id, "name": name, "is_default": is_default, "dt_created": rows.now()}
        try:
            with self.writing() as conn:
                conn.execute(insert(teams).values(**values))
        except SqlIntegrityError:
            raise NameTaken(f"A team named {name!r} already exists", name=name) from None
        return self.get_team(team_id)

    def _lock_team(self, conn: Connection, team_id: str) -> None:
        """Serialise the team's quota bookkeeping (`pending_objects`) for the rest of the
        transaction. On PostgreSQL the team's row is locked FOR NO KEY UPDATE: exclusive
        among these locks, yet no obstacle to the foreign-key checks of rows inserted for the
        team (FOR UPDATE would wait for, and hold up, every open transaction recording an
        object, a pack or a dataset of the team). SQLite's BEGIN IMMEDIATE already serialises
        writers."""
        query = select(teams.c.id).where(teams.c.id == team_id)
        if self.for_update:
            query = query.with_for_update(key_share=True)
        if conn.execute(query).first() is None:
            raise TeamNotFound(f"Team not found: {team_id}", team=team_id)

    def get_team(self, team_id: str) -> Team:
        with self.reading() as conn:
            row = conn.execute(select(teams).where(teams.c.id == team_id)).first()
        if row is None:
            raise TeamNotFound(f"Team not found: {team_id}", team=team_id)
        return rows.team(row)

    # -- storage providers ---------------------------------------------------------------

    def add_provider(self, p: StorageProvider) -> StorageProvider:
        stamp = rows.now()
        values = {
            "id": p.id,
            "team_id": p.team_id,
            "name": p.name,
            "type": p.type,
            "config": p.config,
            "is_managed": p.is_managed,
            "dt_created": stamp,
            "dt_modified": stamp,
        }
        try:
            with self.writing() as conn:
                conn.execute(insert(storage_providers).values(**values))
        except SqlIntegrityError:
            raise NameTaken(
                f"A storage provider named {p.name!r} already exists", name=p.name
            ) from None
        return self.get_provider(p.team_id, p.id)

    def get_provider(self, team_id: str, provider_id: str) -> StorageProvider:
        with self.reading() as conn:
            return self._provider(conn, team_id, provider_id)

    def _provider(self, conn: Connection, team_id: str, provider_id: str) -> StorageProvider:
        row = conn.execute(
            select(storage_providers).where(
                storage_providers.c.team_id == team_id, storage_providers.c.id == provider_id
            )
        ).first()
        if row is None:
            raise StorageProviderNotFound(
                f"Storage provider not found: {provider_id}", storageProviderId=provider_id
            )
        return rows.provider(row)

    def list_providers(self, team_id: str) -> list[StorageProvider]:
        query = (
            select(storage_providers)
            .where(storage_providers.c.team_id == team_id)
            .order_by(storage_providers.c.name)
        )
        with self.reading() as conn:
            return [rows.provider(r) for r in conn.execute(query)]

    def managed_provider(self, team_id: str) -> StorageProvider | None:
        query = select(storage_providers).where(
            storage_providers.c.team_id == team_id, storage_providers.c.is_managed
        )
        with self.reading() as conn:
            row = conn.execute(query).first()
        return rows.provider(row) if row else None

    # -- objects known to be stored in a provider ----------------------------------------

    def known_objects(self, team_id: str, provider_id: str, shas: Iterable[str]) -> set[str]:
        with self.reading() as conn:
            return self._known(conn, team_id, provider_id, shas)

    def record_objects(self, team_id: str, provider_id: str, sizes: dict[str, int]) -> None:
        """Remember objects that are now whole and verified in the provider."""
        with self.writing() as conn:
            self._record(conn, team_id, provider_id, sizes)

    def _record(
        self, conn: Connection, team_id: str, provider_id: str, sizes: dict[str, int]
    ) -> None:
        found = [{"sha256": sha, "size": size} for sha, size in sorted(sizes.items())]
        self._add_objects(conn, team_id, provider_id, found)

    def _add_objects(
        self, conn: Connection, team_id: str, provider_id: str, values: list[dict[str, Any]]
    ) -> None:
        """Insert object rows; one already recorded keeps its first row (and location).
        Their reservations (catalog/quota.py) go in the same transaction."""
        self._release(conn, team_id, provider_id, [v["sha256"] for v in values])
        owner = {"team_id": team_id, "provider_id": provider_id, "dt_created": rows.now()}
        dialect_insert = self._insert_for()
        for part in chunks([{**owner, **v} for v in values]):
            conn.execute(dialect_insert(objects).on_conflict_do_nothing(), list(part))

    def record_pack(
        self,
        team_id: str,
        provider_id: str,
        pack_sha256: str,
        size: int,
        members: Sequence[PackMember],
    ) -> None:
        """Remember a pack that is whole in the provider, and where each member sits in it.

        A member already known (whole, or in another pack) keeps its first location."""
        stamp = rows.now()
        dialect_insert = self._insert_for()
        with self.writing() as conn:
            conn.execute(
                dialect_insert(packs)
                .values(
                    team_id=team_id,
                    provider_id=provider_id,
                    sha256=pack_sha256,
                    size=size,
                    members=len(members),
                    dt_created=stamp,
                )
                .on_conflict_do_nothing()
            )
            placed = [
                {"sha256": m.sha256, "size": m.length, "pack": pack_sha256, "pack_offset": m.offset}
                for m in members
            ]
            self._add_objects(conn, team_id, provider_id, placed)

    def _release(self, conn: Connection, team_id: str, provider_id: str, shas: list[str]) -> None:
        """Delete the reservations of contents being recorded. Looked for without a lock
        first: most records have none (no quota, or objects healed). When some exist, the
        team is locked before they are deleted, as `reserve` locks it before it touches
        them, so reservation rows only change under that lock and no two transactions can
        each wait for the other's rows. A reservation made after the look (by a client
        racing this record) counts for nothing: `reserve` ignores recorded contents."""
        column = pending_objects.c.sha256
        held = sorted(
            row.sha256
            for row in self._by_sha(conn, pending_objects, [column], team_id, provider_id, shas)
        )
        if not held:
            return
        self._lock_team(conn, team_id)
        for part in chunks(held):
            conn.execute(
                delete(pending_objects).where(
                    pending_objects.c.team_id == team_id,
                    pending_objects.c.provider_id == provider_id,
                    column.in_(part),
                )
            )

    def known_packs(self, team_id: str, provider_id: str) -> set[str]:
        query = select(packs.c.sha256).where(
            packs.c.team_id == team_id, packs.c.provider_id == provider_id
        )
        with self.reading() as conn:
            return set(conn.execute(query).scalars())

    def object_locations(
        self, team_id: str, provider_id: str, shas: Iterable[str]
    ) -> dict[str, ObjectLocation]:
        columns = [objects.c.sha256, objects.c.size, objects.c.pack, objects.c.pack_offset]
        with self.reading() as conn:
            return {
                row.sha256: ObjectLocation(row.sha256, int(row.size), row.pack, row.pack_offset)
                for row in self._by_sha(conn, objects, columns, team_id, provider_id, shas)
            }

    def pack_sizes(self, team_id: str, provider_id: str, shas: Iterable[str]) -> dict[str, int]:
        columns = [packs.c.sha256, packs.c.size]
        with self.reading() as conn:
            return {
                row.sha256: int(row.size)
                for row in self._by_sha(conn, packs, columns, team_id, provider_id, shas)
            }

    def usage(self, team_id: str, provider_id: str) -> int:
        """Bytes of content the team stores in the provider (each content counted once)."""
        query = select(func.coalesce(func.sum(objects.c.size), 0)).where(
            objects.c.team_id == team_id, objects.c.provider_id == provider_id
        )
        with self.reading() as conn:
            return int(conn.execute(query).scalar_one())

    def _insert_for(self) -> Any:
        """The dialect's INSERT (with ON CONFLICT), imported on first use: the PostgreSQL
        dialect costs a SQLite user 40 ms of start-up (it brings asyncio)."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert

    def _known(self, conn: Connection, team_id: str, provider_id: str, shas: Any) -> set[str]:
        found = self._by_sha(conn, objects, [objects.c.sha256], team_id, provider_id, shas)
        return {row.sha256 for row in found}

    def _by_sha(
        self,
        conn: Connection,
        table: Table,
        columns: list[Any],
        team_id: str,
        provider_id: str,
        shas: Iterable[str],
    ) -> Iterator[Any]:
        """Rows of a team's `objects`, `packs` or `pending_objects` in a provider with these
        SHA-256s, asked for in chunks (a query takes only so many parameters)."""
        for part in chunks(sorted(set(shas))):
            yield from conn.execute(
                select(*columns).where(
                    table.c.team_id == team_id,
                    table.c.provider_id == provider_id,
                    table.c.sha256.in_(part),
                )
            )

    def _check_objects(
        self, conn: Connection, team_id: str, provider_id: str, entries: Sequence[FileEntry]
    ) -> None:
        missing = {e.sha256 for e in entries} - self._known(
            conn, team_id, provider_id, {e.sha256 for e in entries}
        )
        if missing:
            first = next(e for e in entries if e.sha256 in missing)
            raise ObjectMissing(
                f"{len(missing)} object(s) are not stored in the provider, e.g. {first.path!r} "
                f"({first.sha256[:12]})",
                missing=len(missing),
                path=first.path,
            )


def file_rows(version_pk: int, entries: Sequence[FileEntry]) -> list[dict[str, Any]]:
    return [
        {
            "version_pk": version_pk,
            "path": e.path,
            "size": e.size,
            "sha256": e.sha256,
            "content_type": e.content_type,
        }
        for e in entries
    ]


def version_totals(conn: Connection, version_pk: int) -> tuple[int, int]:
    count, size = conn.execute(
        select(func.count(), func.coalesce(func.sum(version_files.c.size), 0)).where(
            version_files.c.version_pk == version_pk
        )
    ).one()
    return int(count), int(size)


def touch_version(conn: Connection, version_pk: int, **values: Any) -> None:
    conn.execute(
        update(versions).where(versions.c.pk == version_pk).values(dt_modified=rows.now(), **values)
    )


def dataset_of(conn: Connection, team_id: str, key: str, *, by_id: bool) -> Any:
    column = datasets.c.id if by_id else datasets.c.name
    return conn.execute(
        select(datasets).where(and_(datasets.c.team_id == team_id, column == key))
    ).first()


WriteManifest = Callable[[Iterator[FileEntry]], str]
"""Called by commit with the version's files, in path order, streamed from inside the commit
transaction (a million of them are never all in memory); returns the SHA-256 of the manifest
it wrote into the provider, having consumed every file."""
