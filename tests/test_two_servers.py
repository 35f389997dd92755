"""Two real `cargohold server` processes on one PostgreSQL, as a deployment behind a load
balancer runs them: the same CARGOHOLD_DATABASE_URL and the same CARGOHOLD_HOME (managed
directory, secret key), nothing else shared.

Clients commit versions of one dataset through both at once; afterwards every version is
there exactly once, committed, with exactly its client's files (read back through both
servers and in its manifest), and a revoked key is refused by both servers at once.

Starting two servers at the same moment on a fresh database does not work yet (the last
test, an expected failure), so the second server starts once the first answers.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli_helpers import Result, command, run_process, write_tree
from tests.server_helpers import free_port

CLIENTS = 4
VERSIONS_PER_CLIENT = 3
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

pytestmark = pytest.mark.slow


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@dataclass
class Deployment:
    servers: list[Server]
    env: dict[str, str]  # the servers' settings, also what `cargohold admin` needs
    home: Path

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]


def clean_environment() -> dict[str, str]:
    """This process's environment without any CARGOHOLD_* setting."""
    return {k: v for k, v in os.environ.items() if not k.startswith("CARGOHOLD_")}


def start_server(env: dict[str, str], log: Path) -> Server:
    port = free_port()
    with log.open("wb") as out:
        process = subprocess.Popen(
            command("server", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Server(f"http://127.0.0.1:{port}", process, log)


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.process.poll() is not None:
            pytest.fail(
                f"server {server.url} exited ({server.process.returncode}):\n{server.output()}"
            )
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"server {server.url} not healthy after {START_TIMEOUT}s:\n{server.output()}"
            )
        time.sleep(0.1)


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(STOP_TIMEOUT)


@pytest.fixture
def deployment(postgres_url: str, tmp_path: Path) -> Iterator[Deployment]:
    """Two servers on one database and one home, the second started once the first answers
    (it has migrated the fresh database by then: see the last test); both stopped after the
    test, which fails if either died during it."""
    home = tmp_path / "server-home"
    env = {
        **clean_environment(),
        "CARGOHOLD_HOME": str(home),
        "CARGOHOLD_DATABASE_URL": postgres_url,
    }
    servers: list[Server] = []
    try:
        for n in range(2):
            servers.append(start_server(env, tmp_path / f"server-{n}.log"))
            wait_healthy(servers[-1])
        yield Deployment(servers, env, home)
        for server in servers:
            assert server.process.poll() is None, f"{server.url} died:\n{server.output()}"
    finally:
        for server in servers:
            stop(server)


def ok(result: Result, what: str) -> Any:
    assert result.code == 0, f"{what} failed ({result.code}):\n{result.err}{result.out}"
    return result.json()


def client_env(home: Path, server: str, key: str) -> dict[str, str]:
    return {
        **clean_environment(),
        "CARGOHOLD_HOME": str(home),
        "CARGOHOLD_SERVER": server,
        "CARGOHOLD_API_KEY": key,
    }


def tree_for(client: int, version: int) -> dict[str, bytes]:
    """Files only this version has, files every version has under other contents, and one
    content every version uploads (the same object, sent by clients at the same time)."""
    files = {
        "shared.txt": b"the same bytes in every version\n",
        "common/name.txt": f"client {client} version {version}\n".encode(),
        f"client-{client}/v{version}.bin": hashlib.sha256(f"{client}:{version}".encode()).digest()
        * (100 + 50 * version),
    }
    for n in range((client + version) % 3):
        files[f"extra/{n}.txt"] = f"extra {n} of {client}.{version}\n".encode()
    return files


def hashes_of(files: dict[str, bytes]) -> dict[str, str]:
    return {path: hashlib.sha256(data).hexdigest() for path, data in files.items()}


def hashes_under(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_clients_commit_to_one_dataset_through_two_servers_at_once(
    deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    made = ok(
        run_process("admin", "create-team", "--name", "t", "--json", env=d.env), "create-team"
    )
    team, key = made["team"]["id"], made["apiKey"]
    first = client_env(tmp_path / "setup-home", d.urls[0], key)
    ds = ok(run_process("datasets", "create", "--name", "shared", "--json", env=first), "create")
    dataset = ds["id"]

    trees = {(c, v): tree_for(c, v) for c in range(CLIENTS) for v in range(VERSIONS_PER_CLIENT)}
    for (c, v), files in trees.items():
        write_tree(tmp_path / "trees" / f"c{c}v{v}", files)

    def client(c: int) -> list[tuple[int, dict[str, Any]]]:
        """One client: its versions one after the other, through server c % 2."""
        env = client_env(tmp_path / f"client-{c}", d.urls[c % 2], key)
        made = []
        for v in range(VERSIONS_PER_CLIENT):
            source = f"{tmp_path / 'trees' / f'c{c}v{v}'}/"
            result = run_process(
                "datasets", "versions", "create", "--id", dataset,
                "--message", f"client {c} version {v}", "--source-path", source, "--json",
                env=env,
            )  # fmt: skip
            made.append((v, ok(result, f"client {c} version {v}")))
        return made

    with ThreadPoolExecutor(CLIENTS) as pool:
        done = dict(enumerate(pool.map(client, range(CLIENTS))))

    created: dict[str, dict[str, bytes]] = {}
    for c, versions in done.items():
        for v, answer in versions:
            assert answer["isCommitted"] is True, answer
            assert answer["message"] == f"client {c} version {v}"
            assert answer["fileCount"] == len(trees[c, v]), answer
            created[answer["version"]] = trees[c, v]
    assert len(created) == CLIENTS * VERSIONS_PER_CLIENT, "a version ID was given twice"

    for url in d.urls:  # both servers list exactly those versions, all committed
        env = client_env(tmp_path / "lister", url, key)
        listed = ok(
            run_process("datasets", "versions", "list", "--id", dataset, "--json", env=env),
            f"versions list on {url}",
        )
        assert sorted(v["version"] for v in listed) == sorted(created)
        for v in listed:
            assert v["isCommitted"] and v["fileCount"] == len(created[v["version"]]), v
        open_ones = run_process(
            "datasets", "versions", "list", "--id", dataset, "--isCommitted", "false", "--json",
            env=env,
        )  # fmt: skip
        assert ok(open_ones, "uncommitted list") == []

    by_version = {v["version"]: v for v in listed}

    def check_download(n: int, version: str) -> None:
        """Each version's files, read back through one server or the other into a home
        that never saw them, are exactly what its client uploaded."""
        env = client_env(tmp_path / f"reader-{n}", d.urls[n % 2], key)
        target = tmp_path / "downloads" / version
        result = run_process(
            "datasets", "files", "get", "--id", f"{dataset}:{version}",
            "--target-path", str(target), "--json",
            env=env,
        )  # fmt: skip
        ok(result, f"files get {version}")
        assert hashes_under(target) == hashes_of(created[version])

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(check_download, range(len(created)), sorted(created)))

    for version, files in created.items():  # the manifest of each, in the managed directory
        path = d.home / "managed" / team / "datasets" / dataset / "versions" / version
        blob = (path / "manifest.jsonl.gz").read_bytes()
        assert hashlib.sha256(blob).hexdigest() == by_version[version]["manifestSha256"]
        lines = [json.loads(line) for line in gzip.decompress(blob).decode().splitlines()]
        paths = [line["path"] for line in lines]
        assert paths == sorted(paths), "manifest out of path order"
        expected = hashes_of(files)
        assert {p: line["sha256"] for p, line in zip(paths, lines, strict=True)} == expected
        assert [line["size"] for line in lines] == [len(files[p]) for p in paths]


def test_a_revoked_key_is_refused_by_both_servers_at_once(deployment: Deployment) -> None:
    d = deployment
    made = ok(
        run_process("admin", "create-team", "--name", "t", "--json", env=d.env), "create-team"
    )
    keep = made["apiKey"]
    extra = run_process(
        "admin", "keys", "create", "--team", "t", "--name", "ci", "--json", env=d.env
    )
    second = ok(extra, "keys create")

    def status(url: str, key: str) -> int:
        return httpx.get(f"{url}/api/v1/team", headers={"X-API-Key": key}, timeout=10).status_code

    assert [status(url, second["apiKey"]) for url in d.urls] == [200, 200]
    revoke = run_process(
        "admin", "keys", "revoke", "--team", "t", "--key", second["key"]["prefix"], "--json",
        env=d.env,
    )  # fmt: skip
    assert ok(revoke, "keys revoke")["isRevoked"] is True
    assert [status(url, second["apiKey"]) for url in d.urls] == [401, 401]
    assert [status(url, keep) for url in d.urls] == [200, 200]


OPEN_CATALOG_AT = """
import sys, time
from cargohold.catalog import Catalog
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))
Catalog(sys.argv[1]).close()
"""


def test_processes_open_a_fresh_database_at_the_same_moment(catalog_url: str) -> None:
    """What the start of servers together does (or the workers of `--workers N`), without
    the start-up's jitter: the processes import first, then open the fresh catalog at the
    same moment; they migrate one after the other (catalog/engine.py MIGRATION_LOCK)."""
    at = time.time() + 3
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_CATALOG_AT, catalog_url, str(at)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]
    failed = "\n".join(e[-2000:] for e in errors)
    assert [p.returncode for p in processes] == [0] * len(processes), failed
