"""Paths inside a version (domain/paths.py), checked against Gradient's rules (GRADIENT.md
§1.15-1.19): repeated '/' collapse, a leading '/' means the root, empty means the root, keys
are stored relative with no leading '/', and '..' can never leave the version."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargohold.domain.paths import (
    MAX_KEY_BYTES,
    basename,
    check_key,
    dir_prefix,
    parent_dirs,
    relative_to,
    upload_key,
    user_path,
)
from cargohold.errors import InvalidInput, InvalidPath

# -- strategies ----------------------------------------------------------------------------

_chars = st.characters(codec="utf-8", exclude_characters="/\x00")
segments = st.text(_chars, min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
"""One valid segment of a key: anything but '/', NUL, '.', '..' (and lone surrogates)."""

keys = st.lists(segments, min_size=1, max_size=5).map("/".join)
"""A valid key: relative, '/'-separated, no empty, '.' or '..' segment."""

_noise = st.sampled_from(["", "."])
"""Segments a user may type that normalise away: '//' and '/./'."""

user_inputs = st.builds(
    lambda lead, parts, trail: lead + "/".join(parts) + trail,
    st.sampled_from(["", "/", "//", "./"]),
    st.lists(st.one_of(segments, _noise), max_size=6),
    st.sampled_from(["", "/", "//", "/."]),
)
"""What a user may type for --path, --target-path or --source-path (never with '..')."""

dotdot_inputs = st.builds(
    lambda lead, before, after, trail: lead + "/".join([*before, "..", *after]) + trail,
    st.sampled_from(["", "/", "./"]),
    st.lists(st.one_of(segments, _noise), max_size=3),
    st.lists(st.one_of(segments, _noise), max_size=3),
    st.sampled_from(["", "/"]),
)
"""Any string with a '..' segment somewhere."""


def assert_clean_key(key: str) -> None:
    assert key == "" or check_key(key) == key
    assert not key.startswith("/")
    assert "//" not in key
    assert ".." not in key.split("/")


# -- dir_prefix ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "prefix"),
    [
        (None, ""),  # §1.18: --target-path defaults to '/'
        ("", ""),  # §1.15: empty means '/'
        ("/", ""),
        ("//", ""),
        (".", ""),
        ("./", ""),
        ("a", "a/"),  # §1.18: treated as a directory, a '/' is added
        ("a/", "a/"),
        ("/a", "a/"),  # §1.15: a leading '/' is the root
        ("//a///b//", "a/b/"),  # §1.15: repeated '/' collapse
        ("./a/./b/.", "a/b/"),
        ("a..b/...", "a..b/.../"),  # dots inside a name are just characters
        ("images/ünï cödé", "images/ünï cödé/"),
    ],
)
def test_dir_prefix_normalises_like_gradient(typed: str | None, prefix: str) -> None:
    assert dir_prefix(typed) == prefix


@given(user_inputs)
def test_dir_prefix_is_root_or_clean_dir_and_idempotent(typed: str) -> None:
    prefix = dir_prefix(typed)
    assert prefix == "" or prefix.endswith("/")
    assert_clean_key(prefix[:-1] if prefix else "")
    assert dir_prefix(prefix) == prefix


@given(keys)
def test_dir_prefix_of_a_key_is_the_key_and_a_slash(key: str) -> None:
    assert dir_prefix(key) == key + "/"
    assert dir_prefix("/" + key + "/") == key + "/"


# -- user_path -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("/", ("", True)),  # §1.17 / §1.19: the default '/' means everything
        ("", ("", True)),
        ("//", ("", True)),
        ("a/b", ("a/b", False)),  # §1.17 / §1.19: no trailing '/': tried as a file first
        ("/a//b", ("a/b", False)),
        ("a/b/", ("a/b", True)),  # a trailing '/': a directory
        ("a//", ("a", True)),
        ("./a", ("a", False)),
    ],
)
def test_user_path_normalises_and_says_whether_it_named_a_directory(
    typed: str, expected: tuple[str, bool]
) -> None:
    assert user_path(typed) == expected


@given(user_inputs)
def test_user_path_is_clean_idempotent_and_agrees_with_dir_prefix(typed: str) -> None:
    key, is_dir = user_path(typed)
    assert_clean_key(key)
    assert user_path(key)[0] == key
    assert dir_prefix(key) == dir_prefix(typed)
    if typed.endswith("/") or key == "":
        assert is_dir


@given(keys)
def test_user_path_of_a_key_is_that_key_as_a_file(key: str) -> None:
    assert user_path(key) == (key, False)
    assert user_path("/" + key + "/") == (key, True)


# -- '..' never leaves the version ---------------------------------------------------------


@given(dotdot_inputs)
def test_any_dotdot_segment_is_refused_everywhere(typed: str) -> None:
    with pytest.raises(InvalidPath):
        dir_prefix(typed)
    with pytest.raises(InvalidPath):
        user_path(typed)
    with pytest.raises(InvalidPath):
        check_key(typed)
    with pytest.raises(InvalidPath):
        upload_key("", None, typed)


@pytest.mark.parametrize("typed", ["..", "../", "/..", "a/..", "a/../b", "../../etc/passwd"])
def test_dotdot_is_refused_with_a_helpful_error(typed: str) -> None:
    with pytest.raises(InvalidPath) as info:
        dir_prefix(typed, "target path")
    err = info.value
    assert isinstance(err, InvalidInput)
    assert isinstance(err, ValueError)
    assert err.code == "invalid-path"
    assert err.status == 400
    assert "target path" in err.message
    assert err.details == {"path": typed}
    assert ".." in err.hint


@pytest.mark.parametrize("fn", [dir_prefix, user_path, check_key])
def test_nul_bytes_are_refused(fn: object) -> None:
    with pytest.raises(InvalidPath):
        fn("a\x00b")  # type: ignore[operator]


# -- check_key -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["a", "a/b/c.txt", "a..b", "...", ".hidden/.x", "sp ace/tab\there", "日本/😀", "a\\b"],
)
def test_check_key_accepts_relative_clean_keys(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize(
    "key", ["", "/", "/a", "a/", "a//b", ".", "./a", "a/./b", "..", "a/../b", "a\x00"]
)
def test_check_key_refuses_what_is_not_a_clean_relative_key(key: str) -> None:
    with pytest.raises(InvalidPath):
        check_key(key)


def test_check_key_limits_the_length_in_utf8_bytes() -> None:
    assert check_key("x" * MAX_KEY_BYTES)
    assert check_key("é" * (MAX_KEY_BYTES // 2))  # 2 bytes each
    with pytest.raises(InvalidPath):
        check_key("x" * (MAX_KEY_BYTES + 1))
    with pytest.raises(InvalidPath):
        check_key("é" * (MAX_KEY_BYTES // 2) + "x")


@given(keys)
def test_check_key_accepts_every_generated_key(key: str) -> None:
    assert check_key(key) == key


@pytest.mark.parametrize("key", ["name-\udcff.bin", "\ud800"])
def test_check_key_refuses_keys_that_are_not_valid_unicode(key: str) -> None:
    with pytest.raises(InvalidPath):
        check_key(key)


@pytest.mark.parametrize("fn", [dir_prefix, user_path])
@pytest.mark.parametrize("typed", ["a\udcff/b", "\ud800"])
def test_typed_paths_that_are_not_valid_unicode_are_refused(fn: object, typed: str) -> None:
    with pytest.raises(InvalidPath):
        fn(typed)  # type: ignore[operator]


# -- upload_key (files put, §1.18) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "top", "relative", "key"),
    [
        ("", None, "f.txt", "f.txt"),  # a file → <target>/<basename>, target '/'
        ("dir/", None, "f.txt", "dir/f.txt"),
        ("a/b/", None, "f.txt", "a/b/f.txt"),
        ("", "data", "sub/x.bin", "data/sub/x.bin"),  # directory 'data' → keeps its name
        ("t/", "data", "sub/x.bin", "t/data/sub/x.bin"),
        ("", None, "sub/x.bin", "sub/x.bin"),  # directory 'data/' → only its contents
        ("t/", None, "sub/x.bin", "t/sub/x.bin"),
    ],
)
def test_upload_key_follows_gradients_files_put(
    target: str, top: str | None, relative: str, key: str
) -> None:
    assert upload_key(target, top, relative) == key


@pytest.mark.parametrize("typed", [None, "/", "t", "/t", "t/", "//t//u//"])
def test_upload_key_after_dir_prefix_of_a_typed_target(typed: str | None) -> None:
    key = upload_key(dir_prefix(typed), "data", "x.bin")
    assert key == dir_prefix(typed) + "data/x.bin"


@given(st.one_of(st.just(""), keys.map(lambda k: k + "/")), st.one_of(st.none(), segments), keys)
def test_upload_key_is_target_then_top_then_relative(
    target: str, top: str | None, relative: str
) -> None:
    key = upload_key(target, top, relative)
    assert key == target + (top + "/" if top else "") + relative
    assert check_key(key) == key


@pytest.mark.parametrize(
    ("top", "relative"), [("..", "x"), (".", "x"), (None, "../x"), (None, "a/../x"), (None, "")]
)
def test_upload_key_refuses_names_that_would_escape_or_vanish(
    top: str | None, relative: str
) -> None:
    with pytest.raises(InvalidPath):
        upload_key("", top, relative)


# -- relative_to, parent_dirs, basename (files get, §1.17) ---------------------------------


def test_files_get_of_a_directory_source_lands_relative_to_it() -> None:
    key, is_dir = user_path("/images/")
    assert (key, is_dir) == ("images", True)
    prefix = dir_prefix(key)
    assert relative_to("images/cats/1.png", prefix) == "cats/1.png"


def test_relative_to_leaves_keys_outside_the_prefix_and_the_root_alone() -> None:
    assert relative_to("a/b", "") == "a/b"
    assert relative_to("x/b", "a/") == "x/b"


@given(keys)
def test_parent_dirs_are_the_prefixes_above_a_key(key: str) -> None:
    parents = parent_dirs(key)
    assert len(parents) == key.count("/")
    for p in parents:
        assert p.endswith("/")
        assert dir_prefix(p) == p
        assert p + relative_to(key, p) == key
    assert parents == sorted(parents, key=len)


def test_parent_dirs_and_basename_examples() -> None:
    assert parent_dirs("a/b/c") == ["a/", "a/b/"]
    assert parent_dirs("c") == []
    assert basename("a/b/c.txt") == "c.txt"
    assert basename("c.txt") == "c.txt"
