"""The acceptance checks of the core issue, run as a user would: `cargohold` processes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import command, run_process, write_tree
from tests.server_helpers import create_team, server_process

MB = 1024 * 1024


@pytest.fixture
def home(
    request: pytest.FixtureRequest, cargohold_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """The home of the commands; with the parameter "server", they talk to a real
    `cargohold server` process (on the same home) with a team's key."""
    if getattr(request, "param", "local") == "local":
        yield cargohold_home
        return
    with server_process({}, cargohold_home.parent / "server.log") as server:
        monkeypatch.setenv("CARGOHOLD_API_KEY", create_team("acceptance"))
        monkeypatch.setenv("CARGOHOLD_SERVER", server.url)
        yield cargohold_home


BOTH_WAYS = pytest.mark.parametrize("home", ["local", "server"], indirect=True)


def ok(*args: str, cwd: Path | None = None) -> str:
    result = run_process(*args, cwd=cwd)
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    return result.out


@BOTH_WAYS
def test_the_seed_documents_command_sequence(home: Path, tmp_path: Path) -> None:
    """The seed document: create, versions create, files put, version commit, list, details."""
    write_tree(tmp_path / "some-data", {"hello.txt": b"hello world\n"})
    listing = ok("storageProviders", "list")
    provider = re.search(r"\| Managed \| (spl[a-z0-9]{12}) \| local", listing)
    assert provider, listing
    sp = provider.group(1)

    created = ok("datasets", "create", "--name", "democli", "--storageProviderId", sp)
    assert re.fullmatch(r"Created dataset: ds[a-z0-9]{13}\n", created)
    ds = created.split()[-1]
    made = ok("datasets", "versions", "create", "--id", ds)
    assert re.fullmatch(rf"Created dataset version: {ds}:[a-z0-9]{{7}}\n", made)
    ref = made.split()[-1]
    ok("datasets", "files", "put", "--id", ref, "--source-path", "./some-data/", cwd=tmp_path)
    assert ok("datasets", "version", "commit", "--id", ref) == f"Committed dataset version: {ref}\n"

    provider_cell = f"Managed ({sp})"
    width = len(provider_cell)
    assert ok("datasets", "list") == (
        f"+---------+-----------------+-{'-' * width}-+\n"
        f"| Name    | ID              | {'Storage Provider'.ljust(width)} |\n"
        f"+---------+-----------------+-{'-' * width}-+\n"
        f"| democli | {ds} | {provider_cell} |\n"
        f"+---------+-----------------+-{'-' * width}-+\n"
    )
    assert ok("datasets", "details", f"--id={ds}") == (
        f"+-----------------+-{'-' * width}-+\n"
        f"| Name            | {'democli'.ljust(width)} |\n"
        f"+-----------------+-{'-' * width}-+\n"
        f"| ID              | {ds.ljust(width)} |\n"
        f"| Description     | {''.ljust(width)} |\n"
        f"| StorageProvider | {provider_cell} |\n"
        f"+-----------------+-{'-' * width}-+\n"
    )
    assert ok("datasets", "files", "list", f"--id={ref}") == (
        "+-----------+------+\n"
        "| Name      | Size |\n"
        "+-----------+------+\n"
        "| hello.txt | 12   |\n"
        "+-----------+------+\n"
    )
    one_go = ok(
        "datasets", "versions", "create", f"--id={ds}", "--source-path=./some-data/", cwd=tmp_path
    )
    lines = one_go.splitlines()
    assert lines[0].startswith(f"Created dataset version: {ds}:")
    assert lines[-1] == f"Committed dataset version: {lines[0].split()[-1]}"


def _put_json(ref: str, source: Path) -> dict[str, int]:
    return json.loads(
        ok("datasets", "files", "put", "--id", ref, "--source-path", f"{source}/", "--json")
    )


