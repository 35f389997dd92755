"""Where things sit inside a storage provider (DESIGN.md, "Data layout in a provider").

Everything is under ``<team-id>/``; objects are addressed by SHA-256 with a two-level fan-out.
"""

from __future__ import annotations

from cargohold.domain.ids import check_sha256


def object_key(team_id: str, sha256: str) -> str:
    h = check_sha256(sha256)
    return f"{team_id}/objects/sha256/{h[0:2]}/{h[2:4]}/{h}"


def manifest_key(team_id: str, dataset_id: str, version: str) -> str:
    return f"{team_id}/datasets/{dataset_id}/versions/{version}/manifest.jsonl.gz"


def dataset_prefix(team_id: str, dataset_id: str) -> str:
    return f"{team_id}/datasets/{dataset_id}/"


def version_prefix(team_id: str, dataset_id: str, version: str) -> str:
    return f"{team_id}/datasets/{dataset_id}/versions/{version}/"


def pack_key(team_id: str, pack_sha256: str) -> str:
    return f"{team_id}/packs/{check_sha256(pack_sha256)}"


def pack_index_key(team_id: str, pack_sha256: str) -> str:
    return pack_key(team_id, pack_sha256) + ".idx"


def packs_prefix(team_id: str) -> str:
    return f"{team_id}/packs/"
