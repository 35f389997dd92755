"""Problems found in a spec, collected so that one :class:`InvalidSpec` lists them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from cargohold.errors import InvalidSpec
from cargohold.workflows.yaml_lines import KeyPath, Loaded


def dotted(path: KeyPath) -> str:
    return ".".join(path)


@dataclass(frozen=True)
class Problem:
    source: str
    line: int
    key: str
    problem: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:"
        return f"{where} {self.key}: {self.problem}" if self.key else f"{where} {self.problem}"

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "key": self.key, "problem": self.problem}


@dataclass
class Problems:
    """The problems of one or more YAML files, in the order found."""

    found: list[Problem] = field(default_factory=list)

    def add(self, source: str, loaded: Loaded | None, path: KeyPath, problem: str) -> None:
        line = loaded.line(path) if loaded is not None else 1
        self.found.append(Problem(source, line, dotted(path), problem))

    def raise_if_any(self) -> None:
        if self.found:
            raise invalid_spec(self.found)


def invalid_spec(problems: list[Problem]) -> InvalidSpec:
    """One error naming every problem, sorted by file and line."""
    ordered = sorted(problems, key=lambda p: (p.source, p.line))
    if len(ordered) == 1:
        message = str(ordered[0])
    else:
        sources = ", ".join(dict.fromkeys(p.source for p in ordered))
        listing = "\n".join(f"  {p}" for p in ordered)
        message = f"{sources}: {len(ordered)} problems:\n{listing}"
    return InvalidSpec(message, problems=[p.to_json() for p in ordered])


def fail(problems: list[Problem]) -> NoReturn:
    raise invalid_spec(problems)
