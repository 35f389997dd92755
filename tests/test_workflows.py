"""Workflows run on this machine (issue 6): the seed document's examples, read-only inputs,
outputs committed as versions with lineage, failures, volumes, secrets, Ctrl-C.

Jobs really run, in bubblewrap; the CLI runs them locally and against a real server (the
`cli` fixture): records, secrets, datasets and lineage then live on the server.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from cargohold.settings import Settings
from tests.cli_helpers import Cli, command, write_tree
from tests.conftest import running_on_ci
from tests.server_helpers import TestServer
from tests.workflow_seed import SEED_CHAIN, SEED_READ

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None and not running_on_ci(),  # on CI a missing bwrap fails
    reason="bubblewrap is not installed (scripts/test installs it)",
)


def job_lines(out: str, job: str) -> list[str]:
    prefix = re.compile(rf"^{re.escape(job)}\s+\| ")
    return [prefix.sub("", line) for line in out.splitlines() if prefix.match(line)]


def dataset_with_files(cli: Cli, tmp_path: Path, name: str, files: dict[str, bytes]) -> str:
    """A dataset whose latest version holds `files`; answers DATASET:VERSION."""
    src = write_tree(tmp_path / f"src-{name}", files)
    cli.ok("datasets", "create", "--name", name)
    out = cli.ok("datasets", "versions", "create", "--id", name, "--source-path", f"{src}/").out
    ref = out.split()[-1]
    cli.ok("datasets", "versions", "commit", "--id", ref)
    return ref


def spec_file(tmp_path: Path, text: str, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def git_repo(root: Path) -> Path:
    write_tree(root, {"README.md": b"# demo\n", "src/train.py": b"print('hi')\n"})
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
    }
    env["GIT_COMMITTER_EMAIL"] = "t@t"
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "one"]):
        subprocess.run(["git", *args], cwd=root, env=env, check=True)
    return root


def committed_files(cli: Cli, ref: str) -> set[str]:
    listed = cli.json("datasets", "files", "list", "--id", ref, "--recursive", "true")
    return {e["name"] for e in listed if not e["isDirectory"]}


def the_run(cli: Cli, workflow: str, number: int = 1) -> dict:
    found: dict = cli.json(
        "workflows", "get", "--id", workflow, "--show-runs", "--run", str(number)
    )
    return found


# -- the seed document's examples ------------------------------------------------------------


def test_seed_example_reads_a_dataset_version(cli: Cli, tmp_path: Path) -> None:
    ref = dataset_with_files(cli, tmp_path, "my-dataset", {"a.txt": b"a", "sub/b.txt": b"b"})
    result = cli.ok("workflows", "run", "--path", spec_file(tmp_path, SEED_READ.format(ref=ref)))
    lines = job_lines(result.out, "job-1")
    assert "a.txt" in lines and "sub" in lines, result.out
    assert "does not pull container images" in result.out and "bash:5" in result.out
    assert re.search(r"Created workflow run wfr[0-9a-f]{32}", result.out)
    assert "SUCCEEDED" in result.out
    run = the_run(cli, "spec")
    assert run["status"]["phase"] == "SUCCEEDED"
    assert run["status"]["jobs"]["job-1"]["exitCode"] == 0


def test_seed_example_chains_two_jobs_through_a_committed_version(cli: Cli, tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    cli.ok("datasets", "create", "--name", "my-dataset")
    text = SEED_CHAIN.format(ref="my-dataset", url=repo)
    result = cli.ok("workflows", "run", "--path", spec_file(tmp_path, text, "chain.yaml"))
    run = the_run(cli, "chain")
    made = run["status"]["jobs"]["job-1"]["outputs"]["my-dataset"]["dataset"]
    assert made["isCommitted"] is True
    version = cli.json("datasets", "versions", "details", "--id", made["id"])
    assert version["isCommitted"] is True
    files = committed_files(cli, made["id"])
    assert {"README.md", "src/train.py"} <= files and any(f.startswith(".git/") for f in files)
    listed = job_lines(result.out, "job-2")
    assert "README.md" in listed and "src" in listed, result.out
    assert f"[cargohold] /inputs/my-created-dataset: {made['id']}" in "\n".join(listed)
    assert version["lineage"]["job"] == "job-1"


def test_a_later_job_reads_the_version_its_producer_committed_not_the_latest(
    cli: Cli, tmp_path: Path
) -> None:
    cli.ok("datasets", "create", "--name", "shared")
    text = """\
