"""A cargohold server for tests: in-process (ASGI, through FastAPI's TestClient) or a real
uvicorn on 127.0.0.1, and Services talking to it with a team's key."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cargohold.api.app import create_app
from cargohold.client.services import connect
from cargohold.services import Services
from cargohold.services.admin import AdminService
from cargohold.services.root import Platform
from cargohold.settings import Settings
from tests.cli_helpers import command, run_process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def uvicorn_serving(app: FastAPI) -> Iterator[str]:
    """A real uvicorn server for `app` on a free port of 127.0.0.1, stopped afterwards."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class TestServer:
    """One app over one platform; `team(name)` makes a team and Services for it."""

    __test__ = False  # not a test class, despite its name

    def __init__(self, settings: Settings, mode: str = "asgi") -> None:
        self.settings = settings
        self.mode = mode
        self.platform = Platform(settings)
        self.admin = AdminService(self.platform.catalog)
        self.app = create_app(platform=self.platform)
        self._stack = contextlib.ExitStack()
        self.url = "http://testserver"
        if mode == "uvicorn":
            self.url = self._stack.enter_context(uvicorn_serving(self.app))

    def http(self, key: str | None = None) -> httpx.Client:
        """A raw HTTP client for the server, sending `key` when given."""
        headers = {"X-API-Key": key} if key else {}
        if self.mode == "asgi":
            client: httpx.Client = TestClient(self.app, headers=headers)
        else:
            client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self._stack.callback(client.close)
        return client

    def key(self, team: str) -> str:
        return self.admin.create_team(team)[1]

    def services(self, key: str) -> Services:
        settings = dataclasses.replace(self.settings, server=self.url, api_key=key)
        http = TestClient(self.app) if self.mode == "asgi" else None
        services = connect(settings, http)
        self._stack.callback(services.close)
        return services

    def close(self) -> None:
        self._stack.close()
        self.platform.close()


@dataclasses.dataclass(frozen=True)
class Running:
    url: str
    pid: int


@contextlib.contextmanager
def server_process(env: dict[str, str], log: Path) -> Iterator[Running]:
    """`cargohold server` as a real process on a free port, with `env` on top of this one's;
    yields its URL and PID once /healthz answers, and stops it afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        proc = subprocess.Popen(
            command("server", "--port", str(port)),
            env={**os.environ, **env},
            stdout=out,
            stderr=out,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"cargohold server stopped: {log.read_text()}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"cargohold server did not start: {log.read_text()}")
                time.sleep(0.1)
            yield Running(url, proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def create_team(name: str, env: dict[str, str] | None = None) -> str:
    """`cargohold admin create-team` as a process; the team's first API key."""
    result = run_process("admin", "create-team", "--name", name, "--json", env=env)
    assert result.code == 0, result.err
    key: str = result.json()["apiKey"]
    return key
