"""A job's log lines: shown as they come (prefixed by the job's name, as `docker compose up`
shows its services) and kept in the run record in batches."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

from cargohold.errors import CargoholdError
from cargohold.services.protocol import WorkflowsAPI

MAX_LINE = 16 * 1024
"""Characters of one log line kept; the rest is cut (and said so)."""
TAIL = 20
"""Last lines kept in memory for a failed job's summary."""
FLUSH_LINES = 200
FLUSH_SECONDS = 0.5

Echo = Callable[[str, str], None]
"""Shows one line of a job: (job name, line)."""


class JobLog:
    """Lines of one job: echoed at once, sent to the run record every FLUSH_SECONDS or
    FLUSH_LINES. A record that cannot be written does not stop the job: the lines are still
    shown, and the failure is said once."""

    def __init__(self, records: WorkflowsAPI, log_id: str, job: str, echo: Echo) -> None:
        self.records, self.log_id, self.job, self.echo = records, log_id, job, echo
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL)
        self._pending: list[str] = []
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._broken = False

    def line(self, text: str) -> None:
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + f" [... {len(text) - MAX_LINE} characters cut]"
        self.echo(self.job, text)
        with self._lock:
            self.tail.append(text)
            self._pending.append(text)
            due = time.monotonic() - self._last_flush >= FLUSH_SECONDS
            if len(self._pending) >= FLUSH_LINES or due:
                self._flush_locked()

    def note(self, text: str) -> None:
        """A line from cargohold itself, not from the job's program."""
        self.line(f"[cargohold] {text}")

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        batch, self._pending = self._pending, []
        self._last_flush = time.monotonic()
        if not batch or self._broken:
            return
        try:
            self.records.append_log(self.log_id, batch)
        except CargoholdError as exc:
            self._broken = True
            self.echo(self.job, f"[cargohold] the log could not be kept any longer: {exc}")
