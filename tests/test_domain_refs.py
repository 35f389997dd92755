"""Dataset references ``[NAMESPACE/]DATASET[:SELECTOR]`` and name rules (domain/refs.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargohold.domain.refs import (
    LATEST,
    PUBLIC_NAMESPACES,
    Ref,
    check_dataset_name,
    check_tag_name,
    parse_ref,
)
from cargohold.errors import InvalidName, InvalidReference

DSID = "dst364npcw6ccok"

_first = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_rest = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"),
    max_size=20,
)
names = st.builds(str.__add__, _first, _rest)
"""Valid dataset names, namespaces, tags and selectors (all one shape, at most 21 long)."""

dataset_ids = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789"), min_size=13,
                      max_size=13).map(lambda s: "ds" + s)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("mnist", Ref("mnist")),
        (DSID, Ref(DSID)),
        (f"{DSID}:latest", Ref(DSID, "latest")),
        (f"{DSID}:fo5rp4m", Ref(DSID, "fo5rp4m")),
        ("mnist:v1.0-final_2", Ref("mnist", "v1.0-final_2")),
        ("gradient/mnist", Ref("mnist", None, "gradient")),
        ("public/mnist:latest", Ref("mnist", "latest", "public")),
        ("my-team/data.set:tag", Ref("data.set", "tag", "my-team")),
        ("  mnist:v1 \n", Ref("mnist", "v1")),
    ],
)
def test_parse_ref(text: str, ref: Ref) -> None:
    assert parse_ref(text) == ref


@pytest.mark.parametrize(
    "text",
    [
        "",
        ":v1",
        "ns/",
        "ns/:v1",
        "/mnist",
        "mnist:",
        "mnist:v1:v2",
        "mnist:-v1",
        "mnist:a b",
        "a b",
        "-mnist",
        ".mnist",
        "ns/sub/mnist",
        "bad ns/mnist",
        "mn!st",
        "x" * 101,
        "mnist:" + "v" * 65,
    ],
)
def test_malformed_refs_are_refused(text: str) -> None:
    with pytest.raises(InvalidReference) as info:
        parse_ref(text)
    assert info.value.code == "invalid-reference"
    assert info.value.details == {"ref": text}
    assert "DATASET:VERSION" in info.value.hint


def test_ref_properties() -> None:
    assert Ref("mnist").is_latest
    assert Ref("mnist", LATEST).is_latest
    assert not Ref("mnist", "v1").is_latest
    assert Ref(DSID).by_id
    assert not Ref("mnist").by_id
    assert {"gradient", "public"} == PUBLIC_NAMESPACES
    assert str(Ref("mnist", "v1", "public")) == "public/mnist:v1"
    assert str(Ref(DSID)) == DSID


@given(st.one_of(names, dataset_ids), st.one_of(st.none(), names), st.one_of(st.none(), names))
def test_refs_roundtrip_through_str(dataset: str, selector: str | None, ns: str | None) -> None:
    ref = Ref(dataset, selector, ns)
    text = str(ref)
    assert parse_ref(text) == ref
    assert str(parse_ref(text)) == text
    assert ref.is_latest == (selector in (None, LATEST))


@given(dataset_ids)
def test_a_dataset_id_is_recognised_as_one(dsid: str) -> None:
    assert parse_ref(dsid).by_id


# -- dataset names -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mnist", "a", "MNIST-v2.0_final", "0day", "x" * 100, "latest"])
def test_valid_dataset_names(name: str) -> None:
    assert check_dataset_name(name) == name


@pytest.mark.parametrize("name", ["", "-a", ".a", "_a", "a b", "a/b", "a:b", "x" * 101, "é"])
def test_invalid_dataset_names(name: str) -> None:
    with pytest.raises(InvalidName) as info:
        check_dataset_name(name)
    assert info.value.code == "invalid-name"
    assert info.value.details == {"name": name}


def test_a_dataset_name_may_not_look_like_a_dataset_id() -> None:
    with pytest.raises(InvalidName, match="dataset ID"):
        check_dataset_name(DSID)
    assert check_dataset_name("ds" + "a" * 12) == "ds" + "a" * 12
    assert check_dataset_name("ds" + "a" * 14) == "ds" + "a" * 14
    assert check_dataset_name("DS" + "a" * 13) == "DS" + "a" * 13


@given(names)
def test_generated_names_are_valid_dataset_names(name: str) -> None:
    if not parse_ref(name).by_id:
        assert check_dataset_name(name) == name


# -- tag names -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["v1", "v1.0", "prod-2024_01", "x" * 64, "abcdefg", "LATEST1"])
def test_valid_tag_names(name: str) -> None:
    assert check_tag_name(name) == name


@pytest.mark.parametrize(
    "name", ["latest", "LATEST", "Latest", "", "-v1", "v 1", "v:1", "v/1", "x" * 65]
)
def test_invalid_tag_names(name: str) -> None:
    with pytest.raises(InvalidName) as info:
        check_tag_name(name)
    assert "latest" in info.value.hint


# -- a trailing newline is not part of a name (fullmatch, not '$') -----------------------


@pytest.mark.parametrize("check", [check_dataset_name, check_tag_name])
def test_names_with_a_trailing_newline_are_refused(check: object) -> None:
    with pytest.raises(InvalidName):
        check("data\n")  # type: ignore[operator]


@pytest.mark.parametrize("text", ["mnist\n:v1", "ns\n/mnist"])
def test_refs_with_an_inner_newline_are_refused(text: str) -> None:
    with pytest.raises(InvalidReference):
        parse_ref(text)
