"""Progress bars on a terminal (stderr), nothing otherwise."""

from __future__ import annotations

import sys
import threading
from typing import Any

from cargohold.services.progress import NoProgress, Progress


class RichProgress:
    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )
        from rich.progress import Progress as Bar

        self._columns: tuple[Any, ...] = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TextColumn("{task.fields[files]}"),
            TimeRemainingColumn(),
        )
        self._bar_class = Bar
        self._bar: Any = None
        self._task: Any = None
        self._files = 0
        self._total_files = 0
        self._lock = threading.Lock()

    def start(self, label: str, files: int, total_bytes: int) -> None:
        self.finish()
        self._files, self._total_files = 0, files
        self._bar = self._bar_class(*self._columns, transient=True)
        self._bar.start()
        self._task = self._bar.add_task(label, total=total_bytes, files=self._label())

    def _label(self) -> str:
        return f"{self._files}/{self._total_files} files"

    def advance(self, files: int = 0, nbytes: int = 0) -> None:
        if self._bar is None:
            return
        with self._lock:
            self._files += files
            self._bar.update(self._task, advance=nbytes, files=self._label())

    def finish(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def make_progress(enabled: bool) -> Progress:
    if enabled and sys.stderr.isatty():
        return RichProgress()
    return NoProgress()