jobs:
  first:
    outputs: {out: {type: dataset, with: {ref: shared}}}
    uses: script@v1
    with: {script: "echo one > /outputs/out/which.txt"}
  second:
    needs: [first]
    outputs: {out: {type: dataset, with: {ref: shared}}}
    uses: script@v1
    with: {script: "echo two > /outputs/out/which.txt"}
  reader:
    needs: [first, second]
    inputs: {seen: first.outputs.out}
    outputs: {said: {type: string}}
    uses: script@v1
    with: {script: "cat /inputs/seen/which.txt > /outputs/said"}
"""
    cli.ok("workflows", "run", "--path", spec_file(tmp_path, text, "pinned.yaml"))
    run = the_run(cli, "pinned")
    jobs = run["status"]["jobs"]
    assert jobs["reader"]["outputs"]["said"]["string"]["value"] == "one"
    first = jobs["first"]["outputs"]["out"]["dataset"]["id"]
    latest = cli.json("datasets", "versions", "details", "--id", "shared:latest")
    assert latest["id"] != first  # 'second' committed after 'first'


# -- read-only inputs ---------------------------------------------------------------------------


def test_a_job_cannot_write_its_inputs_and_the_cache_stays_whole(cli: Cli, tmp_path: Path) -> None:
    ref = dataset_with_files(cli, tmp_path, "frozen", {"a.txt": b"original", "b.bin": b"\0" * 5000})
    text = """\
jobs:
  vandal:
    inputs: {d: {type: dataset, with: {ref: REF}}}
    uses: script@v1
    with:
      script: |
        echo changed > /inputs/d/a.txt || exit 7
""".replace("REF", ref)
    result = cli("workflows", "run", "--path", spec_file(tmp_path, text, "vandal.yaml"))
    assert result.code == 1
    assert "Read-only file system" in result.out + result.err
    run = the_run(cli, "vandal")
    assert run["status"]["phase"] == "FAILED"
    assert run["status"]["jobs"]["vandal"]["exitCode"] == 7
    cache = Settings.from_env().cache_dir
    held = [p for p in cache.rglob("*") if p.is_file() and re.fullmatch(r"[0-9a-f]{64}", p.name)]
    assert len(held) == 2
    for path in held:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name
    assert b"original" in [p.read_bytes() for p in held]


# -- validation before anything runs -------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "line", "key"),
    [
        (("  job-1:\n", "  job-1:\n    needs: [job-2]\n"), 3, "jobs.job-1.needs"),
        (
            ("    uses: container@v1\n", "    uses: container@v1\n    name: x\n"),
            9,
            "jobs.job-1.name",
        ),
        (("    needs:\n      - job-1\n", ""), 19, "jobs.job-2.inputs.my-created-dataset"),
    ],
)
def test_a_bad_spec_is_refused_before_any_job_runs(
    cli: Cli, tmp_path: Path, change: tuple[str, str], line: int, key: str
) -> None:
    cli.ok("datasets", "create", "--name", "my-dataset")
    text = SEED_CHAIN.format(ref="my-dataset", url=tmp_path / "nowhere").replace(*change, 1)
    result = cli("workflows", "run", "--path", spec_file(tmp_path, text, "bad.yaml"))
    assert result.code == 1
    assert f"bad.yaml:{line}: {key}:" in result.err, result.err
    assert "Traceback" not in result.err
    assert cli.json("workflows", "list") == []


def test_unknown_datasets_and_missing_files_are_refused(cli: Cli, tmp_path: Path) -> None:
    result = cli("workflows", "run", "--path", spec_file(tmp_path, SEED_READ.format(ref="nope")))
    assert result.code == 1 and "spec.yaml:7: jobs.job-1.inputs.my-dataset: 'nope'" in result.err
    result = cli("workflows", "run", "--path", str(tmp_path / "missing.yaml"))
    assert result.code == 1 and f"Source path not found: {tmp_path / 'missing.yaml'}" in result.err
    assert cli.json("workflows", "list") == []


# -- a failing job -----------------------------------------------------------------------------

CHAIN3 = """\
jobs:
  prepare:
    outputs:
      scratch: {type: volume}
      clean: {type: dataset, with: {ref: clean}}
    uses: script@v1
    with: {script: "echo data > /outputs/scratch/x; echo ok > /outputs/clean/ok.txt"}
  train:
    needs: [prepare]
    inputs: {scratch: prepare.outputs.scratch}
    outputs: {model: {type: dataset, with: {ref: model}}}
    uses: script@v1
    with:
      script: |
        cat /inputs/scratch/x
        echo weights > /outputs/model/w.bin
        echo "loss went to nan" >&2
        exit 3
  report:
    needs: [train]
    inputs: {model: train.outputs.model}
    uses: script@v1
    with: {script: "ls /inputs/model"}
