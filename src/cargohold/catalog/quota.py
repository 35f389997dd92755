"""Reservations of room in a provider for content being uploaded (the managed quota).

Checking `usage + needed <= quota` and then sending lets two clients of a team (on one
server process, or on several sharing the database) both pass and together exceed the
quota. `reserve` checks and reserves in one write transaction, serialised per team: the
room counted as used is the bytes of the team's recorded objects plus those of its
unexpired reservations of contents not yet recorded (each SHA-256 once). A reservation
goes when its object is recorded (`CatalogBase._release`, in the recording transaction) or
when it expires (an upload that never finished).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, Exists, delete, exists, func, or_, select

from cargohold.catalog import rows
from cargohold.catalog.catalog import CatalogBase, chunks
from cargohold.catalog.schema import objects, pending_objects
from cargohold.errors import QuotaExceeded

_p = pending_objects.c


def _recorded() -> Exists:
    """The reservation's content is recorded (an EXISTS over `objects`, correlated)."""
    return exists().where(
        objects.c.team_id == _p.team_id,
        objects.c.provider_id == _p.provider_id,
        objects.c.sha256 == _p.sha256,
    )


class QuotaCatalog(CatalogBase):
    def reserve(
        self,
        team_id: str,
        provider_id: str,
        sizes: dict[str, int],
        quota: int,
        ttl_seconds: float,
    ) -> None:
        """Reserve room for these contents (SHA-256 -> size) for `ttl_seconds`, or raise
        QuotaExceeded when the recorded and reserved bytes plus the new ones exceed `quota`.

        Contents already recorded cost nothing; contents already reserved (by this client or
        another of the team) cost nothing more and have their reservation extended. Expired
        reservations are dropped in the same transaction."""
        if not sizes:
            return
        stamp = rows.now()
        with self.writing() as conn:
            self._lock_team(conn, team_id)
            conn.execute(
                delete(pending_objects).where(
                    _p.team_id == team_id, or_(_p.expires_at <= stamp, _recorded())
                )
            )
            recorded, reserved = self._used(conn, team_id, provider_id, stamp)
            known = self._known(conn, team_id, provider_id, sizes)
            held = {
                row.sha256
                for row in self._by_sha(
                    conn, pending_objects, [_p.sha256], team_id, provider_id, sizes
                )
            }
            counted = known | held
            needed = sum(size for sha, size in sizes.items() if sha not in counted)
            used = recorded + reserved
            if needed and used + needed > quota:
                in_progress = f" ({reserved:,} by uploads in progress)" if reserved else ""
                raise QuotaExceeded(
                    f"This upload needs {needed:,} more bytes in the managed provider: "
                    f"{used:,} of the team's {quota:,} bytes are used{in_progress}",
                    used=used,
                    reserved=reserved,
                    quota=quota,
                    needed=needed,
                )
            wanted = {sha: size for sha, size in sizes.items() if sha not in known}
            self._hold(conn, team_id, provider_id, wanted, stamp + timedelta(seconds=ttl_seconds))

    def reserved_by_provider(self, team_id: str) -> dict[str, int]:
        """Per provider of the team: bytes reserved by uploads in progress (unexpired
        reservations of contents not yet recorded)."""
        query = (
            select(_p.provider_id, func.sum(_p.size))
            .where(_p.team_id == team_id, _p.expires_at > rows.now(), ~_recorded())
            .group_by(_p.provider_id)
        )
        with self.reading() as conn:
            return {provider: int(total or 0) for provider, total in conn.execute(query)}

    def _used(
        self, conn: Connection, team_id: str, provider_id: str, stamp: datetime
    ) -> tuple[int, int]:
        """Bytes recorded and bytes reserved (not recorded) in the provider, read in one
        statement so that a record committing meanwhile is counted once, whichever side."""
        recorded = (
            select(func.coalesce(func.sum(objects.c.size), 0))
            .where(objects.c.team_id == team_id, objects.c.provider_id == provider_id)
            .scalar_subquery()
        )
        reserved = (
            select(func.coalesce(func.sum(_p.size), 0))
            .where(
                _p.team_id == team_id,
                _p.provider_id == provider_id,
                _p.expires_at > stamp,
                ~_recorded(),
            )
            .scalar_subquery()
        )
        row = conn.execute(select(recorded, reserved)).one()
        return int(row[0]), int(row[1])

    def _hold(
        self,
        conn: Connection,
        team_id: str,
        provider_id: str,
        sizes: dict[str, int],
        expires_at: datetime,
    ) -> None:
        """Insert reservations, or extend those that exist (upsert, in SHA-256 order)."""
        values = [
            {
                "team_id": team_id,
                "provider_id": provider_id,
                "sha256": sha,
                "size": size,
                "expires_at": expires_at,
            }
            for sha, size in sorted(sizes.items())
        ]
        upsert = self._insert_for()(pending_objects)
        statement = upsert.on_conflict_do_update(
            index_elements=["team_id", "provider_id", "sha256"],
            set_={"size": upsert.excluded.size, "expires_at": upsert.excluded.expires_at},
        )
        for part in chunks(values):
            conn.execute(statement, list(part))
