"""Seeded generator of realistic datasets for the benchmarks, and a seeded mutator.

    python bench/gen.py --profile medium [--seed 1] OUT        write a dataset into OUT
    python bench/gen.py --mutate 1 [--seed 2] DIR              modify, add, delete 1 % of DIR

A dataset looks like an image-classification corpus: small files of 2-64 KiB in class
folders (`train/class-017/img-00042.jpg`, a tenth of them under `val/`), plus a few large
shards (`shards/shard-0003.tar`). Contents are incompressible and unique (random bytes from
`random.Random`, seeded per file), so no tool gains by compression or deduplication, and the
same seed gives the same bytes on every machine.

The mutator picks its files from the sorted listing of DIR with its own seed, so the same
mutation applied to two copies of a dataset gives the same result. It never writes into an
existing file: a modified file is replaced (new inode), so a copy made with `cp -al` is a
safe starting point. Modified and added files are small ones (a 1 % change of an image set
is new or relabelled images); a modified file gets a new size, so size-and-mtime sync tools
see the change too.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

KIB = 1024
MIB = 1024 * 1024
SMALL_MIN = 2 * KIB
SMALL_MAX = 64 * KIB
SMALL_LIMIT = 1 * MIB
"""The mutator only picks files below this size."""


@dataclass(frozen=True)
class Profile:
    name: str
    small_files: int
    classes: int
    shards_kib: tuple[int, ...]
    scale_files: int
    """Files of the metadata-only version of the `scale` operation."""


def _mib(*sizes: int) -> tuple[int, ...]:
    return tuple(s * 1024 for s in sizes)


PROFILES = {
    p.name: p
    for p in (
        Profile("tiny", 48, 4, (256, 256), 2_000),  # ~1.9 MB
        Profile("small", 1_998, 20, _mib(20, 20), 100_000),  # ~110 MB
        Profile("medium", 20_000, 100, _mib(32, 32, 32, 40, 48, 48, 48, 64), 1_000_000),  # 1.04 GB
        Profile("large", 199_984, 1_000, _mib(*[32, 48, 64, 96, 128] * 3, 64), 1_000_000),  # 8 GB
    )
}


@dataclass
class Summary:
    files: int
    bytes: int


@dataclass
class Mutation:
    modified: int
    added: int
    deleted: int
    files_changed: int
    """Modified + added + deleted."""
    bytes_changed: int
    """Bytes of the new contents (modified and added files)."""


def _content(seed: int | str, path: str, size: int) -> bytes:
    return random.Random(f"{seed}:{path}").randbytes(size)


def small_paths(profile: Profile) -> list[str]:
    paths = []
    for i in range(profile.small_files):
        split = "val" if i % 10 == 9 else "train"
        paths.append(f"{split}/class-{i % profile.classes:03}/img-{i:05}.jpg")
    return paths


def generate(profile: Profile, seed: int, out: Path) -> Summary:
    """Write the dataset into `out` (created; must be empty)."""
    out.mkdir(parents=True, exist_ok=True)
    if any(out.iterdir()):
        raise SystemExit(f"error: {out} is not empty")
    sizes = random.Random(f"{seed}:sizes")
    total = files = 0
    for rel in small_paths(profile):
        total += _write(out / rel, _content(seed, rel, sizes.randint(SMALL_MIN, SMALL_MAX)))
        files += 1
    for n, kib in enumerate(profile.shards_kib):
        rel = f"shards/shard-{n:04}.tar"
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = random.Random(f"{seed}:{rel}")
        with path.open("wb") as f:
            for left in range(kib * KIB, 0, -MIB):
                f.write(rng.randbytes(min(MIB, left)))
        total += kib * KIB
        files += 1
    return Summary(files, total)


def _write(path: Path, data: bytes) -> int:
    """Write a new file in place of `path` (a new inode: hardlinked copies keep the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
    os.replace(tmp, path)
    return len(data)


def listing(root: Path) -> list[tuple[str, int]]:
    """(relative path, size) of every file under root, sorted by path."""
    found = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            full = Path(dirpath, name)
            found.append((full.relative_to(root).as_posix(), full.stat().st_size))
    return sorted(found)


def mutate(root: Path, pct: float, seed: int) -> Mutation:
    """Modify, add and delete `pct` % of the files of `root` (half modified, a quarter each
    added and deleted), deterministically for a given listing and seed."""
    files = listing(root)
    count = max(1, round(len(files) * pct / 100))
    rng = random.Random(f"mutate:{seed}")
    candidates = [f for f in files if f[1] < SMALL_LIMIT]
    n_deleted = count // 4
    n_added = count // 4
    n_modified = count - n_deleted - n_added
    picked = rng.sample(candidates, min(len(candidates), n_modified + n_deleted))
    modified, deleted = picked[:n_modified], picked[n_modified:]
    changed = 0
    for rel, old_size in modified:
        size = rng.randint(SMALL_MIN, SMALL_MAX)
        if size == old_size:
            size += 1
        changed += _write(root / rel, _content(f"mutate:{seed}", rel, size))
    for rel, _ in deleted:
        (root / rel).unlink()
    folders = sorted({rel.rsplit("/", 1)[0] for rel, _ in candidates if "/" in rel}) or ["new"]
    for n in range(n_added):
        rel = f"{rng.choice(folders)}/new-{seed}-{n:05}.jpg"
        changed += _write(
            root / rel, _content(f"mutate:{seed}", rel, rng.randint(SMALL_MIN, SMALL_MAX))
        )
    return Mutation(
        modified=len(modified),
        added=n_added,
        deleted=len(deleted),
        files_changed=len(modified) + n_added + len(deleted),
        bytes_changed=changed,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--profile", choices=sorted(PROFILES), help="dataset to generate")
    parser.add_argument("--mutate", type=float, metavar="PCT", help="change PCT %% of DIR's files")
    parser.add_argument("--seed", type=int, default=None, help="default: 1, or 2 for --mutate")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("dir", type=Path, metavar="DIR")
    args = parser.parse_args(argv)
    if (args.profile is None) == (args.mutate is None):
        parser.error("give exactly one of --profile and --mutate")
    if args.mutate is not None:
        m = mutate(args.dir, args.mutate, 2 if args.seed is None else args.seed)
        if args.json:
            print(json.dumps(asdict(m)))
        else:
            print(
                f"mutated {args.dir}: {m.modified} modified, {m.added} added, {m.deleted} "
                f"deleted; {m.files_changed} files and {m.bytes_changed:,} bytes changed"
            )
        return 0
    s = generate(PROFILES[args.profile], 1 if args.seed is None else args.seed, args.dir)
    if args.json:
        print(json.dumps(asdict(s)))
    else:
        print(f"generated {args.dir}: {s.files:,} files, {s.bytes:,} bytes ({args.profile})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
