"""The run inputs file (``--inputPath``, GRADIENT.md §4.5): values for workflow inputs.

The file is a mapping ``NAME: {ref|id: REF}`` or ``NAME: {value: TEXT}`` (a bare scalar is
taken as the ref or value); a top-level ``inputs:`` wrapping it is accepted too.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from cargohold.domain.refs import parse_ref
from cargohold.errors import InvalidReference
from cargohold.workflows.model import WorkflowInput
from cargohold.workflows.problems import Problem, Problems
from cargohold.workflows.yaml_lines import KeyPath, YamlSyntaxError, load_with_lines


def apply_run_inputs(
    inputs: dict[str, WorkflowInput], text: str, source: str, problems: Problems
) -> None:
    """Replace, in `inputs`, the values the file gives; record its problems in `problems`."""
    try:
        loaded = load_with_lines(text)
    except YamlSyntaxError as exc:
        problems.found.append(Problem(source, exc.line, "", exc.problem))
        return

    def add(path: KeyPath, problem: str) -> None:
        problems.add(source, loaded, path, problem)

    data: Any = loaded.data
    if data is None:
        return
    base: KeyPath = ()
    if not isinstance(data, dict):
        add((), "the inputs file is a mapping NAME: {ref: ...} or NAME: {value: ...}")
        return
    if set(data) == {"inputs"} and "inputs" not in inputs and isinstance(data["inputs"], dict):
        data, base = data["inputs"], ("inputs",)
    for name, raw in data.items():
        path: KeyPath = (*base, str(name))
        declared = inputs.get(str(name))
        if declared is None:
            known = ", ".join(inputs) or "none"
            add(path, f"the spec has no workflow input {name!r}; workflow inputs: {known}")
            continue
        wanted = ("ref", "id") if declared.type == "dataset" else ("value",)
        if isinstance(raw, dict):
            keys = [k for k in raw if k in wanted]
            for other in (k for k in raw if k not in wanted):
                add((*path, str(other)), f"unknown key; known keys: {', '.join(wanted)}")
            if len(keys) != 1:
                add(path, f"give exactly one of: {', '.join(wanted)}")
                continue
            path, raw = (*path, str(keys[0])), raw[keys[0]]
        if isinstance(raw, dict | list) or raw is None:
            add(path, "must be a string")
            continue
        value = str(raw).lower() if isinstance(raw, bool) else str(raw)
        line = loaded.line(path)
        if declared.type == "dataset":
            try:
                parse_ref(value)
            except InvalidReference as exc:
                add(path, exc.message)
                continue
            inputs[str(name)] = dataclasses.replace(declared, ref=value, line=line)
        else:
            inputs[str(name)] = dataclasses.replace(declared, value=value, line=line)
