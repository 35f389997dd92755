"""Load and validate a workflow spec (GRADIENT.md §4) before anything runs.

:func:`load_spec` answers a typed :class:`~cargohold.workflows.model.Spec` or raises one
:class:`~cargohold.errors.InvalidSpec` listing every problem found, each naming the file,
the line and the key path. :func:`check_refs` then asks the catalog about the datasets.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal, cast

from cargohold.errors import DatasetNotFound, NotFound
from cargohold.workflows.checks import YamlChecks
from cargohold.workflows.graph import find_cycles
from cargohold.workflows.model import (
    ACTIONS,
    TYPES,
    Action,
    Defaults,
    InputType,
    Job,
    JobInput,
    JobOutput,
    Spec,
    WorkflowInput,
)
from cargohold.workflows.problems import Problem, fail
from cargohold.workflows.run_inputs import apply_run_inputs
from cargohold.workflows.yaml_lines import KeyPath, YamlSyntaxError, load_with_lines

TOP_KEYS = ("defaults", "inputs", "jobs", "on")
DEFAULTS_KEYS = ("env", "resources", "clusterId")
JOB_KEYS = ("uses", "with", "needs", "inputs", "outputs", "env", "resources")
_WORKFLOW_INPUT = re.compile(r"^workflow\.inputs\.([^.]+)$")
_JOB_OUTPUT = re.compile(r"^(.+)\.outputs\.([^.]+)$")


def load_spec(
    text: str,
    source: str = "spec.yaml",
    run_inputs: str | None = None,
    run_inputs_source: str = "inputs.yaml",
) -> Spec:
    """Parse and validate a spec; `run_inputs` is the text of a ``--inputPath`` file, whose
    values fill (or override) the workflow inputs."""
    try:
        loaded = load_with_lines(text)
    except YamlSyntaxError as exc:
        fail([Problem(source, exc.line, "", exc.problem)])
    return _Checker(source, loaded).spec(run_inputs, run_inputs_source)


def check_refs(spec: Spec, resolve: Callable[[str], object]) -> None:
    """Ask `resolve` (e.g. ``services.versions.get``) about every dataset ref of the spec,
    and raise one InvalidSpec naming the line of each one it does not find.

    An output only needs its dataset to exist: a dataset with no version yet is fine."""
    found: list[Problem] = []
    checks: list[tuple[str, str, int, bool]] = [
        (i.ref, i.key, i.line, False) for i in spec.inputs.values() if i.ref
    ]
    for job in spec.jobs.values():
        checks += [(i.ref, i.key, i.line, False) for i in job.inputs.values() if i.ref]
        checks += [(o.ref, o.key, o.line, True) for o in job.outputs.values() if o.ref]
    for ref, key, line, is_output in checks:
        try:
            resolve(ref)
        except NotFound as exc:
            if is_output and not isinstance(exc, DatasetNotFound):
                continue
            found.append(Problem(spec.source, line, key, f"{ref!r}: {exc.message}"))
    if found:
        fail(found)


class _Checker(YamlChecks):
    def spec(self, run_inputs: str | None, run_inputs_source: str) -> Spec:
        for path, line in self.loaded.duplicates:
            self.problems.found.append(Problem(self.source, line, ".".join(path), "duplicate key"))
        data = self.loaded.data
        if not isinstance(data, dict):
            what = "empty" if data is None else f"a {type(data).__name__}"
            fail([Problem(self.source, 1, "", f"a workflow spec is a mapping, this one is {what}")])
        self.keys(data, (), TOP_KEYS, top=True)
        defaults = self.defaults(data.get("defaults"))
        inputs = self.workflow_inputs(data.get("inputs"))
        if run_inputs is not None:
            apply_run_inputs(inputs, run_inputs, run_inputs_source, self.problems)
        for name, wi in inputs.items():
            if wi.ref is None and wi.value is None:
                what = "ref" if wi.type == "dataset" else "value"
                self.add(
                    ("inputs", name),
                    f"no {what}: give one here (with: {{{what}: ...}}) or in the --inputPath file",
                )
        jobs = self.jobs(data.get("jobs"), inputs)
        on = data.get("on") if isinstance(data.get("on"), dict) else None
        self.problems.raise_if_any()
        return Spec(
            defaults=defaults, inputs=inputs, jobs=jobs, source=self.source, on=on, document=data
        )

    # ---- sections ---------------------------------------------------------------------

    def defaults(self, value: Any) -> Defaults:
        path: KeyPath = ("defaults",)
        raw = self.mapping(value, path)
        self.keys(raw, path, DEFAULTS_KEYS)
        cluster = raw.get("clusterId")
        return Defaults(
            env=self.env(raw.get("env"), (*path, "env")),
            resources=self.resources(raw.get("resources"), (*path, "resources")),
            cluster_id=None if cluster is None else self.string(cluster, (*path, "clusterId")),
        )

    def workflow_inputs(self, value: Any) -> dict[str, WorkflowInput]:
        inputs: dict[str, WorkflowInput] = {}
        for name, raw in self.mapping(value, ("inputs",)).items():
            path: KeyPath = ("inputs", str(name))
            decl = self.mapping(raw, path, "a declaration {type: dataset|string, with: ...}")
            self.keys(decl, path, ("type", "with"))
            typ = self.type_of(decl, path, ("dataset", "string"))
            with_ = self.mapping(decl.get("with"), (*path, "with"))
            ref = text = None
            key_path = path
            if typ == "dataset":
                self.keys(with_, (*path, "with"), ("ref", "id"))
                if with_:
                    found = self.ref_of(with_, path, "dataset reference")
                    if found is not None and self.parse_ref(*found):
                        ref, key_path = found
            elif typ == "string":
                self.keys(with_, (*path, "with"), ("value",))
                if "value" in with_:
                    key_path = (*path, "with", "value")
                    text = self.string(with_["value"], key_path)
            if typ is not None:
                kind = cast(Literal["dataset", "string"], typ)
                inputs[str(name)] = WorkflowInput(
                    str(name), kind, ref, text, ".".join(path), self.loaded.line(key_path)
                )
        return inputs

    def jobs(self, value: Any, inputs: dict[str, WorkflowInput]) -> dict[str, Job]:
        if value is None:
            self.add((), "missing key jobs")
            return {}
        raw_jobs = {str(k): v for k, v in self.mapping(value, ("jobs",)).items()}
        if isinstance(value, dict) and not raw_jobs:
            self.add(("jobs",), "no jobs")
        decls = {
            name: self.mapping(raw, ("jobs", name), "a job (uses, with, needs, inputs, ...)")
            for name, raw in raw_jobs.items()
        }
        needs = {name: self.needs(name, decl, raw_jobs) for name, decl in decls.items()}
        for cycle in find_cycles(needs):
            self.add(("jobs", cycle[0], "needs"), f"cycle in needs: {' -> '.join(cycle)}")
        outputs = {name: self.outputs(name, decl) for name, decl in decls.items()}
        return {
            name: self.job(name, decl, needs[name], outputs, inputs) for name, decl in decls.items()
        }

    def needs(self, name: str, decl: dict[str, Any], jobs: dict[str, Any]) -> tuple[str, ...]:
        path: KeyPath = ("jobs", name, "needs")
        raw = decl.get("needs")
        if raw is None:
            return ()
        items = [raw] if isinstance(raw, str) else raw
        if not isinstance(items, list):
            self.add(path, "must be a list of job names")
            return ()
        result: list[str] = []
        for index, item in enumerate(items):
            item_path = path if isinstance(raw, str) else (*path, str(index))
            if not isinstance(item, str):
                self.add(item_path, "must be a job name")
            elif item not in jobs:
                self.add(item_path, f"unknown job {item!r}; jobs: {', '.join(jobs)}")
            else:
                result.append(item)
        return tuple(result)

    def outputs(self, job: str, decl: dict[str, Any]) -> dict[str, JobOutput]:
        outputs: dict[str, JobOutput] = {}
        base: KeyPath = ("jobs", job, "outputs")
        for name, raw in self.mapping(decl.get("outputs"), base).items():
            path: KeyPath = (*base, str(name))
            out = self.mapping(raw, path, "a declaration {type: dataset|volume|string, ...}")
            self.keys(out, path, ("type", "with"))
            typ = self.type_of(out, path, TYPES)
            with_ = self.mapping(out.get("with"), (*path, "with"))
            ref, key_path = None, path
            if typ == "dataset":
                self.keys(with_, (*path, "with"), ("ref", "id"))
                found = self.ref_of(with_, path, "dataset a new version is committed to")
                if found is not None and self.parse_ref(*found, output=True):
                    ref, key_path = found
            elif typ is not None and with_:
                self.keys(with_, (*path, "with"), ())
            if typ is not None:
                outputs[str(name)] = JobOutput(
                    str(name), cast(InputType, typ), ref, ".".join(path), self.loaded.line(key_path)
                )
        return outputs

    def job(
        self,
        name: str,
        decl: dict[str, Any],
        needs: tuple[str, ...],
        outputs: dict[str, dict[str, JobOutput]],
        workflow_inputs: dict[str, WorkflowInput],
    ) -> Job:
        path: KeyPath = ("jobs", name)
        self.keys(decl, path, JOB_KEYS, top=True)
        action = self.action(decl, path)
        with_ = self.action_with(action, decl.get("with"), (*path, "with"))
        self.writes_to(action, with_, outputs[name], path)
        inputs: dict[str, JobInput] = {}
        for input_name, raw in self.mapping(decl.get("inputs"), (*path, "inputs")).items():
            ctx = _InputContext(name, needs, outputs, workflow_inputs)
            found = self.job_input(str(input_name), raw, (*path, "inputs", str(input_name)), ctx)
            if found is not None:
                inputs[str(input_name)] = found
        return Job(
            name=name,
            uses=action or Action("", ""),
            with_=with_,
            needs=needs,
            inputs=inputs,
            outputs=outputs[name],
            env=self.env(decl.get("env"), (*path, "env")),
            resources=self.resources(decl.get("resources"), (*path, "resources")),
            line=self.loaded.line(path),
        )

    def writes_to(
        self,
        action: Action | None,
        with_: dict[str, Any],
        outputs: dict[str, JobOutput],
        path: KeyPath,
    ) -> None:
        """git-checkout and s3-download write into the job's single volume or dataset output,
        or where `path` says: /outputs/NAME[/SUB] of one of them (GRADIENT.md §4.6)."""
        if str(action) == "container@v1" and not with_.get("args") and not with_.get("command"):
            self.add(
                (*path, "with"),
                "give args (or command): the local executor does not pull "
                "the image, so it has no entrypoint to run",
            )
        if str(action) not in ("git-checkout@v1", "s3-download@v1"):
            return
        dirs = [n for n, o in outputs.items() if o.type != "string"]
        given = with_.get("path")
        if given is None:
            if len(dirs) != 1:
                found = f"it has {len(dirs)}: {', '.join(dirs)}" if dirs else "it has none"
                self.add(
                    path,
                    f"{action} writes into the job's single volume or dataset output "
                    f"({found}); say which with with.path: /outputs/NAME",
                )
            return
        parts = str(given).strip("/").split("/")
        if parts[0] != "outputs" or len(parts) < 2 or parts[1] not in dirs or ".." in parts:
            self.add(
                (*path, "with", "path"),
                f"must be /outputs/NAME or /outputs/NAME/SUB, NAME "
                f"a volume or dataset output of the job ({', '.join(dirs) or 'none'})",
            )

    def action(self, decl: dict[str, Any], path: KeyPath) -> Action | None:
        known = ", ".join(ACTIONS)
        if "uses" not in decl:
            self.add(path, f"missing key uses (the action: {known})")
            return None
        uses = decl["uses"]
        if not isinstance(uses, str) or uses not in ACTIONS:
            name = str(uses).partition("@")[0]
            versions = [a for a in ACTIONS if a.partition("@")[0] == name]
            why = f"unknown version of {name}" if versions else "unknown action"
            self.add((*path, "uses"), f"{why} {uses!r}; known actions: {known}")
            return None
        name, _, version = uses.partition("@")
        return Action(name, version)

    def action_with(self, action: Action | None, value: Any, path: KeyPath) -> dict[str, Any]:
        raw = self.mapping(value, path)
        if action is None:
            return dict(raw)
        spec = ACTIONS[str(action)]
        self.keys(raw, path, (*spec.required, *spec.optional))
        for key in spec.required:
            if key not in raw:
                self.add(path, f"missing key with.{key} (required by {action})")
        for group in spec.one_of:
            if not any(k in raw for k in group):
                self.add(path, f"missing key with.{group[0]} (required by {action})")
        result: dict[str, Any] = {}
        for key, item in raw.items():
            key_path = (*path, str(key))
            if key in spec.secret_keys and not (
                isinstance(item, str) and item.startswith("secret:")
            ):
                self.add(key_path, "must be a secret (secret:NAME), not the value itself")
            if key == "args" and not (isinstance(item, list) and all(_scalar(i) for i in item)):
                self.add(key_path, "must be a list of strings")
            elif key == "command" and not (
                _scalar(item) or (isinstance(item, list) and all(_scalar(i) for i in item))
            ):
                self.add(key_path, "must be a string or a list of strings")
            elif key not in ("args", "command") and not _scalar(item):
                self.add(key_path, "must be a string")
            result[str(key)] = (
                self.secret_or_text(item, key_path) if isinstance(item, str) else item
            )
        return result

    def job_input(self, name: str, raw: Any, path: KeyPath, ctx: _InputContext) -> JobInput | None:
        if isinstance(raw, str):
            return self.alias(name, raw, path, ctx, declared=None)
        decl = self.mapping(
            raw, path, "workflow.inputs.NAME, JOB.outputs.NAME or {type: ..., with: ...}"
        )
        if not decl:
            return None
        self.keys(decl, path, ("type", "with"))
        typ = self.type_of(decl, path, TYPES)
        with_ = self.mapping(decl.get("with"), (*path, "with"))
        key, line = ".".join(path), self.loaded.line(path)
        if typ == "dataset" or (typ == "volume" and with_):
            self.keys(with_, (*path, "with"), ("ref", "id"))
            found = self.ref_of(with_, path, "dataset reference")
            if found is None:
                return None
            text, key_path = found
            if _WORKFLOW_INPUT.match(text) or _JOB_OUTPUT.match(text):
                return self.alias(name, text, key_path, ctx, declared=typ)
            if typ == "volume":
                self.add(key_path, "a volume comes from JOB.outputs.NAME")
                return None
            if not self.parse_ref(text, key_path):
                return None
            return JobInput(name, "dataset", ref=text, key=key, line=self.loaded.line(key_path))
        if typ == "string":
            self.keys(with_, (*path, "with"), ("value",))
            if "value" not in with_:
                self.add(path, "missing key with.value")
                return None
            value = self.string(with_["value"], (*path, "with", "value"))
            return JobInput(name, "string", value=value, key=key, line=line)
        if typ == "volume":
            return JobInput(name, "volume", key=key, line=line)
        return None

    def alias(
        self, name: str, text: str, path: KeyPath, ctx: _InputContext, declared: str | None
    ) -> JobInput | None:
        key, line = ".".join(path[:4]), self.loaded.line(path)
        typ: InputType
        if m := _WORKFLOW_INPUT.match(text):
            wi = ctx.workflow_inputs.get(m[1])
            if wi is None:
                known = ", ".join(ctx.workflow_inputs) or "none"
                self.add(path, f"{text}: unknown workflow input {m[1]!r}; workflow inputs: {known}")
                return None
            typ, found = wi.type, {"workflow_input": m[1]}
        elif m := _JOB_OUTPUT.match(text):
            job, output = m[1], m[2]
            if job not in ctx.outputs:
                self.add(path, f"{text}: unknown job {job!r}; jobs: {', '.join(ctx.outputs)}")
                return None
            if job == ctx.job:
                self.add(path, f"{text}: a job cannot read its own output")
                return None
            if output not in ctx.outputs[job]:
                known = ", ".join(ctx.outputs[job]) or "none"
                self.add(
                    path, f"{text}: job {job!r} has no output {output!r}; its outputs: {known}"
                )
                return None
            if job not in ctx.needs:
                self.add(path, f'{text} is used without "needs: [{job}]"')
            typ, found = ctx.outputs[job][output].type, {"job": job, "output": output}
        else:
            self.add(path, f"{text!r} is neither workflow.inputs.NAME nor JOB.outputs.NAME")
            return None
        if declared is not None and declared != typ:
            self.add(path, f"{text} is a {typ}, used as a {declared}")
        return JobInput(name, typ, key=key, line=line, **found)


class _InputContext:
    def __init__(
        self,
        job: str,
        needs: tuple[str, ...],
        outputs: dict[str, dict[str, JobOutput]],
        workflow_inputs: dict[str, WorkflowInput],
    ) -> None:
        self.job = job
        self.needs = needs
        self.outputs = outputs
        self.workflow_inputs = workflow_inputs


def _scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)
