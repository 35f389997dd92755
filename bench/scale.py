"""The metadata-only version of 1,000,000 files for the `scale` operation of bench/run.

Runs with the repository's .venv python, in the CARGOHOLD_HOME given by the environment:

    python bench/scale.py setup --dataset NAME --provider ID --files N
        create a dataset in that provider and an uncommitted version, record N fake objects
        as stored and stage N files that use them; prints JSON {ref, deepAfter, ...}
    python bench/scale.py list --ref REF --after PATH
        time, inside one process, the first page and a deep page of a recursive listing
        (what the call costs without the interpreter's start-up); prints JSON

No byte of content is written: the objects are only recorded in the catalog, so `versions
commit` (which checks that every object is stored and writes the manifest) has the work of a
real version of that size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time

from cargohold.domain.models import FileEntry
from cargohold.services import build_services
from cargohold.services.root import Platform, ensure_default_team
from cargohold.settings import Settings

BATCH = 100_000
PAGE = 20


def paths(n: int) -> list[str]:
    return [f"train/class-{i % 1000:03}/img-{i:07}.jpg" for i in range(n)]


def setup(dataset: str, provider: str, files: int) -> dict[str, object]:
    started = time.perf_counter()
    platform = Platform(Settings.from_env())
    svc = platform.services(ensure_default_team(platform.catalog))
    try:
        ds = svc.datasets.create(dataset, provider)
        version = svc.versions.create(ds.id, f"{files:,} files, metadata only")
        writer = svc.objects.writer(version.ref)
        rng = random.Random(f"scale:{files}")
        all_paths = paths(files)
        recorded = 0.0
        staged = 0.0
        for start in range(0, files, BATCH):
            entries = [
                FileEntry(
                    path=p,
                    size=rng.randint(2048, 65536),
                    sha256=hashlib.sha256(f"scale:{p}".encode()).hexdigest(),
                )
                for p in all_paths[start : start + BATCH]
            ]
            t = time.perf_counter()
            platform.catalog.record_objects(
                svc.team.id, ds.storage_provider.id, {e.sha256: e.size for e in entries}
            )
            recorded += time.perf_counter() - t
            t = time.perf_counter()
            writer.stage(entries)
            staged += time.perf_counter() - t
        ordered = sorted(all_paths)
        return {
            "ref": version.ref,
            "files": files,
            "deepAfter": ordered[max(0, len(ordered) - 2 * PAGE)],
            "recordSeconds": round(recorded, 2),
            "stageSeconds": round(staged, 2),
            "setupSeconds": round(time.perf_counter() - started, 2),
        }
    finally:
        platform.close()


def time_listing(ref: str, after: str) -> dict[str, object]:
    svc = build_services(Settings.from_env())
    try:
        svc.files.list(ref, None, True, limit=1)  # resolve and open once, as a command does
        result: dict[str, object] = {}
        for name, cursor in (("first", None), ("deep", after)):
            t = time.perf_counter()
            rows = svc.files.list(ref, None, True, limit=PAGE, after=cursor)
            result[f"{name}Seconds"] = time.perf_counter() - t
            result[f"{name}Rows"] = len(rows)
        return result
    finally:
        svc.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("setup")
    s.add_argument("--dataset", required=True)
    s.add_argument("--provider", required=True)
    s.add_argument("--files", type=int, required=True)
    ls = sub.add_parser("list")
    ls.add_argument("--ref", required=True)
    ls.add_argument("--after", required=True)
    args = parser.parse_args(argv)
    if args.command == "setup":
        print(json.dumps(setup(args.dataset, args.provider, args.files)))
    else:
        print(json.dumps(time_listing(args.ref, args.after)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
