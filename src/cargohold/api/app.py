"""The FastAPI application of `cargohold server`.

`create_app(settings)` builds one app over one `Platform`; it keeps no state another server
process would need (every request reads the catalog), so several can serve one PostgreSQL.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from cargohold import __version__
from cargohold.api import gradient, gradient_s3, native, observe, runs, secrets, transfer, workflows
from cargohold.errors import CargoholdError, InvalidInput, NotFound
from cargohold.services.root import Platform
from cargohold.settings import Settings

log = logging.getLogger("cargohold.server")

ERROR_CODE_HEADER = "X-Cargohold-Error-Code"


def create_app(settings: Settings | None = None, platform: Platform | None = None) -> FastAPI:
    platform = platform or Platform(settings or Settings.from_env())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        platform.close()

    app = FastAPI(
        title="cargohold",
        version=__version__,
        summary="Versioned datasets for machine learning, on your own storage",
        lifespan=lifespan,
    )
    app.state.platform = platform
    observe.install(app, health=platform.catalog.ping)
    _install_error_handlers(app)
    app.include_router(transfer.router)  # first: native's {ref:path} routes are greedy
    app.include_router(native.router)
    app.include_router(secrets.router)
    app.include_router(runs.router)  # before workflows': /workflows/execute is not a key
    app.include_router(workflows.router)
    app.include_router(gradient.router)
    app.include_router(gradient_s3.router)
    return app


def error_response(exc: CargoholdError) -> JSONResponse:
    """The one error shape (errors.CargoholdError.to_json), with the status of its class."""
    return JSONResponse(
        exc.to_json(), status_code=exc.status, headers={ERROR_CODE_HEADER: exc.code}
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CargoholdError)
    async def known(_: Request, exc: CargoholdError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(_problem(e) for e in exc.errors()[:5])
        return error_response(InvalidInput(f"Invalid request: {problems}"))

    @app.exception_handler(HTTPException)
    async def http(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(NotFound("No such route"))
        code = f"http-{exc.status_code}"
        body = {"error": {"code": code, "message": str(exc.detail), "hint": "", "details": {}}}
        return JSONResponse(body, exc.status_code, headers={ERROR_CODE_HEADER: code})

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(CargoholdError(f"Internal error ({type(exc).__name__})"))


def _problem(error: object) -> str:
    if not isinstance(error, dict):
        return str(error)
    where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg"))


def app_from_env() -> FastAPI:
    """The app on this process's settings (uvicorn's factory, one per worker process)."""
    return create_app(Settings.from_env())
