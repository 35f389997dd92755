"""Versions' lineage: how a workflow made a version (recorded in its commit's transaction),
and the walk up to what it was made from and down to what was made from it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, insert, select

from cargohold.catalog import rows
from cargohold.catalog.catalog import CatalogBase
from cargohold.catalog.schema import datasets, lineage_inputs, version_lineage, versions
from cargohold.domain.workflows import (
    MAX_LINEAGE_DEPTH,
    MAX_LINEAGE_STEPS,
    Lineage,
    LineageGraph,
    LineageInput,
    LineageStep,
)
from cargohold.errors import VersionNotCommitted, VersionNotFound

Neighbours = Callable[[Connection, str, str, str], list[tuple[str, str]]]
"""(connection, team ID, dataset ID, version) -> the team's versions one step away, as
(dataset ID, version)."""


@dataclass
class _Walk:
    """One direction of a walk: the steps so far, the versions met, whether it was cut."""

    team_id: str
    next_to: Neighbours
    seen: set[str]
    steps: list[LineageStep] = field(default_factory=list)
    truncated: bool = False


class LineageCatalog(CatalogBase):
    # -- recording, inside the commit's transaction ------------------------------------------

    def _check_lineage_inputs(self, conn: Connection, team_id: str, lineage: Lineage) -> None:
        """Every input must be a committed version of the team (VersionNotFound or
        VersionNotCommitted otherwise): lineage only ever names what cannot change."""
        for given in lineage.inputs:
            row = self._team_version(conn, team_id, given.dataset_id, given.version)
            if row is None:
                raise VersionNotFound(
                    f"Lineage input {given.name!r} names no version of this team: {given.ref}",
                    dataset=given.dataset_id,
                    version=given.version,
                )
            if not row.is_committed:
                raise VersionNotCommitted(
                    f"Lineage input {given.name!r} names {given.ref}, which is not committed",
                    hint="A workflow reads committed versions only",
                    dataset=given.dataset_id,
                    version=given.version,
                )

    def _record_lineage(self, conn: Connection, version_pk: int, lineage: Lineage) -> None:
        conn.execute(
            insert(version_lineage).values(
                version_pk=version_pk,
                workflow_id=lineage.workflow_id,
                run=lineage.run,
                job=lineage.job,
                output=lineage.output,
                spec_sha256=lineage.spec_sha256,
                strings=dict(lineage.strings),
                dt_created=rows.now(),
            )
        )
        if lineage.inputs:
            conn.execute(
                insert(lineage_inputs),
                [
                    {
                        "version_pk": version_pk,
                        "name": i.name,
                        "dataset_id": i.dataset_id,
                        "version": i.version,
                    }
                    for i in lineage.inputs
                ],
            )

    # -- reading --------------------------------------------------------------------------

    def _lineage(self, conn: Connection, version_pk: int) -> Lineage | None:
        row = conn.execute(
            select(version_lineage).where(version_lineage.c.version_pk == version_pk)
        ).first()
        if row is None:
            return None
        c = lineage_inputs.c
        inputs = conn.execute(
            select(c.name, c.dataset_id, c.version)
            .where(c.version_pk == version_pk)
            .order_by(c.name)
        )
        return Lineage(
            workflow_id=row.workflow_id,
            run=int(row.run),
            job=row.job,
            output=row.output,
            spec_sha256=row.spec_sha256,
            inputs=tuple(LineageInput(*i) for i in inputs),
            strings={str(k): str(v) for k, v in (row.strings or {}).items()},
        )

    def lineage_graph(self, team_id: str, dataset_id: str, version: str) -> LineageGraph:
        """The version's lineage, walked up (its inputs, then theirs, ...) and down (the
        versions whose inputs name it, then theirs, ...), within the team."""
        with self.reading() as conn:
            row = self._team_version(conn, team_id, dataset_id, version)
            if row is None:
                raise VersionNotFound(
                    f"Version not found: {dataset_id}:{version}",
                    dataset=dataset_id,
                    version=version,
                )
            ref = f"{dataset_id}:{version}"
            up = _Walk(team_id, self._inputs_of, {ref})
            down = _Walk(team_id, self._made_from, {ref})
            self._walk(conn, up, dataset_id, version, 1)
            self._walk(conn, down, dataset_id, version, 1)
            return LineageGraph(
                ref=ref,
                lineage=self._lineage(conn, row.pk),
                dataset_name=row.name,
                up=tuple(up.steps),
                down=tuple(down.steps),
                truncated=up.truncated or down.truncated,
            )

    def _walk(
        self, conn: Connection, walk: _Walk, dataset_id: str, version: str, depth: int
    ) -> None:
        """Depth-first from one version: each neighbour once, then what lies beyond it."""
        for ds_id, v in walk.next_to(conn, walk.team_id, dataset_id, version):
            ref = f"{ds_id}:{v}"
            if ref in walk.seen:
                continue
            if depth > MAX_LINEAGE_DEPTH or len(walk.steps) >= MAX_LINEAGE_STEPS:
                walk.truncated = True
                return
            walk.seen.add(ref)
            walk.steps.append(self._step(conn, walk.team_id, ds_id, v, depth))
            self._walk(conn, walk, ds_id, v, depth + 1)

    def _step(
        self, conn: Connection, team_id: str, dataset_id: str, version: str, depth: int
    ) -> LineageStep:
        ref = f"{dataset_id}:{version}"
        row = self._team_version(conn, team_id, dataset_id, version)
        if row is not None:
            return LineageStep(ref, depth, row.name, self._lineage(conn, row.pk))
        name = conn.execute(
            select(datasets.c.name).where(
                datasets.c.id == dataset_id, datasets.c.team_id == team_id
            )
        ).scalar()
        return LineageStep(ref, depth, name, None, deleted=True)

    def _inputs_of(
        self, conn: Connection, team_id: str, dataset_id: str, version: str
    ) -> list[tuple[str, str]]:
        """Up: the input versions the version was made from, by input name (recorded only
        for the team's own versions: see _check_lineage_inputs)."""
        c = lineage_inputs.c
        query = (
            select(c.dataset_id, c.version)
            .select_from(lineage_inputs)
            .join(versions, versions.c.pk == c.version_pk)
            .where(versions.c.dataset_id == dataset_id, versions.c.version == version)
            .order_by(c.name)
        )
        return [(r.dataset_id, r.version) for r in conn.execute(query)]

    def _made_from(
        self, conn: Connection, team_id: str, dataset_id: str, version: str
    ) -> list[tuple[str, str]]:
        """Down: the team's versions whose inputs name this one, oldest first."""
        c = lineage_inputs.c
        query = (
            select(versions.c.dataset_id, versions.c.version)
            .select_from(lineage_inputs)
            .join(versions, versions.c.pk == c.version_pk)
            .join(datasets, datasets.c.id == versions.c.dataset_id)
            .where(c.dataset_id == dataset_id, c.version == version, datasets.c.team_id == team_id)
            .order_by(versions.c.pk)
        )
        return [(r.dataset_id, r.version) for r in conn.execute(query)]

    def _team_version(self, conn: Connection, team_id: str, dataset_id: str, version: str) -> Any:
        """The version row (with its dataset's `name`) if the team owns it, else None."""
        return conn.execute(
            select(versions, datasets.c.name)
            .join(datasets, datasets.c.id == versions.c.dataset_id)
            .where(
                datasets.c.team_id == team_id,
                versions.c.dataset_id == dataset_id,
                versions.c.version == version,
            )
        ).first()