"""


def test_a_failing_job_in_the_middle_commits_nothing_and_skips_the_rest(
    cli: Cli, tmp_path: Path
) -> None:
    for name in ("clean", "model"):
        cli.ok("datasets", "create", "--name", name)
    result = cli("workflows", "run", "--path", spec_file(tmp_path, CHAIN3, "chain3.yaml"))
    assert result.code == 1
    assert job_lines(result.out, "train")[:1] == ["data"]
    assert "loss went to nan" in result.err  # the failed job's last lines, in the summary
    assert "job train failed: exited with code 3" in result.err
    run = the_run(cli, "chain3")
    jobs = run["status"]["jobs"]
    assert run["status"]["phase"] == "FAILED"
    assert (jobs["prepare"]["phase"], jobs["train"]["phase"], jobs["report"]["phase"]) == (
        "SUCCEEDED",
        "FAILED",
        "SKIPPED",
    )
    assert jobs["train"]["exitCode"] == 3
    assert cli.json("datasets", "versions", "list", "--id", "model", "--isCommitted", "false") == []
    assert cli.json("datasets", "versions", "list", "--id", "model") == []
    assert len(cli.json("datasets", "versions", "list", "--id", "clean")) == 1
    runs = Settings.from_env().home / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []  # volumes removed
    logs = cli.ok("workflows", "logs", "--id", "chain3", "--run", "1").out
    assert "loss went to nan" in logs and "Job Name: train" in logs


@pytest.mark.local_only  # the server read its limit when it started
def test_a_volume_over_its_limit_stops_the_job(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARGOHOLD_VOLUME_LIMIT", "1MB")
    text = """\
jobs:
  fill:
    outputs: {v: {type: volume}}
    uses: script@v1
    with: {script: "head -c 3000000 /dev/zero > /outputs/v/big; sleep 30"}
"""
    started = time.monotonic()
    result = cli("workflows", "run", "--path", spec_file(tmp_path, text, "fill.yaml"))
    assert result.code == 1
    assert time.monotonic() - started < 20  # stopped, not waited for
    assert "over its limit" in result.err, result.err
    runs = Settings.from_env().home / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []


# -- lineage -------------------------------------------------------------------------------------


def test_lineage_of_a_two_job_chain(cli: Cli, tmp_path: Path) -> None:
    raw = dataset_with_files(cli, tmp_path, "raw", {"r.csv": b"1,2\n"})
    for name in ("features", "model"):
        cli.ok("datasets", "create", "--name", name)
    text = """\
inputs:
  raw: {type: dataset, with: {ref: raw}}
