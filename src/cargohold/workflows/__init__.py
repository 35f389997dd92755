"""Workflows: Gradient's workflow YAML (GRADIENT.md §4), parsed and validated before
anything runs."""

from cargohold.workflows.graph import topological_order
from cargohold.workflows.model import (
    ACTIONS,
    Action,
    Defaults,
    Job,
    JobInput,
    JobOutput,
    SecretRef,
    Spec,
    WorkflowInput,
)
from cargohold.workflows.spec import check_refs, load_spec

__all__ = [
    "ACTIONS",
    "Action",
    "Defaults",
    "Job",
    "JobInput",
    "JobOutput",
    "SecretRef",
    "Spec",
    "WorkflowInput",
    "check_refs",
    "load_spec",
    "topological_order",
]
