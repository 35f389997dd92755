"""Versions' lineage: how a workflow made a version (recorded in its commit's transaction),
and the walk up to what it was made from and down to what was made from it.

A walk reads the catalog a level at a time, not a version at a time: when it first needs a
version it has not read, it reads it together with every version it has met and not read yet
(at most MAX_LINEAGE_STEPS of them): their dataset names, lineage and next versions, in a few
queries. Most walks cost a few queries per level of depth, whatever their width.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field, replace
from itertools import islice
from typing import Any

from sqlalchemy import Connection, insert, select, tuple_

from cargohold.catalog import rows
from cargohold.catalog.catalog import CatalogBase, chunks
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

Key = tuple[str, str]
"""A version as (dataset ID, version)."""


@dataclass(frozen=True)
class _Node:
    """A version met on a walk: its dataset's name (None when the dataset was deleted), how
    it was made, whether it was deleted since, and the versions one step away."""

    name: str | None
    lineage: Lineage | None
    deleted: bool
    next: tuple[Key, ...]


Read = Callable[[Sequence[Key]], dict[Key, _Node]]
"""Versions -> their nodes, with the next versions in one direction of the walk."""


@dataclass
class _Walk:
    """One direction of a walk, depth-first from its root; each version once."""

    read: Read
    nodes: dict[Key, _Node]
    seen: set[Key]
    unread: dict[Key, None] = field(default_factory=dict)  # met, not read yet, in order met
    steps: list[LineageStep] = field(default_factory=list)
    truncated: bool = False

    @classmethod
    def start(cls, read: Read, root: Key, node: _Node) -> _Walk:
        walk = cls(read, {root: node}, {root})
        walk.unread.update(dict.fromkeys(node.next))
        walk.walk(root, 1)
        return walk

    def walk(self, key: Key, depth: int) -> None:
        """Each next version of `key` not met yet, then what lies beyond it."""
        for after in self.nodes[key].next:
            if after in self.seen:
                continue
            if depth > MAX_LINEAGE_DEPTH or len(self.steps) >= MAX_LINEAGE_STEPS:
                self.truncated = True
                return
            self.seen.add(after)
            node = self._node(after)
            self.steps.append(
                LineageStep(_ref(after), depth, node.name, node.lineage, node.deleted)
            )
            self.walk(after, depth + 1)

    def _node(self, key: Key) -> _Node:
        """The version's node, read with every version met and not read yet."""
        if key not in self.nodes:
            others = (k for k in self.unread if k != key)
            batch = [key, *islice(others, MAX_LINEAGE_STEPS - 1)]
            found = self.read(batch)
            self.nodes.update(found)
            for k in batch:
                self.unread.pop(k, None)
            for node in found.values():
                self.unread.update(dict.fromkeys(k for k in node.next if k not in self.nodes))
        return self.nodes[key]


class LineageCatalog(CatalogBase):
    # -- recording, inside the commit's transaction ------------------------------------------

    def _check_lineage_inputs(self, conn: Connection, team_id: str, lineage: Lineage) -> None:
        """Every input must be a committed version of the team (VersionNotFound or
        VersionNotCommitted otherwise): lineage only ever names what cannot change."""
        found = _team_versions(conn, team_id, [_key(i) for i in lineage.inputs])
        for given in lineage.inputs:
            row = found.get(_key(given))
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
        return _lineages(conn, [version_pk]).get(version_pk)

    def lineage_of(self, dataset_id: str, version: str) -> Lineage | None:
        """How a workflow made the version (None for one made by hand)."""
        with self.reading() as conn:
            pk = conn.execute(
                select(versions.c.pk).where(
                    versions.c.dataset_id == dataset_id, versions.c.version == version
                )
            ).scalar()
            return None if pk is None else _lineages(conn, [pk]).get(pk)

    def lineage_graph(self, team_id: str, dataset_id: str, version: str) -> LineageGraph:
        """The version's lineage, walked up (its inputs, then theirs, ...) and down (the
        versions whose inputs name it, then theirs, ...), within the team."""
        root = (dataset_id, version)
        with self.reading() as conn:

            def up(keys: Sequence[Key]) -> dict[Key, _Node]:
                return _nodes(conn, team_id, keys)

            def down(keys: Sequence[Key]) -> dict[Key, _Node]:
                made = _made_from(conn, team_id, keys)
                return {k: replace(n, next=made.get(k, ())) for k, n in up(keys).items()}

            node = up([root])[root]
            if node.deleted:
                raise VersionNotFound(
                    f"Version not found: {_ref(root)}", dataset=dataset_id, version=version
                )
            below = _made_from(conn, team_id, [root]).get(root, ())
            made_from = _Walk.start(up, root, node)
            used_by = _Walk.start(down, root, replace(node, next=below))
            return LineageGraph(
                ref=_ref(root),
                lineage=node.lineage,
                dataset_name=node.name,
                up=tuple(made_from.steps),
                down=tuple(used_by.steps),
                truncated=made_from.truncated or used_by.truncated,
            )


