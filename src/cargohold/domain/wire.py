"""JSON shapes of the domain objects, with Gradient's field names.

`--json` prints these and the HTTP API returns them, so both stay the same by construction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cargohold.domain.models import (
    ApiKey,
    Dataset,
    FileEntry,
    ListedEntry,
    StorageProvider,
    Tag,
    Team,
    Version,
)
from cargohold.domain.workflows import (
    JobStatus,
    Lineage,
    LineageGraph,
    LineageInput,
    LineageStep,
    LogLine,
    Run,
    Secret,
    Workflow,
)
from cargohold.errors import InvalidInput

SECRET_KEYS = frozenset({"secretAccessKey", "secretKey", "password"})
MASK = "********"


def _ts(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def masked_config(config: dict[str, Any]) -> dict[str, Any]:
    return {k: (MASK if k in SECRET_KEYS else v) for k, v in sorted(config.items())}


def team(t: Team) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "dtCreated": _ts(t.dt_created)}


def api_key(k: ApiKey) -> dict[str, Any]:
    """An API key as listings show it: its prefix, never its text or digest."""
    return {
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "dtCreated": _ts(k.dt_created),
        "dtRevoked": _ts(k.dt_revoked),
        "isRevoked": k.is_revoked,
    }


def storage_provider(p: StorageProvider) -> dict[str, Any]:
    return {
        "id": p.id,
        "name": p.name,
        "type": p.type,
        "config": masked_config(p.config),
        "isManaged": p.is_managed,
        "dtCreated": _ts(p.dt_created),
        "dtModified": _ts(p.dt_modified),
    }


def dataset(d: Dataset) -> dict[str, Any]:
    sp = d.storage_provider
    return {
        "id": d.id,
        "name": d.name,
        "description": d.description,
        "storageProvider": {"id": sp.id, "name": sp.name, "type": sp.type},
        "dtCreated": _ts(d.dt_created),
        "dtModified": _ts(d.dt_modified),
    }


def version(v: Version) -> dict[str, Any]:
    """A version; `lineage` only for a version a workflow made (and only where it was looked
    up alone), so Gradient's shape stays as it was for every other."""
    out: dict[str, Any] = {
        "id": v.ref,
        "datasetId": v.dataset_id,
        "version": v.version,
        "message": v.message,
        "isCommitted": v.is_committed,
        "tags": [{"name": t} for t in v.tags],
        "fileCount": v.file_count,
        "size": v.size,
        "manifestSha256": v.manifest_sha256,
        "parent": v.parent,
        "dtCreated": _ts(v.dt_created),
        "dtModified": _ts(v.dt_modified),
        "dtCommitted": _ts(v.dt_committed),
    }
    if v.lineage is not None:
        out["lineage"] = lineage(v.lineage)
    return out


def lineage(item: Lineage) -> dict[str, Any]:
    return {
        "workflowId": item.workflow_id,
        "run": item.run,
        "job": item.job,
        "output": item.output,
        "specSha256": item.spec_sha256,
        "inputs": [{"name": i.name, "id": i.ref} for i in item.inputs],
        "strings": dict(item.strings),
    }


def parse_lineage(j: dict[str, Any]) -> Lineage:
    """The inverse of `lineage` (InvalidInput for an input ID that is not DATASET:VERSION;
    the rest is checked where lineage is recorded)."""
    inputs = []
    for given in j.get("inputs") or ():
        dataset_id, sep, selector = str(given["id"]).partition(":")
        if not sep:
            raise InvalidInput(
                f"Lineage input {given['name']!r}: {given['id']!r} is not DATASET_ID:VERSION",
                name=given["name"],
            )
        inputs.append(LineageInput(given["name"], dataset_id, selector))
    return Lineage(
        workflow_id=j["workflowId"],
        run=j["run"],
        job=j["job"],
        output=j["output"],
        spec_sha256=j["specSha256"],
        inputs=tuple(inputs),
        strings=dict(j.get("strings") or {}),
    )


def lineage_step(step: LineageStep) -> dict[str, Any]:
    return {
        "id": step.ref,
        "depth": step.depth,
        "datasetName": step.dataset_name,
        "deleted": step.deleted,
        "lineage": lineage(step.lineage) if step.lineage else None,
    }


def lineage_graph(g: LineageGraph) -> dict[str, Any]:
    """A version's lineage both ways: `up` what it was made from, `down` what was made
    from it; each a depth-first list of steps (indent by `depth` to draw the tree)."""
    return {
        "id": g.ref,
        "datasetName": g.dataset_name,
        "lineage": lineage(g.lineage) if g.lineage else None,
        "up": [lineage_step(s) for s in g.up],
        "down": [lineage_step(s) for s in g.down],
        "truncated": g.truncated,
    }


def tag(t: Tag) -> dict[str, Any]:
    return {
        "name": t.name,
        "datasetId": t.dataset_id,
        "version": {"version": t.version, "message": t.message},
        "dtCreated": _ts(t.dt_created),
        "dtModified": _ts(t.dt_modified),
    }


def file_entry(f: FileEntry) -> dict[str, Any]:
    return {"path": f.path, "size": f.size, "sha256": f.sha256, "contentType": f.content_type}


def listed_entry(e: ListedEntry) -> dict[str, Any]:
    return {"name": e.name, "size": e.size, "isDirectory": e.is_dir}


def secret(s: Secret) -> dict[str, Any]:
    """A team secret as listings show it: its name and dates, never its value."""
    return {"name": s.name, "dtCreated": _ts(s.dt_created), "dtModified": _ts(s.dt_modified)}


# -- workflows and the records of their runs (GRADIENT.md §4.7) ----------------------------


def workflow(w: Workflow) -> dict[str, Any]:
    return {"id": w.id, "name": w.name, "teamId": w.team_id, "dtCreated": _ts(w.dt_created)}


def job_status(j: JobStatus) -> dict[str, Any]:
    """One job of a run, under its name in the run's `status.jobs`."""
    return {
        "phase": j.phase,
        "started": _ts(j.started),
        "finished": _ts(j.finished),
        "logId": j.log_id,
        "exitCode": j.exit_code,
        "outputs": j.outputs,
        "error": j.error,
    }


def run(r: Run) -> dict[str, Any]:
    """A run as Gradient's `workflows get --show-runs --run N` printed it: `id` is the run's
    number; there are no clusters here (`cluster.id` is null)."""
    return {
        "id": r.number,
        "workflowId": r.workflow_id,
        "cluster": {"id": None},
        "spec": r.spec,
        "status": {
            "phase": r.phase,
            "started": _ts(r.started),
            "finished": _ts(r.finished),
            "logId": r.log_id,
            "inputs": r.inputs,
            "error": r.error,
            "specSha256": r.spec_sha256,
            "jobs": {j.name: job_status(j) for j in r.jobs},
        },
        "dtCreated": _ts(r.dt_created),
    }


def log_line(line: LogLine) -> dict[str, Any]:
    return {"line": line.line, "message": line.message}
