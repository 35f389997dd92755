"""The README's two commands stay true: the first runs here, the second is what CI runs."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def code_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_opens_with_run_then_test() -> None:
    first, second = code_blocks()[:2]
    assert first.strip() == "scripts/server"
    assert second.strip() == "scripts/test"
    assert "exec scripts/test" in (ROOT / ".ci/run").read_text()


def newcomer_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGOHOLD_")}
    env["CARGOHOLD_HOME"] = str(tmp_path / "home")
    env["TMPDIR"] = str(tmp_path)
    return env


def quickstart_twice(env: dict[str, str], tmp_path: Path, expect: str) -> None:
    for _ in range(2):  # and again, as a newcomer who runs it twice would
        proc = subprocess.run(
            [str(ROOT / "scripts/quickstart")], capture_output=True, text=True, env=env, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        assert expect in proc.stdout
        assert "Committed dataset version: ds" in proc.stdout
    assert (tmp_path / "cargohold-quickstart" / "architecture.md").exists()


def test_server_then_quickstart_in_a_second_shell(tmp_path: Path) -> None:
    env = newcomer_env(tmp_path)
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [str(ROOT / "scripts/server"), "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/healthz", server, tmp_path / "server.log")
        quickstart_twice({**env, "CARGOHOLD_SERVER": url}, tmp_path, f"server at {url}")
        listed = subprocess.run(
            [str(ROOT / ".venv/bin/cargohold"), "datasets", "list", "--json"],
            capture_output=True,
            text=True,
            env={**env, "CARGOHOLD_SERVER": url},
            check=True,
        )
        assert [d["name"] for d in json.loads(listed.stdout)] == ["quickstart"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def test_quickstart_without_a_server_uses_the_local_defaults(tmp_path: Path) -> None:
    env = {**newcomer_env(tmp_path), "CARGOHOLD_SERVER": f"http://127.0.0.1:{free_port()}"}
    quickstart_twice(env, tmp_path, "No cargohold server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server stopped: {log.read_text()}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the server did not answer within {timeout} s: {log.read_text()}")
