"""Operations: ``/healthz``, ``/metrics`` (Prometheus) and one JSON access-log line per request.

``install(app, health=...)`` adds both routes and a pure-ASGI middleware that counts requests,
latencies, bytes and errors as they happen. Bodies are counted chunk by chunk as they stream,
never buffered. Every app gets its own :class:`~prometheus_client.CollectorRegistry`
(``app.state.metrics_registry``), so two apps in one process never share counters.

Labels stay bounded: ``route`` is the route template (``/api/v1/datasets/{dataset_id}``), or
``<unmatched>``; unknown methods become ``OTHER``; the error ``code`` is the kebab-case code the
app's error handler names in the ``X-Cargohold-Error-Code`` response header, else the status.

The access log (logger ``cargohold.access``) never holds headers, query strings, keys, tokens,
cookies or bodies: only the fields listed in :meth:`_Exchange.log_fields`. Each request's id
(the client's ``X-Request-ID`` when sane, else a new one) is echoed in the response and is
``request.state.request_id`` for the app's own logs.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cargohold.errors import CargoholdError, ConfigurationError

ACCESS_LOGGER = "cargohold.access"
UNMATCHED = "<unmatched>"
REQUEST_ID_HEADER = "X-Request-ID"
ERROR_CODE_HEADER = "X-Cargohold-Error-Code"
TRANSFER_DIRECTIONS = ("upload", "download")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
_ERROR_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_STATE_KEY = "observe_metrics"
_HANDLER_NAME = "cargohold-access"
_MAX_HEALTH_ERROR = 200
_SECRETS = (
    (re.compile(r"(?<=://)[^/\s@]+@"), "***@"),  # user:password@ in URLs
    (re.compile(r"(https?://[^\s?]*)\?\S*"), r"\1"),  # query strings (presigned signatures)
    (re.compile(r"(?i)\bbearer\s+\S+"), "Bearer ***"),
    (
        re.compile(
            r"(?i)((?:password|passwd|pwd|secret|token|api[-_]?key|signature)\w*[=:]\s*)\S+"
        ),
        r"\1***",
    ),
)

_access_log = logging.getLogger(ACCESS_LOGGER)
_log = logging.getLogger(__name__)


def install(app: FastAPI, *, health: Callable[[], None] | None = None) -> None:
    """Add ``GET /healthz``, ``GET /metrics`` and the access middleware to ``app``.

    ``health`` (run in a worker thread) raises when the server cannot serve, for instance a
    trivial catalog query that fails. Both routes are plain Starlette routes: no dependency of
    the app (such as API-key authentication) applies to them, and they stay out of the OpenAPI
    schema. Call before the app starts.
    """
    metrics = _Metrics()
    app.state.metrics_registry = metrics.registry
    setattr(app.state, _STATE_KEY, metrics)
    app.add_route("/healthz", _health_endpoint(health), methods=["GET"], include_in_schema=False)
    app.add_route("/metrics", metrics.endpoint, methods=["GET"], include_in_schema=False)
    app.add_middleware(_AccessMiddleware, metrics=metrics, routes=_Routes(app.router))


def count_transfer(app_state: State, direction: str, nbytes: int) -> None:
    """Count ``nbytes`` of dataset content moved in ``direction`` (``upload`` or ``download``).

    ``app_state`` is ``request.app.state``. Does nothing when :func:`install` was not called.
    """
    if direction not in TRANSFER_DIRECTIONS:
        raise ValueError(f"direction must be one of {TRANSFER_DIRECTIONS}, not {direction!r}")
    if nbytes < 0:
        raise ValueError(f"nbytes must not be negative, got {nbytes}")
    metrics = getattr(app_state, _STATE_KEY, None)
    if isinstance(metrics, _Metrics):
        metrics.transfer_bytes.labels(direction).inc(nbytes)


def configure_logging(level: str = "info") -> None:
    """Print the access log's JSON lines to stderr at ``level`` (``debug``, ``info``, ...).

    Idempotent; the lines do not propagate to the root logger, so they are printed once.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ConfigurationError(
            f"Unknown log level {level!r}", hint="Use debug, info, warning, error or critical"
        )
    for old in [h for h in _access_log.handlers if h.get_name() == _HANDLER_NAME]:
        _access_log.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter("%(message)s"))
    _access_log.addHandler(handler)
    _access_log.setLevel(numeric)
    _access_log.propagate = False


