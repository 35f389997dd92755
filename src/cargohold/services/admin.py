"""Operating a server: teams and their API keys, and who a request's key belongs to.

An API key's text is shown once, when it is made; the catalog keeps its prefix (to name it
in listings) and its SHA-256 (to find it), never the text.
"""

from __future__ import annotations

from cargohold.catalog import Catalog
from cargohold.domain.ids import (
    api_key_prefix,
    is_api_key_text,
    is_team_id,
    key_digest,
    new_api_key_id,
    new_api_key_text,
    new_team_id,
)
from cargohold.domain.models import ApiKey, Team
from cargohold.domain.refs import check_team_name
from cargohold.errors import InvalidName, TeamNotFound, Unauthorized

"""A team's name is also a namespace of references (`TEAM/DATASET`), so it follows their
rule (domain/refs.py)."""
MAX_KEY_NAME = 100
TEAMS_HINT = "List the teams with: cargohold admin teams list"


class AdminService:
    """Teams and API keys, acting on the catalog directly (an operator's tool, and the
    server's authentication)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- teams ---------------------------------------------------------------------------

    def create_team(self, name: str) -> tuple[Team, str]:
        """A new team with its managed provider and a first API key: (team, key text)."""
        from cargohold.services.root import ensure_managed_provider  # root may use this module

        team = self.catalog.add_team(new_team_id(), check_team_name(name))
        ensure_managed_provider(self.catalog, team)
        _, text = self.create_key(team, "first key")
        return team, text

    def list_teams(self) -> list[Team]:
        return self.catalog.list_teams()

    def team(self, name_or_id: str) -> Team:
        """A team by ID or name (raises TeamNotFound)."""
        try:
            if is_team_id(name_or_id):
                return self.catalog.get_team(name_or_id)
            return self.catalog.get_team_by_name(name_or_id)
        except TeamNotFound as exc:
            raise TeamNotFound(exc.message, hint=TEAMS_HINT, **exc.details) from None

    # -- API keys ------------------------------------------------------------------------

    def create_key(self, team: Team | str, name: str | None = None) -> tuple[ApiKey, str]:
        """A new key of the team: (the key as listed, its text, to be shown once)."""
        owner = self._team(team)
        text = new_api_key_text()
        key = self.catalog.add_api_key(
            owner.id,
            new_api_key_id(),
            prefix=api_key_prefix(text),
            digest=key_digest(text),
            name=check_key_name(name),
        )
        return key, text

    def list_keys(self, team: Team | str) -> list[ApiKey]:
        return self.catalog.list_api_keys(self._team(team).id)

    def revoke_key(self, team: Team | str, key: str) -> ApiKey:
        """Revoke a key of the team, by ID or prefix; it stops working at once."""
        return self.catalog.revoke_api_key(self._team(team).id, key.strip())

    def authenticate(self, key_text: str | None) -> Team:
        """The team a request's key belongs to; Unauthorized when it has none, or one that is
        unknown or revoked (the same message for both, and the key is never repeated)."""
        text = (key_text or "").strip()
        if not text:
            raise Unauthorized("An API key is required")
        team = self.catalog.team_for_key_digest(key_digest(text)) if is_api_key_text(text) else None
        if team is None:
            raise Unauthorized("Invalid or revoked API key")
        return team

    def _team(self, team: Team | str) -> Team:
        return self.team(team) if isinstance(team, str) else team


def check_key_name(name: str | None) -> str | None:
    if name is None:
        return None
    cleaned = name.strip()
    if not cleaned or len(cleaned) > MAX_KEY_NAME or not cleaned.isprintable():
        raise InvalidName(
            f"Invalid API key name: {name!r}",
            hint=f"Use 1-{MAX_KEY_NAME} printable characters",
            name=name,
        )
    return cleaned
