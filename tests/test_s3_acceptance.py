"""Datasets on a real S3 server (SeaweedFS), checked as a user would: the CLI for the work,
plain boto3 for what is in the bucket, a proxy for counting requests and injecting faults."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.cli_helpers import (
    Cli,
    command,
    create_s3_provider,
    run_process,
    s3_provider_args,
    write_tree,
)
from tests.conftest import S3Server
from tests.faultproxy import FaultProxy
from tests.server_helpers import create_team, server_process

MIB = 1024 * 1024


@pytest.fixture
def cli(cargohold_home: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


def open_version(cli: Cli, config: dict[str, str], endpoint: str, name: str) -> tuple[str, str]:
    """A provider for the bucket reached through `endpoint`, a dataset `name` on it and an open
    version of that dataset: (dataset ID, ref)."""
    sp = create_s3_provider(cli, {**config, "endpoint": endpoint}, "bucket")
    ds = cli.ok("datasets", "create", "--name", name, "--storageProviderId", sp).out.split()[-1]
    ref = cli.ok("datasets", "versions", "create", "--id", ds).out.split()[-1]
    return ds, ref


def _team() -> str:
    from cargohold.services import build_services
    from cargohold.settings import Settings

    services = build_services(Settings.from_env())
    try:
        return services.team.id
    finally:
        services.close()


def bucket_objects(server: S3Server, bucket: str) -> dict[str, int]:
    client = server.client()
    found: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        found.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return found


def read_with_plain_tools(server: S3Server, bucket: str, team: str) -> dict[str, bytes]:
    """Every committed file's bytes, found with boto3 from the manifests and pack indexes
    alone, each checked against its SHA-256."""
    client = server.client()
    keys = bucket_objects(server, bucket)
    where: dict[str, tuple[str, int, int]] = {}
    for key in keys:
        if key.startswith(f"{team}/packs/") and key.endswith(".idx"):
            lines = client.get_object(Bucket=bucket, Key=key)["Body"].read().decode().split("\n")
            assert lines[0] == "cargohold-pack-index 1"
            for line in filter(None, lines[1:]):
                sha, offset, length = line.split()
                where[sha] = (key[: -len(".idx")], int(offset), int(length))
    files: dict[str, bytes] = {}
    for key in keys:
        if not key.endswith("/manifest.jsonl.gz"):
            continue
        manifest = gzip.decompress(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        for line in manifest.decode().splitlines():
            entry = json.loads(line)
            sha = entry["sha256"]
            whole = f"{team}/objects/sha256/{sha[:2]}/{sha[2:4]}/{sha}"
            if whole in keys:
                data = client.get_object(Bucket=bucket, Key=whole)["Body"].read()
            elif entry["size"] == 0 and sha in where and where[sha][2] == 0:
                data = b""
            else:
                pack, offset, length = where[sha]
                rng = f"bytes={offset}-{offset + length - 1}"
                data = client.get_object(Bucket=bucket, Key=pack, Range=rng)["Body"].read()
            assert hashlib.sha256(data).hexdigest() == sha, entry["path"]
            files[entry["path"]] = data
    return files


def test_a_dataset_in_a_bucket_round_trips_and_plain_tools_can_read_it(
    cli: Cli,
    s3_server: S3Server,
    s3_config: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARGOHOLD_PART_SIZE", "5MiB")
    monkeypatch.setenv("CARGOHOLD_PACK_THRESHOLD", "1MiB")
    files = {
        "empty.txt": b"",
        "with space/ünïcode & name.txt": "grüße\n".encode(),
        "exact/two-parts.bin": os.urandom(2 * 5 * MIB),
        "big/above-threshold.bin": os.urandom(5 * MIB + 1),
        **{f"small/item-{i:03}.json": json.dumps({"i": i}).encode() for i in range(200)},
    }
    data = write_tree(tmp_path / "data", files)
    (data / "linked.txt").symlink_to(data / "with space" / "ünïcode & name.txt")
    files["linked.txt"] = files["with space/ünïcode & name.txt"]
    sp = create_s3_provider(cli, s3_config, "bucket")
    ds = cli.ok("datasets", "create", "--name", "s3data", "--storageProviderId", sp).out.split()[-1]
    cli.ok("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    out = tmp_path / "out"
    cli.ok("datasets", "files", "get", "--id", f"{ds}:latest", "--target-path", str(out))
    for rel, content in files.items():
        assert (out / rel).read_bytes() == content, rel

    team = _team()
    keys = bucket_objects(s3_server, s3_config["bucket"])
    assert keys and all(k.startswith(f"{team}/") for k in keys)
    assert any(k.startswith(f"{team}/packs/") for k in keys)
    assert read_with_plain_tools(s3_server, s3_config["bucket"], team) == files


def test_ten_thousand_small_files_cost_fewer_than_a_hundred_puts(
    cli: Cli, s3_server: S3Server, s3_config: dict[str, str], tmp_path: Path
) -> None:
    files = {f"c{i % 10}/f-{i:05}.bin": os.urandom(20 * 1024) for i in range(10_000)}
    data = write_tree(tmp_path / "many", files)
    proxy = FaultProxy(s3_server.endpoint, lifetime=300)
    with proxy as endpoint:
        ds, ref = open_version(cli, s3_config, endpoint, "many")
        proxy.reset_counts()
        sent = cli.json("datasets", "files", "put", "--id", ref, "--source-path", f"{data}/")
        puts = proxy.count("PUT")
        assert sent["newObjects"] == 10_000 and sent["bytesSent"] == 10_000 * 20 * 1024
        assert puts < 100, proxy.counts()
        cli.ok("datasets", "versions", "commit", "--id", ref)
        proxy.reset_counts()
        again = cli.json("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
        assert again["isCommitted"] and proxy.count("PUT") <= 2  # the manifest, nothing else
        out = tmp_path / "out"
        proxy.reset_counts()
        cli.ok("datasets", "files", "get", "--id", ds, "--target-path", str(out))
        assert proxy.count("GET") < 100, proxy.counts()
    for rel in list(files)[::501]:
        assert (out / rel).read_bytes() == files[rel]


def test_faults_on_the_wire_leave_every_committed_version_whole(
    cli: Cli,
    s3_server: S3Server,
    s3_config: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CARGOHOLD_PART_SIZE", "5MiB")
    monkeypatch.setenv("CARGOHOLD_PACK_SIZE", "1MiB")
    files = {f"s/{i:03}.bin": os.urandom(30_000) for i in range(400)}
    files.update({f"l/{i}.bin": os.urandom(7 * MIB) for i in range(3)})
    data = write_tree(tmp_path / "faulty", files)
    proxy = FaultProxy(s3_server.endpoint, seed=11, lifetime=300)
    with proxy as endpoint:
        _, ref = open_version(cli, s3_config, endpoint, "faults")
        proxy.fail(500, method="PUT", fraction=0.15)
        proxy.fail(503, method="GET", fraction=0.1)
        proxy.reset(method="PUT", fraction=0.1)
        proxy.reset_response(method="GET", fraction=0.15)
        proxy.delay(0.05, fraction=0.05)
        for _attempt in range(4):  # a command may fail after its retries: re-running finishes
            if cli("datasets", "files", "put", "--id", ref, "--source-path", f"{data}/").code == 0:
                break
        else:
            pytest.fail("four runs of files put did not finish")
        for _attempt in range(4):
            if cli("datasets", "versions", "commit", "--id", ref).code == 0:
                break
        out = tmp_path / "out"
        for _attempt in range(4):
            if cli("datasets", "files", "get", "--id", ref, "--target-path", str(out)).code == 0:
                break
        assert sum(proxy.faults().values()) >= 4, proxy.faults()  # faults did happen
    for rel, content in files.items():
        assert (out / rel).read_bytes() == content, rel


def run_ok(*args: str) -> str:
    """`cargohold ARGS` as a new process; what it printed, once it has succeeded."""
    result = run_process(*args)
    assert result.code == 0, result.err
    return result.out


def test_the_server_stopped_halfway_through_a_1gb_upload(
    cargohold_home: Path, s3_server: S3Server, s3_config: dict[str, str], tmp_path: Path
) -> None:
    """2,000 files, 1 GB: the server dies mid-way and comes back; the re-run sends about what
    was missing, and the version reads back whole."""
    size = 512 * 1024
    data = tmp_path / "gig"
    for i in range(2000):
        (data / f"d{i % 20}").mkdir(parents=True, exist_ok=True)
        (data / f"d{i % 20}" / f"f-{i:04}.bin").write_bytes(os.urandom(size))
    total = 2000 * size
    sp = run_ok(*s3_provider_args(s3_config, "gig")).split()[-1]
    ds = run_ok("datasets", "create", "--name", "gig", "--storageProviderId", sp).split()[-1]
    ref = run_ok("datasets", "versions", "create", "--id", ds).split()[-1]
    args = ["datasets", "files", "put", "--id", ref, "--source-path", f"{data}/", "--json"]
    proc = subprocess.Popen(
        command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            stored = sum(bucket_objects(s3_server, s3_config["bucket"]).values())
            if stored > total * 0.4:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the upload ended before the server could be stopped"
        s3_server.stop()
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 1 and "Traceback" not in err
        assert "Error:" in err
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        s3_server.start()
    landed = sum(bucket_objects(s3_server, s3_config["bucket"]).values())
    rerun = json.loads(run_ok(*args))
    print(f"\nstopped with {landed:,} of {total:,} bytes stored; the re-run sent {rerun}")
    assert rerun["files"] == 2000
    assert rerun["bytesSent"] + rerun["bytesSkipped"] == total
    assert rerun["bytesSent"] <= total - landed + 2 * 32 * 1024 * 1024  # a pack or two resent
    assert rerun["bytesSent"] < total * 0.7
    run_ok("datasets", "versions", "commit", "--id", ref)
    out = tmp_path / "back"
    run_ok("datasets", "files", "get", "--id", ref, "--target-path", str(out))
    for i in range(0, 2000, 37):
        rel = Path(f"d{i % 20}") / f"f-{i:04}.bin"
        assert (out / rel).read_bytes() == (data / rel).read_bytes()
    assert sum(1 for p in out.rglob("*.bin")) == 2000


@pytest.mark.parametrize("threshold", ["0", "4MiB"], ids=["whole", "packed"])
def test_a_file_that_cannot_be_sent_fails_the_command_and_is_named(
    cli: Cli,
    s3_server: S3Server,
    s3_config: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    threshold: str,
) -> None:
    monkeypatch.setenv("CARGOHOLD_PACK_THRESHOLD", threshold)
    data = write_tree(tmp_path / "x", {"only-one.bin": os.urandom(1000)})
    proxy = FaultProxy(s3_server.endpoint)
    with proxy as endpoint:
        _, ref = open_version(cli, s3_config, endpoint, "nope")
        proxy.fail(500, method="PUT")
        res = cli("datasets", "files", "put", "--id", ref, "--source-path", f"{data}/")
    assert res.code == 1 and "Traceback" not in res.err
    assert "only-one.bin" in res.err, res.err
    assert cli.json("datasets", "files", "list", "--id", ref) == []


def _server_traffic(url: str, pid: int) -> tuple[float, int]:
    """HTTP body bytes the server took in and sent (its /metrics), and every byte its process
    read or wrote through system calls, sockets and files alike (/proc/PID/io)."""
    metrics = httpx.get(f"{url}/metrics", timeout=10).text
    body = sum(
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith(
            ("cargohold_http_request_bytes_total{", "cargohold_http_response_bytes_total{")
        )
    )
    io = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return body, int(io["rchar"]) + int(io["wchar"])


def test_through_a_server_the_bytes_go_straight_to_the_bucket(
    cargohold_home: Path, tmp_path: Path, s3_config: dict[str, str], s3_server: S3Server
) -> None:
    """A CLI upload and download through a real `cargohold server` process to an S3
    provider: the server moves metadata only, the bucket gets every byte."""
    files = {f"shard-{i}.bin": os.urandom(12 * MIB) for i in range(3)}
    files |= {f"small/{i:03}.txt": os.urandom(3000) for i in range(200)}
    data = write_tree(tmp_path / "data", files)
    total = sum(len(v) for v in files.values())
    with server_process({}, tmp_path / "server.log") as server:
        url, pid = server.url, server.pid
        env = {"CARGOHOLD_SERVER": url, "CARGOHOLD_API_KEY": create_team("s3-direct")}

        def run(*args: str) -> str:
            result = run_process(*args, env=env)
            assert result.code == 0, result.err
            return result.out

        sp = run(*s3_provider_args(s3_config)).split()[-1]
        ds = run("datasets", "create", "--name", "direct", "--storageProviderId", sp).split()[-1]
        before = _server_traffic(url, pid)
        made = json.loads(
            run("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/", "--json")
        )
        assert made["upload"]["bytesSent"] == total
        run("datasets", "files", "get", "--id", ds, "--target-path", str(tmp_path / "back"))
        after = _server_traffic(url, pid)
    for rel, content in files.items():
        assert (tmp_path / "back" / rel).read_bytes() == content
    body, syscalls = (after[0] - before[0], after[1] - before[1])
    assert body < 0.01 * total, f"{body:,.0f} body bytes through the server for {total:,}"
    # Bytes relayed by the server would cost it at least twice their size here (read from the
    # client, written to the bucket); what it does do is catalog pages and metadata.
    assert syscalls < 0.25 * total, f"{syscalls:,} bytes of I/O in the server for {total:,}"
    stored = bucket_objects(s3_server, s3_config["bucket"])
    assert sum(stored.values()) >= total
