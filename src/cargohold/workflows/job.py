"""One job of a run: its inputs put in place, its action run, its outputs collected.

A job's directory (in the run's workspace) holds ``inputs/`` (seen read-only as /inputs:
dataset versions placed from the cache by hardlink, strings as files, volumes of earlier
jobs bound read-only), ``outputs/`` (seen writable as /outputs) and ``tmp/``. Dataset
outputs are uploaded into new versions and committed only once the job succeeded and every
one of them is whole; until then nothing is visible, and a failure deletes what was started.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cargohold.cache.sizes import format_size
from cargohold.domain.workflows import Lineage, LineageInput
from cargohold.errors import CargoholdError
from cargohold.services.download import get
from cargohold.services.root import Services
from cargohold.services.s3_fetch import fetch_prefix
from cargohold.services.upload import put
from cargohold.workflows import sandbox
from cargohold.workflows.logs import JobLog
from cargohold.workflows.model import Job, SecretRef, Spec
from cargohold.workflows.process import Finished, run_program, tree_size

MAX_STRING_OUTPUT = 64 * 1024
"""Bytes of a string output (a short UTF-8 value, GRADIENT.md §4.3)."""

GIT_CHECKOUT = (
    'set -e; git clone --no-progress "$GIT_CHECKOUT_URL" "$GIT_CHECKOUT_DEST"; '
    'if [ -n "$GIT_CHECKOUT_REF" ]; then '
    'git -C "$GIT_CHECKOUT_DEST" -c advice.detachedHead=false checkout -q "$GIT_CHECKOUT_REF"; '
    "fi"
)
ASKPASS = (
    '#!/bin/sh\ncase "$1" in Username*) echo "$GIT_USERNAME";; *) echo "$GIT_PASSWORD";; esac\n'
)


class JobFailed(Exception):
    """The job did not succeed; `exit_code` is its program's, or None when it never ran."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Produced:
    """What a finished job left for later ones, by output name."""

    datasets: dict[str, str] = field(default_factory=dict)  # name -> DS:VERSION
    volumes: dict[str, Path] = field(default_factory=dict)
    strings: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            n: {"dataset": {"id": ref, "isCommitted": True}} for n, ref in self.datasets.items()
        }
        out |= {n: {"volume": {"size": tree_size(p)}} for n, p in self.volumes.items()}
        out |= {n: {"string": {"value": v}} for n, v in self.strings.items()}
        return out


@dataclass
class RunContext:
    """What every job of a run shares."""

    services: Services
    workflow_id: str
    run: int
    spec_sha256: str
    workspace: Path
    spec: Spec
    resolved: dict[str, str]  # a dataset ref as the spec wrote it -> DS:VERSION
    secrets: dict[str, str]
    produced: dict[str, Produced]
    bwrap: str | None
    volume_limit: int
    cancel: threading.Event
    hidden: tuple[Path, ...] = ()
    storage: Path | None = None


