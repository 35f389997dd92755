"""Packs: many small files back to back in one object, with a plain-text index beside it.

``<team>/packs/<p>`` holds the members' bytes; ``<team>/packs/<p>.idx`` lists them::

    cargohold-pack-index 1
    <sha256> <offset> <length>
    ...

``<p>`` is the SHA-256 of the pack's bytes. The index is written after the pack, so an index
that exists names a pack that is whole. Every member keeps its own SHA-256: a reader fetches
members with ranged GETs (neighbours coalesced into one range) and verifies each.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cargohold.domain.ids import check_sha256
from cargohold.errors import IntegrityError

HEADER = "cargohold-pack-index 1"


@dataclass(frozen=True)
class PackMember:
    sha256: str
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


def encode_index(members: Iterable[PackMember]) -> bytes:
    lines = [HEADER, *(f"{m.sha256} {m.offset} {m.length}" for m in members)]
    return ("\n".join(lines) + "\n").encode("ascii")


def decode_index(blob: bytes) -> list[PackMember]:
    try:
        lines = blob.decode("ascii").split("\n")
        if lines[0] != HEADER:
            raise ValueError(f"unknown header {lines[0][:40]!r}")
        members = []
        for line in filter(None, lines[1:]):
            sha, offset, length = line.split(" ")
            members.append(PackMember(check_sha256(sha), int(offset), int(length)))
    except (UnicodeDecodeError, ValueError) as exc:
        raise IntegrityError(f"Corrupt pack index: {exc}") from None
    return members


@dataclass(frozen=True)
class Span:
    """One ranged read of a pack, covering the members it serves."""

    offset: int
    length: int
    members: tuple[PackMember, ...]


def plan_reads(
    wanted: Sequence[PackMember],
    pack_size: int,
    max_gap: int = 1 << 20,
    whole_share: float = 0.5,
    max_span: int = 8 << 20,
) -> list[Span]:
    """Ranges to GET for these members: neighbours closer than `max_gap` share one range (so
    does everything when most of the pack is wanted), and no range is longer than `max_span`
    unless one member is."""
    ordered = sorted(wanted, key=lambda m: m.offset)
    if not ordered:
        return []
    if sum(m.length for m in ordered) >= whole_share * pack_size:
        max_gap = pack_size
    spans: list[Span] = []
    group = [ordered[0]]
    for member in ordered[1:]:
        close = member.offset - group[-1].end <= max_gap
        if close and member.end - group[0].offset <= max_span:
            group.append(member)
        else:
            spans.append(_span(group))
            group = [member]
    spans.append(_span(group))
    return spans


def _span(group: list[PackMember]) -> Span:
    start = group[0].offset
    return Span(start, max(m.end for m in group) - start, tuple(group))
