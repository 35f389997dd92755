"""Running a command as a whole process: wall time, peak RSS, exit code, captured output."""

from __future__ import annotations

import contextlib
import os
import signal
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Step:
    argv: list[str]
    env: dict[str, str]
    cwd: Path | None = None
    label: str = ""
    """Short name shown when a tool's operation takes several processes (dvc add, push)."""


@dataclass
class StepResult:
    label: str
    seconds: float
    rss_kb: int
    returncode: int
    stdout: Path
    stderr: Path
    cpu_seconds: float = 0.0
    """User + system CPU time of the process tree (what it waited for)."""

    def output(self) -> str:
        return self.stdout.read_text(errors="replace")

    def tail(self, lines: int = 15) -> str:
        text = self.stderr.read_text(errors="replace") + self.stdout.read_text(errors="replace")
        return "\n".join(text.strip().splitlines()[-lines:])


class StepFailed(Exception):
    def __init__(self, command: str, result: StepResult) -> None:
        """`command` as the report shows it (keys replaced by their names)."""
        super().__init__(f"{command} exited {result.returncode}:\n{result.tail()}")
        self.result = result


TIME = Path("/usr/bin/time")


def run_step(step: Step, logs: Path, name: str, timeout: float = 3600.0) -> StepResult:
    """Run one process (in its own session, so a time-out ends its whole tree) and measure
    its wall time and the peak RSS of the largest process in its tree.

    The RSS comes from /usr/bin/time's %M (wait4's ru_maxrss, which covers the descendants
    the process waited for). It is not read from our own wait4: a child forked from this
    Python process inherits its resident size into ru_maxrss (Linux keeps the high-water mark
    of the memory image that exec replaces), so even `cp` would show ~50 MB.
    """
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    rss_file = logs / f"{name}.rss"
    argv = step.argv
    if TIME.exists():
        argv = [str(TIME), "-f", "%M %U %S", "-o", str(rss_file), *argv]
    with out.open("wb") as fout, err.open("wb") as ferr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            env=step.env,
            cwd=step.cwd,
            stdin=subprocess.DEVNULL,
            stdout=fout,
            stderr=ferr,
            start_new_session=True,
        )
        timer = threading.Timer(timeout, _kill_group, (proc.pid,))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            _kill_group(proc.pid)
            proc.wait()
            raise
        finally:
            timer.cancel()
        seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_kb = usage.ru_maxrss
    cpu = usage.ru_utime + usage.ru_stime
    with contextlib.suppress(OSError, ValueError, IndexError):
        # the last line: time writes "Command exited with non-zero status N" before it
        rss, user, system = rss_file.read_text().splitlines()[-1].split()
        rss_kb, cpu = int(rss), float(user) + float(system)
    return StepResult(step.label, seconds, rss_kb, proc.returncode, out, err, cpu)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


@dataclass
class Sample:
    op: str
    tool: str
    round: int
    steps: list[StepResult] = field(default_factory=list)
    note: str = ""
    ok: bool = True
    server_cpu: float = 0.0
    """CPU seconds the S3 server spent while the steps ran."""

    @property
    def seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    @property
    def rss_mb(self) -> float:
        return max((s.rss_kb for s in self.steps), default=0) / 1024

    @property
    def cpu_seconds(self) -> float:
        return sum(s.cpu_seconds for s in self.steps)


@dataclass
class Row:
    op: str
    tool: str
    samples: list[Sample]

    @property
    def good(self) -> list[Sample]:
        """The runs that succeeded: the only ones any figure is taken from."""
        return [s for s in self.samples if s.ok]

    @property
    def times(self) -> list[float]:
        return [s.seconds for s in self.good]

    @property
    def median(self) -> float | None:
        return _median(self.times)

    @property
    def rss_mb(self) -> float | None:
        return max((s.rss_mb for s in self.good), default=None)

    @property
    def server_cpu_median(self) -> float | None:
        return _median([s.server_cpu for s in self.good])

    @property
    def cpu_median(self) -> float | None:
        return _median([s.cpu_seconds for s in self.good])

    def step_medians(self) -> list[tuple[str, float]]:
        """Median seconds of each step, when the operation takes several processes."""
        good = self.good
        if not good or len(good[0].steps) < 2:
            return []
        return [
            (step.label, statistics.median(s.steps[i].seconds for s in good))
            for i, step in enumerate(good[0].steps)
        ]


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None
