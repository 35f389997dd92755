"""The wire shapes (domain/wire.py) read back into domain objects, on the client side."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cargohold.domain import wire
from cargohold.domain.models import Dataset, ListedEntry, StorageProvider, Tag, Team, Version
from cargohold.domain.workflows import (
    JobStatus,
    LineageGraph,
    LineageStep,
    LogLine,
    Run,
    Secret,
    Workflow,
)

Json = dict[str, Any]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def team(j: Json) -> Team:
    return Team(id=j["id"], name=j["name"], dt_created=ts(j.get("dtCreated")) or EPOCH)


def storage_provider(j: Json, team_id: str) -> StorageProvider:
    return StorageProvider(
        id=j["id"],
        team_id=team_id,
        name=j["name"],
        type=j["type"],
        config=dict(j.get("config") or {}),
        is_managed=bool(j.get("isManaged", False)),
        dt_created=ts(j.get("dtCreated")),
        dt_modified=ts(j.get("dtModified")),
    )


def dataset(j: Json, team_id: str) -> Dataset:
    return Dataset(
        id=j["id"],
        team_id=team_id,
        name=j["name"],
        description=j.get("description"),
        storage_provider=storage_provider(j["storageProvider"], team_id),
        dt_created=ts(j.get("dtCreated")) or EPOCH,
        dt_modified=ts(j.get("dtModified")) or EPOCH,
    )


def version(j: Json) -> Version:
    return Version(
        dataset_id=j["datasetId"],
        version=j["version"],
        message=j.get("message"),
        is_committed=bool(j["isCommitted"]),
        tags=tuple(t["name"] for t in j.get("tags") or ()),
        dt_created=ts(j.get("dtCreated")) or EPOCH,
        dt_modified=ts(j.get("dtModified")) or EPOCH,
        dt_committed=ts(j.get("dtCommitted")),
        file_count=int(j.get("fileCount") or 0),
        size=int(j.get("size") or 0),
        manifest_sha256=j.get("manifestSha256"),
        parent=j.get("parent"),
        lineage=wire.parse_lineage(j["lineage"]) if j.get("lineage") else None,
    )


def lineage_step(j: Json) -> LineageStep:
    return LineageStep(
        ref=j["id"],
        depth=int(j["depth"]),
        dataset_name=j.get("datasetName"),
        lineage=wire.parse_lineage(j["lineage"]) if j.get("lineage") else None,
        deleted=bool(j.get("deleted", False)),
    )


def lineage_graph(j: Json) -> LineageGraph:
    return LineageGraph(
        ref=j["id"],
        lineage=wire.parse_lineage(j["lineage"]) if j.get("lineage") else None,
        dataset_name=j.get("datasetName"),
        up=tuple(lineage_step(s) for s in j.get("up") or ()),
        down=tuple(lineage_step(s) for s in j.get("down") or ()),
        truncated=bool(j.get("truncated", False)),
    )


def tag(j: Json) -> Tag:
    return Tag(
        dataset_id=j["datasetId"],
        name=j["name"],
        version=j["version"]["version"],
        message=j["version"].get("message"),
        dt_created=ts(j.get("dtCreated")) or EPOCH,
        dt_modified=ts(j.get("dtModified")) or EPOCH,
    )


def listed_entry(j: Json) -> ListedEntry:
    return ListedEntry(name=j["name"], size=j.get("size"))


def secret(j: Json) -> Secret:
    return Secret(
        name=j["name"],
        dt_created=ts(j.get("dtCreated")) or EPOCH,
        dt_modified=ts(j.get("dtModified")) or EPOCH,
    )


# -- workflows and the records of their runs ------------------------------------------------


def workflow(j: Json) -> Workflow:
    return Workflow(
        id=j["id"], team_id=j["teamId"], name=j["name"], dt_created=ts(j.get("dtCreated")) or EPOCH
    )


def job_status(name: str, j: Json) -> JobStatus:
    return JobStatus(
        name=name,
        log_id=j["logId"],
        phase=j["phase"],
        started=ts(j.get("started")),
        finished=ts(j.get("finished")),
        exit_code=j.get("exitCode"),
        outputs=dict(j.get("outputs") or {}),
        error=j.get("error"),
    )


def run(j: Json) -> Run:
    status = j["status"]
    return Run(
        workflow_id=j["workflowId"],
        number=int(j["id"]),
        log_id=status["logId"],
        phase=status["phase"],
        spec=dict(j.get("spec") or {}),
        spec_sha256=status["specSha256"],
        inputs=dict(status.get("inputs") or {}),
        jobs=tuple(job_status(name, s) for name, s in (status.get("jobs") or {}).items()),
        dt_created=ts(j.get("dtCreated")) or EPOCH,
        started=ts(status.get("started")),
        finished=ts(status.get("finished")),
        error=status.get("error"),
    )


def log_line(j: Json) -> LogLine:
    return LogLine(line=int(j["line"]), message=j["message"])
