"""Teams and their API keys in the catalog.

A key's text is never stored: only its prefix (shown in listings) and the SHA-256 of the
whole text, by which a request's key is found in one indexed lookup.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, or_, select, update

from cargohold.catalog import rows
from cargohold.catalog.catalog import CatalogBase
from cargohold.catalog.schema import api_keys, teams
from cargohold.domain.models import ApiKey, Team
from cargohold.errors import ApiKeyNotFound, InvalidInput, TeamNotFound

_KEY_COLUMNS = [c for c in api_keys.c if c.name != "digest"]
"""Everything but the digest: it never leaves the catalog."""


def api_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        team_id=row.team_id,
        name=row.name,
        prefix=row.prefix,
        dt_created=rows.utc(row.dt_created) or rows.now(),
        dt_revoked=rows.utc(row.dt_revoked),
    )


class TeamCatalog(CatalogBase):
    def list_teams(self) -> list[Team]:
        with self.reading() as conn:
            return [rows.team(r) for r in conn.execute(select(teams).order_by(teams.c.name))]

    def get_team_by_name(self, name: str) -> Team:
        with self.reading() as conn:
            row = conn.execute(select(teams).where(teams.c.name == name)).first()
        if row is None:
            raise TeamNotFound(f"Team not found: {name}", team=name)
        return rows.team(row)

    # -- API keys ------------------------------------------------------------------------

    def add_api_key(
        self, team_id: str, key_id: str, *, prefix: str, digest: str, name: str | None = None
    ) -> ApiKey:
        """Record a key of the team, by its prefix and the digest of its whole text."""
        values = {
            "id": key_id,
            "team_id": team_id,
            "name": name,
            "prefix": prefix,
            "digest": digest,
            "dt_created": rows.now(),
        }
        with self.writing() as conn:
            if conn.execute(select(teams.c.id).where(teams.c.id == team_id)).first() is None:
                raise TeamNotFound(f"Team not found: {team_id}", team=team_id)
            conn.execute(insert(api_keys).values(**values))
            row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == key_id)).one()
        return api_key(row)

    def team_for_key_digest(self, digest: str) -> Team | None:
        """The team of the key with this digest, unless the key is revoked (or unknown).

        Runs on every HTTP request: one lookup by the unique digest, joined to its team."""
        query = (
            select(teams)
            .join(api_keys, api_keys.c.team_id == teams.c.id)
            .where(api_keys.c.digest == digest, api_keys.c.dt_revoked.is_(None))
        )
        with self.reading() as conn:
            row = conn.execute(query).first()
        return rows.team(row) if row else None

    def list_api_keys(self, team_id: str) -> list[ApiKey]:
        """The team's keys, revoked ones too, oldest first."""
        query = (
            select(*_KEY_COLUMNS)
            .where(api_keys.c.team_id == team_id)
            .order_by(api_keys.c.dt_created, api_keys.c.id)
        )
        with self.reading() as conn:
            return [api_key(r) for r in conn.execute(query)]

    def revoke_api_key(self, team_id: str, key_id_or_prefix: str) -> ApiKey:
        """Revoke a key of the team, named by its ID or its prefix; from the end of this
        transaction on, `team_for_key_digest` no longer finds it. Revoking a revoked key
        changes nothing."""
        key = key_id_or_prefix
        query = select(*_KEY_COLUMNS).where(
            api_keys.c.team_id == team_id, or_(api_keys.c.id == key, api_keys.c.prefix == key)
        )
        with self.writing() as conn:
            found = conn.execute(query.with_for_update() if self.for_update else query).all()
            if not found:
                raise ApiKeyNotFound(
                    f"API key not found: {key} (team {team_id})",
                    team=team_id,
                    key=key,
                )
            if len(found) > 1:
                raise InvalidInput(
                    f"The prefix {key} names {len(found)} keys of team {team_id}",
                    hint="Name the key by its ID (see: cargohold admin keys list --team TEAM)",
                    team=team_id,
                    key=key,
                )
            conn.execute(
                update(api_keys)
                .where(api_keys.c.id == found[0].id, api_keys.c.dt_revoked.is_(None))
                .values(dt_revoked=rows.now())
            )
            row = conn.execute(select(*_KEY_COLUMNS).where(api_keys.c.id == found[0].id)).one()
        return api_key(row)
