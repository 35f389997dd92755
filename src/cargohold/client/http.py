"""One HTTP session with a cargohold server: the key on every request, errors back as the
exception classes the server raised (errors.error_from_json: one table, both directions)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from cargohold import __version__
from cargohold.errors import (
    CargoholdError,
    ConfigurationError,
    ServerUnreachable,
    Unauthorized,
    error_from_json,
)

TIMEOUT = httpx.Timeout(60.0, connect=10.0)


def server_url(url: str) -> str:
    """A server's base URL, checked: http(s)://HOST[:PORT][/PATH], without a trailing '/'."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(
            f"Invalid server URL: {url!r}",
            hint="Give the server as http://HOST:PORT, e.g. http://127.0.0.1:8000",
        )
    return url.strip().rstrip("/")


def ref_path(ref: str) -> str:
    """A reference or dataset key as one path segment (namespaces keep their '/')."""
    return quote(ref, safe="/:")


class HttpClient:
    """Requests to one server with one API key. `http` may be any httpx.Client (tests pass
    FastAPI's TestClient, which runs the app in-process)."""

    def __init__(self, server: str, api_key: str | None, http: httpx.Client | None = None) -> None:
        self.server = server_url(server)
        headers = {"User-Agent": f"cargohold/{__version__}"}
        if api_key:
            headers["X-API-Key"] = api_key
        self.http = http or httpx.Client(base_url=self.server, timeout=TIMEOUT)
        self.headers = headers

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """A JSON request; the decoded JSON answer (None for an empty one)."""
        with self._errors():
            response = self.http.request(
                method, path, json=json, params=_params(params), headers=self.headers
            )
        check(response)
        return response.json() if response.content else None

    @contextmanager
    def stream(
        self, method: str, path: str, *, content: Any = None, headers: dict[str, str] | None = None
    ) -> Iterator[httpx.Response]:
        """A request whose body or answer is streamed (bytes through the server)."""
        with (
            self._errors(),
            self.http.stream(
                method, path, content=content, headers={**self.headers, **(headers or {})}
            ) as response,
        ):
            if response.status_code >= 400:
                response.read()
                check(response)
            yield response

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"Cannot reach the cargohold server at {self.server}: {exc}",
                server=self.server,
            ) from None


def check(response: httpx.Response) -> None:
    """Raise what the server raised, as the same class, for an error answer."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        raise error_from_json(body)
    if response.status_code == 401:
        raise Unauthorized("The server refused the API key")
    raise CargoholdError(
        f"The server answered {response.status_code} {response.reason_phrase}",
        status=response.status_code,
    )


def _params(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {
        k: (str(v).lower() if isinstance(v, bool) else v)
        for k, v in params.items()
        if v is not None
    }
