"""How long-running verbs report progress; the CLI draws bars, tests and scripts ignore it."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, label: str, files: int, total_bytes: int) -> None: ...

    def advance(self, files: int = 0, nbytes: int = 0) -> None: ...

    def finish(self) -> None: ...


class NoProgress:
    def start(self, label: str, files: int, total_bytes: int) -> None:
        pass

    def advance(self, files: int = 0, nbytes: int = 0) -> None:
        pass

    def finish(self) -> None:
        pass
