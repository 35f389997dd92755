"""A job's log lines: shown as they come (prefixed by the job's name, as `docker compose up`
shows its services) and kept in the run record in batches, every half second."""

from __future__ import annotations

import collections
import contextlib
import threading
from collections.abc import Callable, Iterator

from cargohold.errors import CargoholdError
from cargohold.services.protocol import WorkflowsAPI

MAX_LINE = 16 * 1024
"""Characters of one log line kept; the rest is cut (and said so)."""
FLUSH_SECONDS = 0.5
"""How often a running job's new lines are sent to the run record."""
TAIL = 20
"""Last lines kept in memory for a failed job's summary."""

Echo = Callable[[str, str], None]
"""Shows one line of a job: (job name, line)."""


class JobLog:
    """Lines of one job: echoed at once, kept in memory, and sent to the run record by
    `flush` (every half second while `flushing`), so
    the thread reading the job's output never waits for the record (a slow server would
    otherwise stall the job's pipe). A record that cannot be written does not stop the job:
    the lines are still shown, and the failure is said once."""

    def __init__(self, records: WorkflowsAPI, log_id: str, job: str, echo: Echo) -> None:
        self.records, self.log_id, self.job, self.echo = records, log_id, job, echo
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL)
        self._pending: list[str] = []
        self._lock = threading.Lock()  # guards the pending lines
        self._sending = threading.Lock()  # one batch at a time, in order
        self._broken = False

    def line(self, text: str) -> None:
        if len(text) > MAX_LINE:
            text = text[:MAX_LINE] + f" [... {len(text) - MAX_LINE} characters cut]"
        self.echo(self.job, text)
        with self._lock:
            self.tail.append(text)
            self._pending.append(text)

    def note(self, text: str) -> None:
        """A line from cargohold itself, not from the job's program."""
        self.line(f"[cargohold] {text}")

    @contextlib.contextmanager
    def flushing(self) -> Iterator[None]:
        """Send the lines every FLUSH_SECONDS while the job runs (its inputs being placed,
        its program, its outputs uploaded), and the rest at the end."""
        done = threading.Event()

        def every() -> None:
            while not done.wait(FLUSH_SECONDS):
                self.flush()

        sender = threading.Thread(target=every, name=f"log-{self.job}", daemon=True)
        sender.start()
        try:
            yield
        finally:
            done.set()
            sender.join()
            self.flush()

    def flush(self) -> None:
        with self._sending:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch or self._broken:
                return
            try:
                self.records.append_log(self.log_id, batch)
            except CargoholdError as exc:
                self._broken = True
                self.echo(self.job, f"[cargohold] the log could not be kept any longer: {exc}")
