"""The typed model of a workflow spec (GRADIENT.md §4): what :func:`load_spec` answers.

Every declaration keeps ``key`` (its dotted key path in the YAML) and ``line`` (where it
was written), so that later checks (:func:`check_refs`, the runner) can name them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

InputType = Literal["dataset", "volume", "string"]
TYPES: tuple[str, ...] = ("dataset", "volume", "string")


@dataclass(frozen=True)
class SecretRef:
    """A ``secret:NAME`` value: the secret's name, its value is looked up when a job runs."""

    name: str

    def __str__(self) -> str:
        return f"secret:{self.name}"


EnvValue = str | SecretRef


@dataclass(frozen=True)
class Action:
    """``uses: NAME@VERSION``."""

    name: str
    version: str

    def __str__(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class Defaults:
    env: dict[str, EnvValue] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    cluster_id: str | None = None


@dataclass(frozen=True)
class WorkflowInput:
    """A workflow-level input: a dataset ``ref`` or a string ``value`` (from the spec or the
    run's inputs file)."""

    name: str
    type: Literal["dataset", "string"]
    ref: str | None = None
    value: str | None = None
    key: str = ""
    line: int = 0


@dataclass(frozen=True)
class JobInput:
    """One job input, in one of three forms:

    - inline: ``type`` with ``ref`` (a dataset from outside the run) or ``value`` (a string),
      or a bare ``{type: volume}``;
    - ``workflow.inputs.X``: ``workflow_input`` is X;
    - ``JOB.outputs.Y``: ``job`` and ``output`` are JOB and Y.

    ``type`` is the declared type, or for an alias the type of what it names.
    """

    name: str
    type: InputType
    ref: str | None = None
    value: str | None = None
    workflow_input: str | None = None
    job: str | None = None
    output: str | None = None
    key: str = ""
    line: int = 0

    @property
    def is_alias(self) -> bool:
        return self.workflow_input is not None or self.job is not None


@dataclass(frozen=True)
class JobOutput:
    """A job output; a dataset output names (``ref``) the dataset it commits a version to."""

    name: str
    type: InputType
    ref: str | None = None
    key: str = ""
    line: int = 0


@dataclass(frozen=True)
class Job:
    name: str
    uses: Action
    with_: dict[str, Any] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    inputs: dict[str, JobInput] = field(default_factory=dict)
    outputs: dict[str, JobOutput] = field(default_factory=dict)
    env: dict[str, EnvValue] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class Spec:
    defaults: Defaults
    inputs: dict[str, WorkflowInput]
    jobs: dict[str, Job]
    source: str = "spec.yaml"
    on: dict[str, Any] | None = None
    document: Any = None
    """The YAML document as parsed (what a run records as its spec)."""


@dataclass(frozen=True)
class ActionSpec:
    """What an action accepts in ``with``; ``secret_keys`` must hold ``secret:NAME`` values."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    secret_keys: tuple[str, ...] = ()
    one_of: tuple[tuple[str, ...], ...] = ()


ACTIONS: dict[str, ActionSpec] = {
    "container@v1": ActionSpec(required=("image",), optional=("args", "command")),
    "script@v1": ActionSpec(required=("script",), optional=("image",)),
    "git-checkout@v1": ActionSpec(
        required=("url",), optional=("ref", "path", "username", "password")
    ),
    "s3-download@v1": ActionSpec(
        required=("url",),
        optional=(
            "endpoint",
            "region",
            "path",
            "access-key",
            "secret-access-key",
            "accessKey",
            "secretAccessKey",
        ),
        secret_keys=("secret-access-key", "secretAccessKey"),
        # GRADIENT.md §4.6 spells them access-key/secret-access-key; the CLI's
        # storageProviders options spell them accessKey/secretAccessKey: either is accepted.
        one_of=(("access-key", "accessKey"), ("secret-access-key", "secretAccessKey")),
    ),
}
"""The actions cargohold runs, by ``NAME@VERSION``."""
