"""What routes receive: the platform, and the services of the team an API key names."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from cargohold.services.admin import AdminService
from cargohold.services.root import Platform, Services

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="Gradient's header")
bearer = HTTPBearer(auto_error=False, description="The same key as a bearer token")


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


def team_services(
    request: Request,
    key: Annotated[str | None, Depends(api_key_header)],
    token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Services:
    """The services of the key's team. Every request looks the key up again, so a revoked
    key stops working at once, on every server process."""
    platform = platform_of(request)
    team = AdminService(platform.catalog).authenticate(
        key or (token.credentials if token else None)
    )
    request.state.team_id = team.id
    return platform.services(team)


TeamServices = Annotated[Services, Depends(team_services)]