# -- queries, each over many versions -----------------------------------------------------


def _nodes(conn: Connection, team_id: str, keys: Sequence[Key]) -> dict[Key, _Node]:
    """The versions' nodes, next being their inputs (by input name): the walk up. A version
    that is not the team's (deleted since) has no inputs, and its dataset's name if the team
    still has the dataset."""
    found = _team_versions(conn, team_id, keys)
    made = _lineages(conn, [r.pk for r in found.values()])
    names = _dataset_names(conn, team_id, {k[0] for k in keys if k not in found})
    nodes: dict[Key, _Node] = {}
    for key in keys:
        row = found.get(key)
        if row is None:
            nodes[key] = _Node(names.get(key[0]), None, True, ())
            continue
        lineage = made.get(row.pk)
        inputs = tuple(_key(i) for i in lineage.inputs) if lineage else ()
        nodes[key] = _Node(row.name, lineage, False, inputs)
    return nodes


def _team_versions(conn: Connection, team_id: str, keys: Collection[Key]) -> dict[Key, Any]:
    """The rows (with their dataset's `name`) of those versions the team has."""
    found: dict[Key, Any] = {}
    for part in chunks(sorted(set(keys))):
        query = (
            select(versions.c.pk, versions.c.dataset_id, versions.c.version, datasets.c.name)
            .add_columns(versions.c.is_committed)
            .join(datasets, datasets.c.id == versions.c.dataset_id)
            .where(
                datasets.c.team_id == team_id,
                tuple_(versions.c.dataset_id, versions.c.version).in_(part),
            )
        )
        found.update({(r.dataset_id, r.version): r for r in conn.execute(query)})
    return found


def _lineages(conn: Connection, pks: Sequence[int]) -> dict[int, Lineage]:
    """How workflows made these versions, by key (versions made by hand are left out)."""
    made: dict[int, Lineage] = {}
    c = lineage_inputs.c
    for part in chunks(pks):
        inputs: dict[int, list[LineageInput]] = defaultdict(list)
        for i in conn.execute(
            select(c.version_pk, c.name, c.dataset_id, c.version)
            .where(c.version_pk.in_(part))
            .order_by(c.version_pk, c.name)
        ):
            inputs[i.version_pk].append(LineageInput(i.name, i.dataset_id, i.version))
        for row in conn.execute(
            select(version_lineage).where(version_lineage.c.version_pk.in_(part))
        ):
            made[row.version_pk] = Lineage(
                workflow_id=row.workflow_id,
                run=int(row.run),
                job=row.job,
                output=row.output,
                spec_sha256=row.spec_sha256,
                inputs=tuple(inputs[row.version_pk]),
                strings={str(k): str(v) for k, v in (row.strings or {}).items()},
            )
    return made


def _made_from(conn: Connection, team_id: str, keys: Sequence[Key]) -> dict[Key, tuple[Key, ...]]:
    """The walk down: the team's versions whose inputs name each of these, oldest first."""
    c = lineage_inputs.c
    made: dict[Key, list[Key]] = defaultdict(list)
    for part in chunks(keys):
        query = (
            select(c.dataset_id, c.version, versions.c.dataset_id.label("by_dataset"))
            .add_columns(versions.c.version.label("by_version"))
            .select_from(lineage_inputs)
            .join(versions, versions.c.pk == c.version_pk)
            .join(datasets, datasets.c.id == versions.c.dataset_id)
            .where(datasets.c.team_id == team_id, tuple_(c.dataset_id, c.version).in_(part))
            .order_by(versions.c.pk)
        )
        for r in conn.execute(query):
            made[(r.dataset_id, r.version)].append((r.by_dataset, r.by_version))
    return {k: tuple(v) for k, v in made.items()}


def _dataset_names(conn: Connection, team_id: str, ids: Iterable[str]) -> dict[str, str]:
    """The names of those of these datasets the team still has."""
    wanted = sorted(ids)
    if not wanted:
        return {}
    query = select(datasets.c.id, datasets.c.name).where(
        datasets.c.team_id == team_id, datasets.c.id.in_(wanted)
    )
    return {r.id: r.name for r in conn.execute(query)}


def _key(given: LineageInput) -> Key:
    return (given.dataset_id, given.version)


def _ref(key: Key) -> str:
    return f"{key[0]}:{key[1]}"
