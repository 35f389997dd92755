"""Workflows, their runs and jobs, secrets and lineage, as the catalog keeps them.

Shapes follow GRADIENT.md §4.7: a run is numbered per workflow (1, 2, 3, ...), has a log ID
(``wfr`` + 32 hex) and per-job statuses each with their own log ID (``wfrj`` + 32 hex).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RUN_PHASES: tuple[str, ...] = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED")
JOB_PHASES: tuple[str, ...] = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED")
FINISHED: frozenset[str] = frozenset({"SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"})
"""Phases a run or job never leaves."""


@dataclass(frozen=True)
class Secret:
    """A team secret, as listed: its value never leaves the service layer."""

    name: str
    dt_created: datetime
    dt_modified: datetime


@dataclass(frozen=True)
class Workflow:
    id: str  # a UUID, as Gradient's
    team_id: str
    name: str
    dt_created: datetime


@dataclass(frozen=True)
class JobStatus:
    name: str
    log_id: str  # wfrj + 32 hex
    phase: str = "PENDING"
    started: datetime | None = None
    finished: datetime | None = None
    exit_code: int | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    """By output name: ``{"dataset": {"id": "DS:VERSION", "isCommitted": true}}`` for a
    dataset, ``{"volume": {...}}`` or ``{"string": {"value": ...}}``."""
    error: str | None = None


@dataclass(frozen=True)
class Run:
    workflow_id: str
    number: int  # per workflow: 1, 2, 3, ...
    log_id: str  # wfr + 32 hex
    phase: str
    spec: dict[str, Any]  # the spec as sent (YAML parsed to JSON)
    spec_sha256: str  # of the spec file's text
    inputs: dict[str, Any]  # per-input resolution (§4.7 status.inputs)
    jobs: tuple[JobStatus, ...]
    dt_created: datetime
    started: datetime | None = None
    finished: datetime | None = None
    error: str | None = None

    def job(self, name: str) -> JobStatus:
        for j in self.jobs:
            if j.name == name:
                return j
        raise KeyError(name)


@dataclass(frozen=True)
class LogLine:
    line: int  # 1, 2, 3, ... per job log
    message: str


@dataclass(frozen=True)
class LineageInput:
    """One dataset version a job read, under the input name the spec gave it."""

    name: str
    dataset_id: str
    version: str

    @property
    def ref(self) -> str:
        return f"{self.dataset_id}:{self.version}"


@dataclass(frozen=True)
class Lineage:
    """How a version was made: by which run and job of which workflow, from which spec (its
    SHA-256) and exactly which input versions (and string inputs)."""

    workflow_id: str
    run: int
    job: str
    output: str  # the job's output name this version is
    spec_sha256: str
    inputs: tuple[LineageInput, ...] = ()
    strings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LineageStep:
    """One version met while walking lineage, `depth` steps away (1: directly)."""

    ref: str  # DATASET_ID:VERSION
    depth: int
    dataset_name: str | None = None  # None when the dataset was deleted since
    lineage: Lineage | None = None  # how it was made; None for a version made by hand
    deleted: bool = False  # the version was deleted since (its lineage went with it)


@dataclass(frozen=True)
class LineageGraph:
    """A version's lineage walked both ways. Each version appears once, depth-first: a step
    at depth d+1 follows the step at depth d it was reached through, so indenting by depth
    draws the tree. A walk stops MAX_LINEAGE_DEPTH steps away or after MAX_LINEAGE_STEPS versions
    (`truncated` says so)."""

    ref: str
    lineage: Lineage | None
    dataset_name: str | None = None
    up: tuple[LineageStep, ...] = ()  # what it was made from
    down: tuple[LineageStep, ...] = ()  # what was made from it
    truncated: bool = False


MAX_LINEAGE_DEPTH = 50
MAX_LINEAGE_STEPS = 1000
