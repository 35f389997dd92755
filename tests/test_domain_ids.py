"""Identifier shapes (DESIGN.md, "IDs") and fresh version IDs (domain/ids.py)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargohold.domain import ids
from cargohold.domain.refs import LATEST
from cargohold.errors import InvalidReference

GENERATORS: list[tuple[Callable[[], str], Callable[[str], bool], str]] = [
    (ids.new_dataset_id, ids.is_dataset_id, r"ds[a-z0-9]{13}"),
    (ids.new_provider_id, ids.is_provider_id, r"spl[a-z0-9]{12}"),
    (ids.new_team_id, lambda t: bool(ids.TEAM_ID.match(t)), r"te[a-z0-9]{7}"),
    (ids.new_version_id, ids.is_version_id, r"[a-z0-9]{7}"),
]


@pytest.mark.parametrize(("new", "is_one", "shape"), GENERATORS)
def test_new_ids_have_gradients_shapes_and_do_not_repeat(
    new: Callable[[], str], is_one: Callable[[str], bool], shape: str
) -> None:
    drawn = [new() for _ in range(300)]
    assert all(re.fullmatch(shape, i) and is_one(i) for i in drawn)
    assert len(set(drawn)) == len(drawn)


def test_the_examples_from_the_design_have_the_right_shapes() -> None:
    assert ids.is_dataset_id("dst364npcw6ccok")
    assert ids.is_version_id("fo5rp4m")
    assert ids.is_provider_id("splgct3arqdh77c")
    assert ids.TEAM_ID.match("te6x30gzr")


@pytest.mark.parametrize(
    ("check", "text"),
    [
        (ids.is_dataset_id, "ds" + "a" * 12),
        (ids.is_dataset_id, "ds" + "a" * 14),
        (ids.is_dataset_id, "DS" + "a" * 13),
        (ids.is_dataset_id, "ds" + "A" * 13),
        (ids.is_dataset_id, "dx" + "a" * 13),
        (ids.is_version_id, "abcdef"),
        (ids.is_version_id, "abcdefgh"),
        (ids.is_version_id, "ABCDEFG"),
        (ids.is_version_id, "abc-efg"),
        (ids.is_version_id, LATEST),
        (ids.is_provider_id, "spl" + "a" * 11),
        (ids.is_provider_id, "sp" + "a" * 13),
        (ids.is_version_id, ""),
    ],
)
def test_wrong_shapes_are_not_ids(check: Callable[[str], bool], text: str) -> None:
    assert not check(text)


def test_check_sha256() -> None:
    digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert ids.check_sha256(digest) == digest
    for bad in ["", digest[:-1], digest + "0", digest.upper(), "g" * 64]:
        with pytest.raises(InvalidReference):
            ids.check_sha256(bad)


@pytest.mark.parametrize(
    "check",
    [
        lambda: ids.is_version_id("abcdefg\n"),
        lambda: ids.is_dataset_id("dst364npcw6ccok\n"),
        lambda: ids.is_provider_id("splgct3arqdh77c\n"),
        lambda: ids.check_sha256("0" * 64 + "\n"),
    ],
)
def test_a_trailing_newline_is_not_part_of_an_id(check: Callable[[], object]) -> None:
    try:
        accepted = check()
    except InvalidReference:
        accepted = False
    assert not accepted


# -- new_version_id ------------------------------------------------------------------------


def scripted(draws: list[str]) -> Callable[[int], str]:
    """A `rand` that returns the given draws in order, then fresh random ones."""
    it: Iterator[str] = iter(draws)

    def rand(n: int) -> str:
        assert n == 7
        return next(it, None) or ids._random(n)

    return rand


def test_new_version_id_skips_taken_ids_and_tags() -> None:
    taken = {"aaaaaaa", "bbbbbbb", "v1tag00"}
    rand = scripted(["aaaaaaa", "v1tag00", "bbbbbbb", "ccccccc"])
    assert ids.new_version_id(taken, rand=rand) == "ccccccc"


def test_new_version_id_never_returns_latest_when_the_catalog_reserves_it() -> None:
    rand = scripted([LATEST, "ddddddd"])
    assert ids.new_version_id({LATEST}, rand=rand) == "ddddddd"


_version_ids = st.text(st.sampled_from(ids.ALPHABET), min_size=7, max_size=7)


@given(st.lists(_version_ids, max_size=20, unique=True), st.data())
def test_new_version_id_never_returns_a_taken_id(taken: list[str], data: st.DataObject) -> None:
    draws = data.draw(st.lists(st.sampled_from(taken), max_size=10)) if taken else []
    vid = ids.new_version_id(frozenset(taken), rand=scripted(draws))
    assert vid not in taken
    assert vid != LATEST
    assert ids.is_version_id(vid)


def test_new_version_id_by_default_is_random_and_well_formed() -> None:
    drawn = {ids.new_version_id({"aaaaaaa"}) for _ in range(200)}
    assert len(drawn) == 200
    assert LATEST not in drawn
    assert all(ids.is_version_id(v) for v in drawn)
