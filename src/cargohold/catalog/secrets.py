"""Team secrets in the catalog: one row per team and name, the value as the service sealed it.

The catalog never sees a value in clear (services/secrets.py encrypts before it calls here and
decrypts what `sealed_secrets` answers); listings carry names and dates only. Every query is
filtered by team.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from cargohold.catalog import rows
from cargohold.catalog.catalog import CatalogBase, chunks
from cargohold.catalog.schema import secrets
from cargohold.domain.workflows import Secret
from cargohold.errors import NameTaken, SecretNotFound

LISTED = (secrets.c.name, secrets.c.dt_created, secrets.c.dt_modified)
"""The columns a listing reads: never the value."""


class SecretCatalog(CatalogBase):
    def add_secret(self, team_id: str, name: str, sealed: str) -> Secret:
        """A new secret; NameTaken when the team has one of that name."""
        stamp = rows.now()
        values = {"team_id": team_id, "name": name, "value": sealed}
        try:
            with self.writing() as conn:
                conn.execute(insert(secrets).values(**values, dt_created=stamp, dt_modified=stamp))
                return self._secret(conn, team_id, name)
        except SqlIntegrityError:
            raise NameTaken(
                f"A secret named {name!r} already exists",
                hint=f"Give it a new value with: cargohold secrets update --name {name} --value -",
                name=name,
            ) from None

    def replace_secret(self, team_id: str, name: str, sealed: str) -> Secret:
        """A new value for an existing secret (its creation date kept)."""
        with self.writing() as conn:
            changed = conn.execute(
                update(secrets)
                .where(secrets.c.team_id == team_id, secrets.c.name == name)
                .values(value=sealed, dt_modified=rows.now())
            ).rowcount
            if not changed:
                raise _not_found(
                    name, hint=f"Create it with: cargohold secrets create --name {name} --value -"
                )
            return self._secret(conn, team_id, name)

    def list_secrets(self, team_id: str) -> list[Secret]:
        query = select(*LISTED).where(secrets.c.team_id == team_id).order_by(secrets.c.name)
        with self.reading() as conn:
            return [_secret(r) for r in conn.execute(query)]

    def sealed_secrets(self, team_id: str, names: Iterable[str]) -> dict[str, str]:
        """The sealed values of those of `names` the team has (absent names are left out)."""
        found: dict[str, str] = {}
        with self.reading() as conn:
            for part in chunks(sorted(set(names))):
                query = select(secrets.c.name, secrets.c.value).where(
                    secrets.c.team_id == team_id, secrets.c.name.in_(part)
                )
                found.update({r.name: r.value for r in conn.execute(query)})
        return found

    def delete_secret(self, team_id: str, name: str) -> Secret:
        with self.writing() as conn:
            gone = self._secret(conn, team_id, name)
            conn.execute(
                delete(secrets).where(secrets.c.team_id == team_id, secrets.c.name == name)
            )
        return gone

    def _secret(self, conn: Connection, team_id: str, name: str) -> Secret:
        row = conn.execute(
            select(*LISTED).where(secrets.c.team_id == team_id, secrets.c.name == name)
        ).first()
        if row is None:
            raise _not_found(name)
        return _secret(row)


def _secret(row: Any) -> Secret:
    return Secret(
        name=row.name,
        dt_created=rows.utc(row.dt_created) or rows.now(),
        dt_modified=rows.utc(row.dt_modified) or rows.now(),
    )


def _not_found(name: str, hint: str | None = None) -> SecretNotFound:
    return SecretNotFound(f"Secret not found: {name}", hint=hint, secret=name)
