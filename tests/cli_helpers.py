"""Running the `cargohold` CLI from tests: in-process (fast) or as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cargohold.cli.main import main


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """Calls `cargohold ARGS` in this process and captures what it prints."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *args: str) -> Result:
        self.capsys.readouterr()
        code = main(list(args))
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.code == 0, f"cargohold {' '.join(args)} failed: {result.err}{result.out}"
        return result

    def json(self, *args: str) -> Any:
        return self.ok(*args, "--json").json()


def command(*args: str) -> list[str]:
    """The argv of `cargohold ARGS` run as a new process with this interpreter."""
    return [sys.executable, "-m", "cargohold.cli.main", *args]


def run_process(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """`cargohold ARGS` as a new process, the way a user runs it."""
    proc = subprocess.run(
        command(*args),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=600,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


def new_version(cli: Cli, name: str = "demo", provider: str | None = None) -> tuple[str, str]:
    """A dataset (on `provider`, else the default one) and an open version of it: (ID, ref)."""
    extra = ["--storageProviderId", provider] if provider else []
    ds = cli.json("datasets", "create", "--name", name, *extra)["id"]
    ref = cli.ok("datasets", "versions", "create", "--id", ds).out.split()[-1]
    return ds, ref


def s3_provider_args(config: dict[str, str], name: str = "bucket-one") -> list[str]:
    """The seed document's line: storageProviders create s3 --name N --bucket B ..."""
    args = ["storageProviders", "create", "s3", "--name", name, "--bucket", config["bucket"]]
    args += ["--accessKey", config["accessKey"], "--secretAccessKey", config["secretAccessKey"]]
    for key in ("endpoint", "region", "signatureVersion"):
        if config.get(key):
            args += [f"--{key}", config[key]]
    return args


def create_s3_provider(cli: Cli, config: dict[str, str], name: str = "bucket-one") -> str:
    """Creates an S3 storage provider for a Gradient-shaped `config`; returns its ID."""
    out = cli.ok(*s3_provider_args(config, name)).out
    assert out.startswith("Created new storage provider with id: spl"), out
    return out.split()[-1]
