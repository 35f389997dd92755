"""The local executor's sandbox: a job's command under bubblewrap.

The job sees the host's programs read-only (the container image is not pulled: see the
runner's note), a private writable ``/tmp`` (the host's ``/tmp`` entries appear in it
read-only, so that a local repository or file given by path is found), ``/inputs`` read-only,
``/outputs`` writable, and ``/storage`` (the team's persistent shared directory) writable.
cargohold's own home and cache are hidden: a job never reads the catalog, the key that
encrypts secrets, or cache files other than through its ``/inputs``. Capabilities are
dropped, so a job run by root cannot remount its inputs writable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cargohold.errors import SandboxUnavailable

BWRAP = "bwrap"
_VIRTUAL = frozenset({"proc", "dev", "sys", "tmp"})
HOST_TMP_ENTRIES = 2000
"""At most this many of the host's /tmp entries are shown in a job's /tmp."""


@dataclass
class Mounts:
    """What a job sees besides the host's programs: host path -> path in the sandbox."""

    inputs: Path  # host directory seen read-only as /inputs
    outputs: Path  # host directory seen writable as /outputs
    tmp: Path  # host directory seen writable as /tmp
    storage: Path | None = None  # seen writable as /storage
    read_only: dict[str, Path] = field(default_factory=dict)  # extra: sandbox path -> host
    hidden: Sequence[Path] = ()  # host directories replaced by an empty one


def find_bwrap() -> str:
    """The bubblewrap program, or a clear error saying how to install it."""
    found = shutil.which(BWRAP)
    if found is None:
        raise SandboxUnavailable(
            "Workflow jobs run in a bubblewrap sandbox, and bwrap is not installed"
        )
    return found


def check_bwrap(bwrap: str) -> None:
    """Run ``true`` in a minimal sandbox: a kernel or container that forbids the namespaces
    bubblewrap needs fails here, before any job starts, with its own words."""
    probe = [bwrap, *_isolation(), "--ro-bind", "/", "/", "--proc", "/proc", "--", "true"]
    done = subprocess.run(probe, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no reason"
        raise SandboxUnavailable(
            f"bubblewrap cannot make a sandbox here: {reason}",
            hint="Allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)"
            " or run as a user that may create them",
        )


def _isolation() -> list[str]:
    args = ["--die-with-parent", "--unshare-pid", "--unshare-ipc", "--unshare-uts"]
    args += ["--unshare-cgroup-try", "--cap-drop", "ALL"]
    if os.geteuid() != 0:
        args.append("--unshare-user")
    return args


def command(
    bwrap: str,
    argv: Sequence[str],
    mounts: Mounts,
    env: Mapping[str, str],
    cwd: str = "/tmp",
) -> list[str]:
    """The whole bwrap command line that runs `argv` as a job."""
    args = [bwrap, *_isolation(), "--tmpfs", "/"]
    args += _host_root()
    args += ["--dev", "/dev", "--proc", "/proc", "--bind", str(mounts.tmp), "/tmp"]
    args += _host_tmp()
    for hidden in mounts.hidden:
        if hidden.is_dir():
            args += ["--tmpfs", str(hidden)]
    args += ["--ro-bind", str(mounts.inputs), "/inputs"]
    for target, source in sorted(mounts.read_only.items()):
        args += ["--ro-bind", str(source), target]
    args += ["--bind", str(mounts.outputs), "/outputs"]
    if mounts.storage is not None:
        args += ["--bind", str(mounts.storage), "/storage"]
    args += ["--remount-ro", "/", "--clearenv"]
    for key, value in sorted(env.items()):
        args += ["--setenv", key, value]
    return [*args, "--chdir", cwd, "--", *argv]


def _host_root() -> list[str]:
    """The host's top-level directories read-only (its symlinks, such as /bin, as they are)."""
    args: list[str] = []
    for entry in sorted(os.scandir("/"), key=lambda e: e.name):
        if entry.name in _VIRTUAL or entry.name in ("inputs", "outputs", "storage"):
            continue
        if entry.is_symlink():
            args += ["--symlink", os.readlink(entry.path), entry.path]
        elif entry.is_dir():
            args += ["--ro-bind", entry.path, entry.path]
    return args


def _host_tmp() -> list[str]:
    """The host's /tmp entries, read-only, inside the job's private /tmp."""
    try:
        entries = sorted(os.scandir("/tmp"), key=lambda e: e.name)[:HOST_TMP_ENTRIES]
    except OSError:
        return []
    args: list[str] = []
    for entry in entries:
        if not entry.is_symlink() and (entry.is_dir() or entry.is_file()):
            args += ["--ro-bind", entry.path, entry.path]
    return args
