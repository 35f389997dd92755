"""Team secrets under /api/v1/secrets (services/secrets.py).

Every answer but `reveal`'s holds names and dates only (domain/wire.py `secret`). `reveal`
answers the values the workflow runner asks for, by name, to the team's own key; the access
log (api/observe.py) records no request or response body, so no value reaches a log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from cargohold.api.deps import TeamServices
from cargohold.api.native import Body
from cargohold.domain import wire

router = APIRouter(prefix="/api/v1")

Json = dict[str, Any]


class NewSecret(Body):
    name: str
    value: str


class SecretValue(Body):
    value: str


class SecretNames(Body):
    names: list[str]


@router.get("/secrets", tags=["secrets"])
def list_secrets(s: TeamServices) -> list[Json]:
    return [wire.secret(x) for x in s.secrets.list()]


@router.post("/secrets", status_code=201, tags=["secrets"])
def create_secret(body: NewSecret, s: TeamServices) -> Json:
    return wire.secret(s.secrets.create(body.name, body.value))


@router.post("/secrets/reveal", tags=["secrets"])
def reveal_secrets(body: SecretNames, s: TeamServices) -> dict[str, str]:
    """The values of the named secrets, for a job's environment: `{name: value}`."""
    return s.secrets.reveal(body.names)


@router.patch("/secrets/{name:path}", tags=["secrets"])
def update_secret(name: str, body: SecretValue, s: TeamServices) -> Json:
    return wire.secret(s.secrets.update(name, body.value))


@router.delete("/secrets/{name:path}", tags=["secrets"])
def delete_secret(name: str, s: TeamServices) -> Json:
    return wire.secret(s.secrets.delete(name))
