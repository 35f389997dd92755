"""One job's program: started in its own process group, its output pumped line by line into
the job's log, stopped cleanly when the run is interrupted or a volume outgrows its limit."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cargohold.workflows.logs import MAX_LINE, JobLog

GRACE_SECONDS = 5.0
"""How long a stopped job has between SIGTERM and SIGKILL."""
WATCH_SECONDS = 0.5


@dataclass
class Finished:
    exit_code: int
    stopped: str | None = None  # why cargohold stopped it, if it did


def tree_size(root: Path) -> int:
    """Bytes of the regular files below `root` (links not followed)."""
    total = 0
    stack = [str(root)]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def run_program(
    argv: Sequence[str],
    log: JobLog,
    cancel: threading.Event,
    check: Callable[[], str | None] = lambda: None,
) -> Finished:
    """Run `argv`, every output line into `log`; `check` is asked every WATCH_SECONDS and
    a reason it answers stops the program (as does `cancel`)."""
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stopped: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.wait(WATCH_SECONDS):
            reason = "the run was interrupted" if cancel.is_set() else check()
            if reason:
                stopped.append(reason)
                _stop(proc, done)
                return

    watcher = threading.Thread(target=watch, name="job-watch", daemon=True)
    watcher.start()
    assert proc.stdout is not None
    with proc.stdout:
        partial = b""
        while chunk := proc.stdout.readline(MAX_LINE):
            if not chunk.endswith(b"\n") and len(chunk) < MAX_LINE:
                partial += chunk  # the last line, without its newline
                continue
            log.line((partial + chunk).rstrip(b"\r\n").decode("utf-8", "replace"))
            partial = b""
        if partial:
            log.line(partial.rstrip(b"\r\n").decode("utf-8", "replace"))
    code = proc.wait()
    done.set()
    watcher.join()
    if not stopped and (reason := check()):  # grew past a limit in its last moments
        stopped.append(reason)
    exit_code = 128 - code if code < 0 else code  # killed by signal N: 128 + N, as shells say
    return Finished(exit_code, stopped[0] if stopped else None)


def _stop(proc: subprocess.Popen[bytes], done: threading.Event) -> None:
    """SIGTERM to the job's whole process group, SIGKILL after the grace period."""
    for sig, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        if wait is not None and done.wait(wait):
            return