class JobRunner:
    def __init__(self, ctx: RunContext, job: Job, log: JobLog) -> None:
        self.ctx, self.job, self.log = ctx, job, log
        self.dir = ctx.workspace / "jobs" / job.name
        self.inputs, self.outputs = self.dir / "inputs", self.dir / "outputs"
        self.tmp = self.dir / "tmp"
        self.read_only: dict[str, Path] = {}
        self.lineage_inputs: list[LineageInput] = []
        self.strings: dict[str, str] = {}

    def run(self) -> Produced:
        for folder in (self.inputs, self.outputs, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        self._place_inputs()
        for name, out in self.job.outputs.items():
            if out.type in ("dataset", "volume"):
                (self.outputs / name).mkdir()
        finished = self._act()
        if self.ctx.cancel.is_set():
            raise JobFailed("the run was interrupted", finished.exit_code)
        if finished.stopped:
            raise JobFailed(f"stopped: {finished.stopped}", finished.exit_code)
        if finished.exit_code != 0:
            raise JobFailed(f"exited with code {finished.exit_code}", finished.exit_code)
        return self._collect()

    # -- inputs ----------------------------------------------------------------------------

    def _place_inputs(self) -> None:
        for name, spec_input in self.job.inputs.items():
            target = self.inputs / name
            if spec_input.type == "string":
                target.write_text(self._string_input(name))
                continue
            if spec_input.type == "volume":
                target.mkdir()
                if spec_input.job and spec_input.output:
                    self.read_only[f"/inputs/{name}"] = self.ctx.produced[spec_input.job].volumes[
                        spec_input.output
                    ]
                continue
            ref = self._dataset_input(name)
            target.mkdir()
            got = get(self.ctx.services, ref, target)
            ds_id, _, version = ref.partition(":")
            self.lineage_inputs.append(LineageInput(name, ds_id, version))
            self.log.note(
                f"/inputs/{name}: {ref} ({got.files} files, {format_size(got.bytes)}, "
                f"{got.fetched} fetched into the cache)"
            )

    def _string_input(self, name: str) -> str:
        i = self.job.inputs[name]
        if i.workflow_input is not None:
            value = self.ctx.spec.inputs[i.workflow_input].value or ""
        elif i.job is not None and i.output is not None:
            value = self.ctx.produced[i.job].strings[i.output]
        else:
            value = i.value or ""
        self.strings[name] = value
        return value

    def _dataset_input(self, name: str) -> str:
        i = self.job.inputs[name]
        if i.job is not None and i.output is not None:
            return self.ctx.produced[i.job].datasets[i.output]
        written = self.ctx.spec.inputs[i.workflow_input].ref if i.workflow_input else i.ref
        assert written is not None
        return self.ctx.resolved[written]

    # -- the action ------------------------------------------------------------------------

    def _act(self) -> Finished:
        action = str(self.job.uses)
        if action == "s3-download@v1":
            return self._s3_download()
        return self._in_sandbox(self._argv(action))

    def _argv(self, action: str) -> list[str]:
        w = self.job.with_
        if action == "script@v1":
            return ["bash", "-c", str(w["script"])]
        if action == "git-checkout@v1":
            return ["sh", "-c", GIT_CHECKOUT]
        command = w.get("command")
        args = [str(a) for a in (w.get("args") or [])]
        if isinstance(command, list):
            return [str(c) for c in command] + args
        if command:
            return [*shlex.split(str(command)), *args]
        return args  # never empty: the spec's checks refuse a container without either

    def _env(self) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH") or "/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
        }
        for source in (self.ctx.spec.defaults.env, self.job.env):
            env |= {k: self._value(v) for k, v in source.items()}
        if str(self.job.uses) == "git-checkout@v1":
            env |= self._git_env()
        return env

    def _value(self, value: Any) -> str:
        return self.ctx.secrets[value.name] if isinstance(value, SecretRef) else str(value)

    def _git_env(self) -> dict[str, str]:
        w = self.job.with_
        env = {
            "GIT_CHECKOUT_URL": str(w["url"]),
            "GIT_CHECKOUT_DEST": self.checkout_path(),
            "GIT_CHECKOUT_REF": str(w.get("ref") or ""),
            "GIT_TERMINAL_PROMPT": "0",
        }
        if w.get("username") or w.get("password"):
            askpass = self.tmp / "askpass.sh"
            askpass.write_text(ASKPASS)
            askpass.chmod(0o700)
            env |= {"GIT_ASKPASS": "/tmp/askpass.sh"}
            env |= {"GIT_USERNAME": self._value(w.get("username") or "")}
            env |= {"GIT_PASSWORD": self._value(w.get("password") or "")}
        return env

    def checkout_path(self) -> str:
        """Where git-checkout@v1 and s3-download@v1 write: `path`, or the single output."""
        given = self.job.with_.get("path")
        if given:
            return str(given)
        (only,) = [n for n, o in self.job.outputs.items() if o.type != "string"]
        return f"/outputs/{only}"

    def _in_sandbox(self, argv: list[str]) -> Finished:
        assert self.ctx.bwrap is not None
        mounts = sandbox.Mounts(
            inputs=self.inputs,
            outputs=self.outputs,
            tmp=self.tmp,
            storage=self.ctx.storage,
            read_only=self.read_only,
            hidden=self.ctx.hidden,
        )
        command = sandbox.command(self.ctx.bwrap, argv, mounts, self._env())
        return run_program(command, self.log, self.ctx.cancel, self._over_limit)

    def _s3_download(self) -> Finished:
        w = self.job.with_
        dest = self.outputs / self.checkout_path().removeprefix("/outputs/")
        url = str(w["url"])
        self.log.note(f"downloading {url} into {self.checkout_path()}")
        try:
            fetched = fetch_prefix(
                url,
                dest,
                access_key=self._value(w.get("access-key") or w.get("accessKey")),
                secret_key=self._value(w.get("secret-access-key") or w.get("secretAccessKey")),
                endpoint=str(w["endpoint"]) if w.get("endpoint") else None,
                region=str(w["region"]) if w.get("region") else None,
                jobs=self.ctx.services.settings.jobs,
                stopped=self.ctx.cancel.is_set,
            )
        except CargoholdError as exc:
            self.log.note(f"s3-download failed: {exc}")
            return Finished(1)
        self.log.note(f"downloaded {fetched.files} files, {format_size(fetched.bytes)}")
        return Finished(0, self._over_limit())

    def _over_limit(self) -> str | None:
        for name, out in self.job.outputs.items():
            if out.type == "volume":
                size = tree_size(self.outputs / name)
                if size > self.ctx.volume_limit:
                    return (
                        f"the volume {name} holds {format_size(size)}, over its limit of "
                        f"{format_size(self.ctx.volume_limit)} (CARGOHOLD_VOLUME_LIMIT)"
                    )
        return None

    # -- outputs ---------------------------------------------------------------------------

    def _collect(self) -> Produced:
        produced = Produced()
        for name, out in self.job.outputs.items():
            if out.type == "string":
                produced.strings[name] = self._string_output(name)
            elif out.type == "volume":
                volume = self.ctx.workspace / "volumes" / self.job.name / name
                volume.parent.mkdir(parents=True, exist_ok=True)
                os.rename(self.outputs / name, volume)  # later jobs see it read-only
                produced.volumes[name] = volume
        produced.datasets = self._commit_datasets()
        return produced

    def _string_output(self, name: str) -> str:
        path = self.outputs / name
        if not path.is_file() or path.is_symlink():
            raise JobFailed(f"the job did not write its string output to /outputs/{name}")
        data = path.read_bytes()
        if len(data) > MAX_STRING_OUTPUT:
            raise JobFailed(
                f"/outputs/{name} holds {len(data)} bytes; a string output holds at most "
                f"{MAX_STRING_OUTPUT}"
            )
        try:
            return data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise JobFailed(f"/outputs/{name} is not UTF-8 text") from None

    def _commit_datasets(self) -> dict[str, str]:
        """Every dataset output uploaded into a new version, then all committed: a failure
        before the commits deletes the versions started."""
        services = self.ctx.services
        started: dict[str, str] = {}
        try:
            for name, out in self.job.outputs.items():
                if out.type != "dataset":
                    continue
                assert out.ref is not None
                folder = self.outputs / name
                self._drop_links(folder, name)
                message = f"workflow run {self.ctx.run}, job {self.job.name}, output {name}"
                version = services.versions.create(out.ref, message=message)
                started[name] = version.ref
                if any(folder.iterdir()):
                    summary = put(services, version.ref, [f"{folder}/"])
                    self.log.note(
                        f"/outputs/{name}: {summary.files} files uploaded into {version.ref} "
                        f"({summary.bytes_skipped} bytes already stored)"
                    )
        except BaseException:
            for ref in started.values():
                _forget(services, ref)
            raise
        if self.ctx.cancel.is_set():
            for ref in started.values():
                _forget(services, ref)
            raise JobFailed("the run was interrupted before its outputs were committed")
        committed: dict[str, str] = {}
        for name, ref in started.items():
            services.versions.commit(ref, lineage=self._lineage(name))
            committed[name] = ref
            self.log.note(f"/outputs/{name}: committed {ref}")
        return committed

    def _lineage(self, output: str) -> Lineage:
        return Lineage(
            workflow_id=self.ctx.workflow_id,
            run=self.ctx.run,
            job=self.job.name,
            output=output,
            spec_sha256=self.ctx.spec_sha256,
            inputs=tuple(self.lineage_inputs),
            strings=dict(self.strings),
        )

    def _drop_links(self, folder: Path, name: str) -> None:
        """Datasets hold regular files: symbolic links and special files a job left are
        said and left out (a link is never followed out of the job's outputs)."""
        for root, dirs, files in os.walk(folder):
            for entry in [*dirs, *files]:
                path = Path(root, entry)
                if path.is_symlink() or not (path.is_dir() or path.is_file()):
                    rel = path.relative_to(folder)
                    self.log.note(f"/outputs/{name}/{rel}: not a regular file, left out")
                    path.unlink()
                    if entry in dirs:
                        dirs.remove(entry)


def _forget(services: Services, ref: str) -> None:
    # Left uncommitted if this fails too: no job reads it (versions list --isCommitted false).
    with contextlib.suppress(CargoholdError):
        services.versions.delete(ref)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
