"""The jobs of a spec as a graph of ``needs``: cycles and the waves they run in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from cargohold.workflows.model import Spec


def find_cycles(needs: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Every distinct cycle in the `needs` graph, each as the jobs in order with the first
    repeated at the end (``[a, b, a]``); names absent from `needs` are ignored."""
    cycles: list[list[str]] = []
    seen: set[frozenset[str]] = set()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(job: str) -> None:
        state[job] = 1
        path.append(job)
        for dep in needs.get(job, ()):
            if dep not in needs:
                continue
            if state.get(dep) == 1:
                cycle = [*path[path.index(dep) :], dep]
                members = frozenset(cycle)
                if members not in seen:
                    seen.add(members)
                    cycles.append(cycle)
            elif dep not in state:
                visit(dep)
        path.pop()
        state[job] = 2

    for job in needs:
        if job not in state:
            visit(job)
    return cycles


def topological_order(spec: Spec) -> list[list[str]]:
    """The jobs in waves: every job of a wave needs only jobs of earlier waves, so the jobs
    of one wave may run in parallel. Jobs keep the spec's order within a wave."""
    remaining = {name: set(job.needs) & spec.jobs.keys() for name, job in spec.jobs.items()}
    waves: list[list[str]] = []
    done: set[str] = set()
    while remaining:
        wave = [name for name, deps in remaining.items() if deps <= done]
        if not wave:  # load_spec refuses cycles, so only a hand-built Spec gets here
            raise ValueError(f"the jobs {sorted(remaining)} need each other in a cycle")
        waves.append(wave)
        done.update(wave)
        for name in wave:
            del remaining[name]
    return waves