jobs:
  featurize:
    inputs: {raw: workflow.inputs.raw}
    outputs: {features: {type: dataset, with: {ref: features}}}
    uses: script@v1
    with: {script: "cp /inputs/raw/r.csv /outputs/features/f.csv"}
  fit:
    needs: [featurize]
    inputs: {features: featurize.outputs.features}
    outputs: {model: {type: dataset, with: {ref: model}}}
    uses: script@v1
    with: {script: "wc -l /inputs/features/f.csv > /outputs/model/m.txt"}
"""
    cli.ok("workflows", "run", "--path", spec_file(tmp_path, text, "lineage.yaml"))
    model = cli.json("datasets", "versions", "details", "--id", "model:latest")
    lineage = cli.ok("datasets", "versions", "lineage", "--id", model["id"]).out
    assert "fit" in lineage and "featurize" in lineage and raw in lineage, lineage
    up = cli.json("datasets", "versions", "lineage", "--id", model["id"])["up"]
    assert raw in {step["id"] for step in up}
    down = cli.json("datasets", "versions", "lineage", "--id", raw)["down"]
    assert model["id"] in {step["id"] for step in down}
    run = the_run(cli, "lineage")
    assert model["lineage"]["specSha256"] == run["status"]["specSha256"]
    assert run["status"]["inputs"]["raw"]["dataset"]["id"] == raw


# -- secrets, strings, actions ---------------------------------------------------------------------


def test_secrets_strings_and_git_checkout(cli: Cli, tmp_path: Path) -> None:
    repo = git_repo(tmp_path / "repo")
    cli.ok("secrets", "create", "--name", "hello", "--value", "s3cr3t-value")
    cli.ok("datasets", "create", "--name", "code")
    text = f"""\
defaults:
  env: {{HELLO: secret:hello}}
  resources: {{instance-type: C5}}
inputs:
  greeting: {{type: string, with: {{value: "hello world"}}}}
jobs:
  checkout:
    outputs: {{repo: {{type: volume}}, code: {{type: dataset, with: {{ref: code}}}}}}
    uses: git-checkout@v1
    with: {{url: "file://{repo}", ref: main, path: /outputs/code/src}}
  use:
    needs: [checkout]
    inputs:
      code: checkout.outputs.code
      greeting: workflow.inputs.greeting
    outputs: {{said: {{type: string}}}}
    uses: script@v1
    with:
      script: |
        case "$HELLO" in s3cr3t-v*) ;; *) exit 9;; esac
        echo "$(cat /inputs/greeting) $(ls /inputs/code/src)" > /outputs/said
