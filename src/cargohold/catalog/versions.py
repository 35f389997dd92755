"""Versions, tags and the files of a version; `Catalog` is the full catalog class."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    delete,
    insert,
    literal,
    or_,
    select,
)

from cargohold.catalog import rows
from cargohold.catalog.catalog import (
    WriteManifest,
    chunks,
    file_rows,
    touch_version,
    version_totals,
)
from cargohold.catalog.datasets import DatasetCatalog
from cargohold.catalog.lineage import LineageCatalog
from cargohold.catalog.quota import QuotaCatalog
from cargohold.catalog.schema import datasets, tags, version_files, versions
from cargohold.catalog.secrets import SecretCatalog
from cargohold.catalog.teams import TeamCatalog
from cargohold.catalog.workflows import WorkflowCatalog
from cargohold.domain.ids import is_version_id, new_version_id
from cargohold.domain.models import FileEntry, Tag, Version
from cargohold.domain.refs import LATEST
from cargohold.domain.workflows import Lineage
from cargohold.errors import (
    DatasetNotFound,
    InvalidName,
    TagNotFound,
    VersionCommitted,
    VersionNotFound,
)


class Catalog(
    DatasetCatalog, TeamCatalog, QuotaCatalog, SecretCatalog, LineageCatalog, WorkflowCatalog
):
    # -- versions ------------------------------------------------------------------------

    def add_version(
        self, dataset_id: str, message: str | None, parent: tuple[str, str] | None = None
    ) -> Version:
        stamp = rows.now()
        with self.writing() as conn:
            self._owner(dataset_id, conn)
            taken = set(
                conn.execute(
                    select(versions.c.version).where(versions.c.dataset_id == dataset_id)
                ).scalars()
            )
            taken |= set(
                conn.execute(select(tags.c.name).where(tags.c.dataset_id == dataset_id)).scalars()
            )
            vid = new_version_id(taken | {LATEST})
            parent_row = self._version_row(conn, *parent) if parent else None
            pk = conn.execute(
                insert(versions)
                .values(
                    dataset_id=dataset_id,
                    version=vid,
                    message=message,
                    is_committed=False,
                    parent=f"{parent[0]}:{parent[1]}" if parent else None,
                    file_count=0,
                    size=0,
                    dt_created=stamp,
                    dt_modified=stamp,
                )
                .returning(versions.c.pk)
            ).scalar_one()
            if parent_row is not None:
                self._copy_files(conn, parent_row.pk, pk)
        return self.get_version(dataset_id, vid)

    def _copy_files(self, conn: Connection, source_pk: int, target_pk: int) -> None:
        columns = [version_files.c.path, version_files.c.size, version_files.c.sha256]
        source = select(literal(target_pk), *columns, version_files.c.content_type).where(
            version_files.c.version_pk == source_pk
        )
        conn.execute(
            insert(version_files).from_select(
                ["version_pk", "path", "size", "sha256", "content_type"], source
            )
        )

    def get_version(self, dataset_id: str, version: str) -> Version:
        with self.reading() as conn:
            row = self._version_row(conn, dataset_id, version)
            return self._to_version(conn, row, with_lineage=True)

    def resolve(self, dataset_id: str, selector: str | None) -> Version:
        """The version a selector names: latest, then a version ID, then a tag (see refs.py).
        Without its lineage: every reference resolves here (each request for a file, too);
        `lineage_of` reads it where one version is shown."""
        with self.reading() as conn:
            if selector is None or selector == LATEST:
                row = conn.execute(self._latest_query(dataset_id)).first()
                if row is None:
                    raise VersionNotFound(
                        f"Dataset {dataset_id} has no committed version yet",
                        hint="Commit a version with: cargohold datasets versions commit --id "
                        "DATASET:VERSION",
                        dataset=dataset_id,
                    )
                return self._to_version(conn, row)
            row = self._find_version(conn, dataset_id, selector)
            if row is None:
                row = self._tagged_version(conn, dataset_id, selector)
            return self._to_version(conn, row)

    def _latest_query(self, dataset_id: str) -> Select[Any]:
        return (
            select(versions)
            .where(versions.c.dataset_id == dataset_id, versions.c.is_committed)
            .order_by(versions.c.pk.desc())
            .limit(1)
        )

    def _tagged_version(self, conn: Connection, dataset_id: str, selector: str) -> Any:
        row = conn.execute(
            select(versions)
            .join(tags, tags.c.version_pk == versions.c.pk)
            .where(tags.c.dataset_id == dataset_id, tags.c.name == selector)
        ).first()
        if row is not None:
            return row
        if is_version_id(selector):
            raise VersionNotFound(
                f"Version or tag not found: {dataset_id}:{selector}",
                dataset=dataset_id,
                version=selector,
            )
        raise TagNotFound(
            f"Tag not found: {dataset_id}:{selector}", dataset=dataset_id, tag=selector
        )

    def list_versions(
        self,
        dataset_id: str,
        committed: bool | None = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Version]:
        query = select(versions).where(versions.c.dataset_id == dataset_id)
        if committed is not None:
            query = query.where(versions.c.is_committed == committed)
        query = query.order_by(versions.c.pk.desc()).limit(limit).offset(offset)
        with self.reading() as conn:
            return [self._to_version(conn, r) for r in conn.execute(query).all()]

    def update_version(self, dataset_id: str, version: str, message: str | None) -> Version:
        with self.writing() as conn:
            row = self._version_row(conn, dataset_id, version, lock=True)
            touch_version(conn, row.pk, message=message)
        return self.get_version(dataset_id, version)

    def delete_version(self, dataset_id: str, version: str) -> Version:
        with self.writing() as conn:
            row = self._version_row(conn, dataset_id, version, lock=True)
            gone = self._to_version(conn, row)
            conn.execute(delete(versions).where(versions.c.pk == row.pk))
        return gone

    def commit_version(
        self,
        dataset_id: str,
        version: str,
        write_manifest: WriteManifest,
        lineage: Lineage | None = None,
    ) -> Version:
        """Freeze a version (its files' objects are stored: `stage_files` saw to it); the
        manifest is written, then the flag, then the lineage, all or nothing: a workflow's
        output is never committed without the record of how it was made."""
        with self.writing() as conn:
            row = self._writable_row(conn, dataset_id, version)
            if lineage is not None:  # before the manifest is written for nothing
                self._check_lineage_inputs(conn, self._owner(dataset_id, conn)[0], lineage)
            count = size = 0

            def counted() -> Iterator[FileEntry]:
                nonlocal count, size
                for e in self._files_to_commit(conn, row.pk):
                    count, size = count + 1, size + e.size
                    yield e

            digest = write_manifest(counted())
            touch_version(
                conn,
                row.pk,
                is_committed=True,
                manifest_sha256=digest,
                file_count=count,
                size=size,
                dt_committed=rows.now(),
            )
            if lineage is not None:
                self._record_lineage(conn, row.pk, lineage)
        return self.get_version(dataset_id, version)

    # -- tags ----------------------------------------------------------------------------

    def set_tag(self, dataset_id: str, name: str, version: str) -> Tag:
        stamp = rows.now()
        with self.writing() as conn:
            if self._find_version(conn, dataset_id, name) is not None:
                raise InvalidName(
                    f"Tag name {name!r} is a version ID of {dataset_id}",
                    hint="A tag may not share its name with a version of its dataset",
                    name=name,
                )
            target = self._version_row(conn, dataset_id, version)
            statement = self._insert_for()(tags).values(
                dataset_id=dataset_id,
                name=name,
                version_pk=target.pk,
                dt_created=stamp,
                dt_modified=stamp,
            )
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["dataset_id", "name"],
                    set_={"version_pk": target.pk, "dt_modified": stamp},
                )
            )
        return self.get_tag(dataset_id, name)

    def _tag_query(self, dataset_id: str) -> Select[Any]:
        return (
            select(tags, versions.c.version, versions.c.message)
            .join(versions, versions.c.pk == tags.c.version_pk)
            .where(tags.c.dataset_id == dataset_id)
        )

    def get_tag(self, dataset_id: str, name: str) -> Tag:
        with self.reading() as conn:
            row = conn.execute(self._tag_query(dataset_id).where(tags.c.name == name)).first()
        if row is None:
            raise TagNotFound(f"Tag not found: {dataset_id}:{name}", dataset=dataset_id, tag=name)
        return rows.tag(row)

    def list_tags(self, dataset_id: str) -> list[Tag]:
        with self.reading() as conn:
            return [
                rows.tag(r) for r in conn.execute(self._tag_query(dataset_id).order_by(tags.c.name))
            ]

    def delete_tag(self, dataset_id: str, name: str) -> Tag:
        gone = self.get_tag(dataset_id, name)
        with self.writing() as conn:
            conn.execute(delete(tags).where(tags.c.dataset_id == dataset_id, tags.c.name == name))
        return gone

    # -- files of a version --------------------------------------------------------------

    def stage_files(
        self,
        dataset_id: str,
        version: str,
        entries: Sequence[FileEntry],
        landed: dict[str, int] | None = None,
    ) -> None:
        """Add or replace files of an uncommitted version; their objects must be stored.

        `landed` records objects that have just been stored whole, in the same transaction.
        """
        entries = list({e.path: e for e in entries}.values())  # one path once: the last wins
        team_id, provider_id = self._owner(dataset_id)
        with self.writing() as conn:
            row = self._writable_row(conn, dataset_id, version)
            if landed:
                self._record(conn, team_id, provider_id, landed)
            self._check_objects(conn, team_id, provider_id, entries)
            for part in chunks(list(entries)):
                paths = [e.path for e in part]
                conn.execute(
                    delete(version_files).where(
                        version_files.c.version_pk == row.pk, version_files.c.path.in_(paths)
                    )
                )
                conn.execute(insert(version_files), file_rows(row.pk, part))
            touch_version(conn, row.pk)

    def remove_files(
        self, dataset_id: str, version: str, keys: Sequence[str], prefixes: Sequence[str]
    ) -> int:
        """Remove files (exact keys) and directories (prefixes; '' is everything)."""
        with self.writing() as conn:
            row = self._writable_row(conn, dataset_id, version)
            matches: list[ColumnElement[bool]] = (
                [version_files.c.path.in_(list(keys))] if keys else []
            )
            matches += [rows.under(p) for p in prefixes]
            if not matches:
                return 0
            removed = conn.execute(
                delete(version_files).where(version_files.c.version_pk == row.pk, or_(*matches))
            ).rowcount
            touch_version(conn, row.pk)
        return int(removed)

    def files(
        self,
        dataset_id: str,
        version: str,
        prefix: str = "",
        after: str | None = None,
        limit: int | None = None,
    ) -> list[FileEntry]:
        """Files under a directory prefix, in path order; `after` pages through them."""
        with self.reading() as conn:
            row = self._version_row(conn, dataset_id, version)
            return self._files(conn, row.pk, prefix, after, limit)

    def _files(
        self, conn: Connection, pk: int, prefix: str, after: str | None, limit: int | None
    ) -> list[FileEntry]:
        c = version_files.c
        query = select(c.path, c.size, c.sha256, c.content_type).where(
            c.version_pk == pk, rows.under(prefix)
        )
        if after is not None:
            query = query.where(c.path > after)
        query = query.order_by(c.path).limit(limit)
        return [FileEntry._make(r) for r in conn.execute(query)]

    def file(self, dataset_id: str, version: str, key: str) -> FileEntry | None:
        with self.reading() as conn:
            pk = self._version_row(conn, dataset_id, version).pk
            row = conn.execute(
                select(version_files).where(
                    version_files.c.version_pk == pk, version_files.c.path == key
                )
            ).first()
        return rows.file_entry(row) if row else None

    # -- helpers -------------------------------------------------------------------------

    def _files_to_commit(self, conn: Connection, version_pk: int) -> Iterator[FileEntry]:
        """All files of a version in path order, streamed. Read through the driver's own
        cursor: SQLAlchemy's rows cost 3 s of a 1,000,000-file commit. Their objects are not
        checked again here: `stage_files` admits a file only when its object is recorded,
        and object records are never removed (a garbage collector will have to keep every
        object a version names), which spares a big commit as many index lookups (5 s)."""
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        cursor = conn.connection.cursor()
        try:
            cursor.execute(
                "SELECT path, size, sha256, content_type FROM version_files "
                f"WHERE version_pk = {mark} ORDER BY path",
                (version_pk,),
            )
            while batch := cursor.fetchmany(10_000):
                yield from map(FileEntry._make, batch)
        finally:
            cursor.close()

    def _owner(self, dataset_id: str, conn: Connection | None = None) -> tuple[str, str]:
        """The team and provider of a dataset (DatasetNotFound when there is none)."""
        if conn is None:
            with self.reading() as own:
                return self._owner(dataset_id, own)
        row = conn.execute(
            select(datasets.c.team_id, datasets.c.storage_provider_id).where(
                datasets.c.id == dataset_id
            )
        ).first()
        if row is None:
            raise DatasetNotFound(f"Dataset not found: {dataset_id}", dataset=dataset_id)
        return row.team_id, row.storage_provider_id

    def _find_version(
        self, conn: Connection, dataset_id: str, version: str, lock: bool = False
    ) -> Any:
        query = select(versions).where(
            versions.c.dataset_id == dataset_id, versions.c.version == version
        )
        if lock and self.for_update:
            query = query.with_for_update()
        return conn.execute(query).first()

    def _version_row(
        self, conn: Connection, dataset_id: str, version: str, lock: bool = False
    ) -> Any:
        row = self._find_version(conn, dataset_id, version, lock)
        if row is None:
            raise VersionNotFound(
                f"Version not found: {dataset_id}:{version}", dataset=dataset_id, version=version
            )
        return row

    def _writable_row(self, conn: Connection, dataset_id: str, version: str) -> Any:
        row = self._version_row(conn, dataset_id, version, lock=True)
        if row.is_committed:
            raise VersionCommitted(
                f"Version {dataset_id}:{version} is committed and cannot be changed",
                dataset=dataset_id,
                version=version,
            )
        return row

    def _to_version(self, conn: Connection, row: Any, *, with_lineage: bool = False) -> Version:
        """The version of a row; `with_lineage` where one version is answered (a listing
        would pay more queries per version)."""
        names = tuple(
            conn.execute(
                select(tags.c.name).where(tags.c.version_pk == row.pk).order_by(tags.c.name)
            ).scalars()
        )
        if row.is_committed:
            count, size = int(row.file_count), int(row.size)
        else:
            count, size = version_totals(conn, row.pk)
        found = rows.version(row, names, count, size)
        if with_lineage and row.is_committed:
            return replace(found, lineage=self._lineage(conn, row.pk))
        return found