class _Metrics:
    """One app's registry and the collectors the middleware feeds."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = ("method", "route")
        self.requests = self._counter(
            "http_requests", "HTTP requests answered", (*labels, "status")
        )
        self.duration = Histogram(
            "cargohold_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response body",
            labels,
            registry=self.registry,
            buckets=_DURATION_BUCKETS,
        )
        self.request_bytes = self._counter("http_request_bytes", "Request body bytes read", labels)
        self.response_bytes = self._counter(
            "http_response_bytes", "Response body bytes sent", labels
        )
        self.errors = self._counter(
            "http_errors", "Responses with status >= 400", (*labels, "code")
        )
        self.transfer_bytes = self._counter(
            "transfer_bytes", "Dataset content bytes moved, by direction", ("direction",)
        )

    def _counter(self, name: str, documentation: str, labels: tuple[str, ...]) -> Counter:
        return Counter(f"cargohold_{name}", documentation, labels, registry=self.registry)

    def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


def _health_endpoint(health: Callable[[], None] | None) -> Callable[[Request], Response]:
    def healthz(request: Request) -> Response:
        headers = {"Cache-Control": "no-store"}
        try:
            if health is not None:
                health()
        except Exception as exc:
            error = _one_line(exc)
            _log.warning("health check failed: %s", error)
            body = {"status": "unavailable", "error": error}
            return JSONResponse(body, status_code=503, headers=headers)
        return JSONResponse({"status": "ok"}, headers=headers)

    return healthz


def _one_line(exc: Exception) -> str:
    """The first line of an error, with credentials, tokens and query strings masked."""
    kind = exc.code if isinstance(exc, CargoholdError) else type(exc).__name__
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{kind}: {lines[0]}" if lines else kind
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text[:_MAX_HEALTH_ERROR]


class _AccessMiddleware:
    """Counts and logs every HTTP request without touching (or buffering) its bodies."""

    def __init__(self, app: ASGIApp, metrics: _Metrics, routes: _Routes) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, self, receive, send)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except BaseException:
            exchange.raised = True
            raise
        finally:
            exchange.finish()


class _Exchange:
    """One request in flight: what has been read and sent so far."""

    def __init__(
        self, scope: Scope, middleware: _AccessMiddleware, receive: Receive, send: Send
    ) -> None:
        self.scope = scope
        self.metrics = middleware.metrics
        self.routes = middleware.routes
        self._receive = receive
        self._send = send
        self.method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        self.request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = self.request_id
        self.arrived = time.time()
        self.started = time.perf_counter()
        self.status: int | None = None
        self.error_code: str | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.raised = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request" and (size := len(message.get("body", b""))):
            self.bytes_in += size
            self.metrics.request_bytes.labels(self.method, self.route()).inc(size)
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message = self._start(message)
        await self._send(message)
        if message["type"] == "http.response.body" and (size := len(message.get("body", b""))):
            self.bytes_out += size
            self.metrics.response_bytes.labels(self.method, self.route()).inc(size)

    def _start(self, message: Message) -> Message:
        self.status = int(message["status"])
        headers = [
            (name, value)
            for name, value in message.get("headers", [])
            if name.lower() != REQUEST_ID_HEADER.lower().encode()
        ]
        headers.append((REQUEST_ID_HEADER.lower().encode(), self.request_id.encode()))
        self.error_code = _header_error_code(headers)
        return {**message, "headers": headers}

    def route(self) -> str:
        return self.routes.template(self.scope)

    def finish(self) -> None:
        route = self.route()
        status = self.status if self.status is not None else 500
        error = self.error(status)
        self.metrics.requests.labels(self.method, route, str(status)).inc()
        self.metrics.duration.labels(self.method, route).observe(self.seconds())
        if error is not None:
            self.metrics.errors.labels(self.method, route, error).inc()
        if _access_log.isEnabledFor(logging.INFO):
            fields = self.log_fields(route, status, error)
            _access_log.info(json.dumps(fields, separators=(",", ":")))

    def error(self, status: int) -> str | None:
        """The error code to count: ``incomplete-response`` when the app failed mid-body."""
        if self.raised and self.status is not None:
            return "incomplete-response"
        if status < 400:
            return None
        return self.error_code or str(status)

    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def log_fields(self, route: str, status: int, error: str | None) -> dict[str, Any]:
        """The whole access-log line: no header, query string or body ever appears here."""
        state = self.scope.get("state") or {}
        client = self.scope.get("client")
        team = state.get("team_id")
        return {
            "time": datetime.fromtimestamp(self.arrived, UTC).isoformat(timespec="milliseconds"),
            "request_id": self.request_id,
            "method": self.method,
            "route": route,
            "path": self.scope["path"],
            "status": status,
            "duration_ms": round(self.seconds() * 1000, 3),
            "bytes_in": self.bytes_in,
            "bytes_out": self.bytes_out,
            "team": None if team is None else str(team),
            "client": client[0] if client else None,
            "error": error,
        }


class _Routes:
    """The template of the route a request matched, or ``<unmatched>`` (never the raw path)."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self._by_endpoint: dict[Any, str] | None = None

    def template(self, scope: Scope) -> str:
        """Asked once routing has happened (a body is read or sent, or the request ended).

        In turn: FastAPI 0.16x resolves included routers lazily, and keeps the whole template
        on the effective route context in ``scope["fastapi"]`` (``scope["route"]`` then holds
        only the route's own part); routes on the app itself (and every route on older
        versions) are ``scope["route"]``; plain Starlette routes (``/healthz``, ``/docs``) leave
        only their endpoint in the scope on FastAPI 0.16x, found among the app's routes.
        """
        fastapi_scope = scope.get("fastapi")
        if isinstance(fastapi_scope, dict):
            context = fastapi_scope.get("effective_route_context")
            template = getattr(context, "path_format", None)
            if isinstance(template, str) and template:
                return template
        template = getattr(scope.get("route"), "path_format", None)
        if isinstance(template, str) and template:
            return template
        endpoint = scope.get("endpoint")
        return UNMATCHED if endpoint is None else self._endpoints().get(endpoint, UNMATCHED)

    def _endpoints(self) -> dict[Any, str]:
        """The app's own routes by endpoint, read at the first request (routes are all in)."""
        if self._by_endpoint is None:
            self._by_endpoint = {
                route.endpoint: route.path_format
                for route in self._router.routes
                if isinstance(route, Route)
            }
        return self._by_endpoint


def _request_id(scope: Scope) -> str:
    """The client's ``X-Request-ID`` when it is a sane token, else a new one."""
    wanted = REQUEST_ID_HEADER.lower().encode()
    for name, value in scope.get("headers", []):
        if name == wanted:
            candidate: str = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _header_error_code(headers: list[tuple[bytes, bytes]]) -> str | None:
    wanted = ERROR_CODE_HEADER.lower().encode()
    for name, value in headers:
        if name.lower() == wanted:
            code = value.decode("latin-1")
            return code if _ERROR_CODE.fullmatch(code) else None
    return None