def test_same_100mb_twice_sends_nothing_and_one_change_sends_one_file(
    home: Path, tmp_path: Path
) -> None:
    data = write_tree(tmp_path / "big", {f"part-{i:03}.bin": os.urandom(MB) for i in range(100)})
    ds = ok("datasets", "create", "--name", "big").split()[-1]
    first = ok("datasets", "versions", "create", "--id", ds).split()[-1]
    sent = _put_json(first, data)
    assert sent["bytesSent"] == 100 * MB and sent["newObjects"] == 100
    ok("datasets", "versions", "commit", "--id", first)

    second = ok("datasets", "versions", "create", "--id", ds).split()[-1]
    again = _put_json(second, data)
    assert again == {"files": 100, "newObjects": 0, "bytesSent": 0, "bytesSkipped": 100 * MB}
    ok("datasets", "versions", "commit", "--id", second)

    (data / "part-042.bin").write_bytes(os.urandom(MB))
    third = ok("datasets", "versions", "create", "--id", ds).split()[-1]
    changed = _put_json(third, data)
    assert changed["newObjects"] == 1 and changed["bytesSent"] == MB
    assert changed["bytesSkipped"] == 99 * MB


def _write_as_nobody(path: Path) -> str:
    """Try to open `path` for writing as an unprivileged user; returns the outcome."""
    code = (
        "import os,sys\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "try:\n"
        "    open(sys.argv[1], 'ab').write(b'x')\n"
        "    print('written')\n"
        "except PermissionError:\n"
        "    print('refused')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_get_of_a_cached_10000_file_version_hardlinks_read_only_files(
    home: Path, tmp_path: Path
) -> None:
    files = {f"class-{i % 20}/item-{i:05}.txt": f"sample {i}\n".encode() for i in range(10_000)}
    data = write_tree(tmp_path / "many", files)
    ds = ok("datasets", "create", "--name", "many").split()[-1]
    ok("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    ok(
        "datasets", "files", "get", "--id", ds, "--target-path", str(tmp_path / "warm")
    )  # cached now

    # a world-traversable target, so the unprivileged write attempt below meets only the file
    public = Path(tempfile.mkdtemp(prefix="cargohold-get-"))
    try:
        public.chmod(0o755)
        target = public / "fresh"
        ok("datasets", "files", "get", "--id", f"{ds}:latest", "--target-path", str(target))
        cache = home / "cache"
        checked = 0
        for rel, content in list(files.items())[::97]:
            placed = target / rel
            assert placed.read_bytes() == content
            st = placed.stat()
            assert st.st_nlink >= 2 and st.st_mode & 0o222 == 0
            sha = hashlib.sha256(content).hexdigest()
            cached = cache / "objects" / sha[:2] / sha[2:4] / sha
            assert cached.stat().st_ino == st.st_ino
            checked += 1
        assert checked > 100
        assert sum(1 for p in target.rglob("*") if p.is_file()) == 10_000
        if os.geteuid() == 0:
            public_file = target / "class-0" / "item-00000.txt"
            for parent in [target, target / "class-0"]:
                parent.chmod(0o755)
            assert _write_as_nobody(public_file) == "refused"
        else:
            with pytest.raises(PermissionError):
                (target / "class-0" / "item-00000.txt").open("ab")
    finally:
        subprocess.run(["rm", "-rf", str(public)], check=False)


@BOTH_WAYS
def test_kill_9_during_put_then_rerun_sends_only_the_rest(home: Path, tmp_path: Path) -> None:
    count = 120
    data = write_tree(tmp_path / "kill", {f"f-{i:03}.bin": os.urandom(MB) for i in range(count)})
    ds = ok("datasets", "create", "--name", "killme").split()[-1]
    ref = ok("datasets", "versions", "create", "--id", ds).split()[-1]
    proc = subprocess.Popen(
        command("datasets", "files", "put", "--id", ref, "--source-path", f"{data}/", "--json"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CARGOHOLD_JOBS": "1"},
    )
    objects = home / "managed"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        arrived = [p for p in objects.rglob("*") if p.is_file() and "/objects/" in str(p)]
        if len(arrived) >= 10:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the upload finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # a server may still be renaming the last object it was sent whole
    stored = {p.name for p in objects.rglob("*") if p.is_file() and "/objects/" in str(p)}
    assert 0 < len(stored) < count

    rerun = _put_json(ref, data)
    assert rerun["files"] == count
    assert rerun["newObjects"] == count - len(stored)
    assert rerun["bytesSent"] == (count - len(stored)) * MB
    ok("datasets", "versions", "commit", "--id", ref)
    out = tmp_path / "back"
    ok("datasets", "files", "get", "--id", ds, "--target-path", str(out))
    for path in data.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes()
    listed = ok("datasets", "files", "list", "--id", ref)
    assert listed.count(".bin") == count
