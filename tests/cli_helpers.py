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


def run_process(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """`cargohold ARGS` as a new process, the way a user runs it."""
    proc = subprocess.run(
        [sys.executable, "-m", "cargohold.cli.main", *args],
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