"""
    result = cli.ok("workflows", "run", "--path", spec_file(tmp_path, text, "secret.yaml"))
    assert "resources" in result.out and "ignores them" in result.out
    jobs = the_run(cli, "secret")["status"]["jobs"]
    assert jobs["use"]["outputs"]["said"]["string"]["value"] == "hello world README.md\nsrc"
    code = jobs["checkout"]["outputs"]["code"]["dataset"]["id"]
    assert {"src/README.md", "src/src/train.py"} <= committed_files(cli, code)
    everything = cli.ok("workflows", "get", "--id", "secret", "--show-runs", "--run", "1").out
    assert "s3cr3t-value" not in everything


def test_a_missing_secret_is_refused_before_anything_runs(cli: Cli, tmp_path: Path) -> None:
    text = (
        "jobs:\n  j:\n    env: {T: secret:nope}\n    uses: script@v1\n    with: {script: 'true'}\n"
    )
    result = cli("workflows", "run", "--path", spec_file(tmp_path, text, "nosecret.yaml"))
    assert result.code == 1 and "Secret not found: nope" in result.err, result.err
    assert cli.json("workflows", "list") == []


def test_workflow_records_through_gradients_commands(cli: Cli, tmp_path: Path) -> None:
    created = cli.json("workflows", "create", "--name", "nightly", "--projectId", "prj1")
    table = cli.ok("workflows", "list", "--projectId", "prj1").out
    assert "nightly" in table and created["id"] in table
    text = "jobs:\n  hello:\n    uses: script@v1\n    with: {script: 'echo hi; echo there'}\n"
    path = spec_file(tmp_path, text)
    cli.ok("workflows", "run", "--id", created["id"], "--path", path)
    cli.ok("workflows", "run", "--id", "nightly", "--path", path)
    runs = cli.ok("workflows", "get", "--id", created["id"], "--show-runs").out
    assert re.search(r"\b2\b.*SUCCEEDED.*wfr[0-9a-f]{32}", runs), runs
    logs = cli.ok("workflows", "logs", "--id", "nightly", "--run", "2").out
    assert "hi" in logs and "there" in logs
    job_log = the_run(cli, "nightly", 2)["status"]["jobs"]["hello"]["logId"]
    follow = cli.ok(
        "workflows", "logs", "--id", "nightly", "--run", "2", "--logId", job_log, "--follow"
    )
    assert job_lines(follow.out, "hello")[-2:] == ["hi", "there"]


# -- the sandbox ---------------------------------------------------------------------------------


@pytest.mark.local_only
def test_a_missing_bubblewrap_says_how_to_install_it(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    text = "jobs:\n  j:\n    uses: script@v1\n    with: {script: 'true'}\n"
    result = cli("workflows", "run", "--path", spec_file(tmp_path, text))
    assert result.code == 1
    assert "bwrap is not installed" in result.err and "apt-get install bubblewrap" in result.err
    assert cli.json("workflows", "list") == []


@pytest.mark.local_only
def test_a_job_sees_no_secrets_of_cargohold(cli: Cli, tmp_path: Path) -> None:
    home = Settings.from_env().home
    cli.ok("datasets", "list")  # the catalog and its key exist
    assert any(home.iterdir())
    script = f"ls -A {home} | wc -l; touch /storage/kept && echo storage-ok"
    text = f'jobs:\n  j:\n    uses: script@v1\n    with: {{script: "{script}"}}\n'
    result = cli.ok("workflows", "run", "--path", spec_file(tmp_path, text))
    assert job_lines(result.out, "j") == ["0", "storage-ok"]
    assert (Settings.from_env().storage_dir / "kept").exists()  # /storage persists


def test_ctrl_c_stops_the_jobs_and_marks_the_run_failed(
    tmp_path: Path, cargohold_home: Path
) -> None:
    text = "jobs:\n  slow:\n    uses: script@v1\n    with: {script: 'echo started; sleep 67'}\n"
    path = spec_file(tmp_path, text, "slow.yaml")
    proc = subprocess.Popen(
        command("workflows", "run", "--path", path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "started" in line:
            break
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - started < 15
    assert "Traceback" not in err
    leftover = subprocess.run(["pgrep", "-f", "sleep 67"], capture_output=True, text=True)
    assert leftover.stdout.strip() == ""
    shown = subprocess.run(
        command("workflows", "get", "--id", "slow", "--show-runs", "--run", "1"),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"phase": "FAILED"' in shown and '"CANCELLED"' in shown


def test_a_run_on_the_server_survives_the_client_going_away(
    tmp_path: Path, cargohold_home: Path
) -> None:
    server = TestServer(Settings.from_env(), mode="uvicorn")
    try:
        key = server.key("survivors")
        script = "echo started; sleep 2; echo finished"
        text = f"jobs:\n  long:\n    uses: script@v1\n    with: {{script: '{script}'}}\n"
        proc = subprocess.Popen(
            command("workflows", "run", "--path", spec_file(tmp_path, text, "long.yaml")),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "CARGOHOLD_SERVER": server.url, "CARGOHOLD_API_KEY": key},
        )
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "started" in line:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130 and "the run goes on on the server" in err, (seen, err)
        records = server.services(key).workflows
        deadline = time.monotonic() + 30
        while (run := records.run("long", 1)).phase not in ("SUCCEEDED", "FAILED"):
            assert time.monotonic() < deadline, run
            time.sleep(0.2)
        assert run.phase == "SUCCEEDED"
        assert [x.message for x in records.logs(run.job("long").log_id)] == ["started", "finished"]
    finally:
        server.close()
