"""The README's two commands stay true: the first runs here, the second is what CI runs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def code_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_readme_opens_with_run_then_test() -> None:
    first, second = code_blocks()[:2]
    assert first.strip() == "scripts/quickstart"
    assert second.strip() == "scripts/test"
    assert "exec scripts/test" in (ROOT / ".ci/run").read_text()


def test_quickstart_makes_a_first_versioned_dataset(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARGOHOLD_")}
    env["CARGOHOLD_HOME"] = str(tmp_path / "home")
    env["TMPDIR"] = str(tmp_path)
    for _ in range(2):  # and again, as a newcomer who runs it twice would
        proc = subprocess.run(
            [str(ROOT / "scripts/quickstart")], capture_output=True, text=True, env=env, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        assert "Committed dataset version: ds" in proc.stdout
    assert (tmp_path / "cargohold-quickstart" / "architecture.md").exists()
