"""A committed version's manifest (domain/manifest.py) and where it sits (domain/layout.py)."""

from __future__ import annotations

import gzip
import hashlib
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cargohold.domain import layout, manifest
from cargohold.domain.models import FileEntry
from cargohold.errors import IntegrityError, InvalidReference

SHA_A = "a" * 64
SHA_B = hashlib.sha256(b"b").hexdigest()

LINE_BREAKS = "\x85\u2028\u2029"
"""Line breaks to str.splitlines() that JSON leaves unescaped: a manifest splits on '\\n' only."""

_chars = st.characters(codec="utf-8", exclude_characters="/\x00")
_segments = st.text(_chars, min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
_keys = st.lists(_segments, min_size=1, max_size=4).map("/".join)
_shas = st.text(st.sampled_from("0123456789abcdef"), min_size=64, max_size=64)
_types = st.sampled_from(["application/octet-stream", "text/plain", "image/png", "x/ünï"])
file_entries = st.builds(
    FileEntry, path=_keys, size=st.integers(0, 2**63 - 1), sha256=_shas, content_type=_types
)
manifests = st.lists(file_entries, max_size=20, unique_by=lambda e: e.path)


@given(manifests)
def test_decode_of_encode_gives_the_entries_sorted_by_path(entries: list[FileEntry]) -> None:
    assert manifest.decode(manifest.encode(entries)) == sorted(entries, key=lambda e: e.path)


@given(manifests, st.randoms(use_true_random=False))
def test_encode_is_deterministic_whatever_the_order(
    entries: list[FileEntry], rnd: random.Random
) -> None:
    shuffled = list(entries)
    rnd.shuffle(shuffled)
    blob = manifest.encode(entries)
    assert manifest.encode(shuffled) == blob
    assert manifest.encode(iter(shuffled)) == blob
    assert manifest.digest(manifest.encode(shuffled)) == manifest.digest(blob)


def test_the_format_is_gzipped_sorted_compact_json_lines() -> None:
    blob = manifest.encode([FileEntry("b/ü.txt", 3, SHA_B, "text/plain"), FileEntry("a", 0, SHA_A)])
    text = gzip.decompress(blob).decode("utf-8")
    assert text == (
        '{"path":"a","size":0,"sha256":"' + SHA_A + '","contentType":"application/octet-stream"}\n'
        '{"path":"b/ü.txt","size":3,"sha256":"' + SHA_B + '","contentType":"text/plain"}\n'
    )
    assert blob[4:8] == b"\0\0\0\0", "gzip mtime must be zero for deterministic bytes"


def test_an_empty_manifest() -> None:
    blob = manifest.encode([])
    assert gzip.decompress(blob) == b""
    assert manifest.decode(blob) == []


def test_digest_is_the_sha256_of_the_bytes() -> None:
    blob = manifest.encode([FileEntry("a", 1, SHA_A)])
    assert manifest.digest(blob) == hashlib.sha256(blob).hexdigest()


def test_a_missing_content_type_reads_as_octet_stream() -> None:
    line = json.dumps({"path": "a", "size": 1, "sha256": SHA_A})
    assert manifest.decode(gzip.compress(line.encode())) == [FileEntry("a", 1, SHA_A)]


def _gz(*records: object) -> bytes:
    return gzip.compress("\n".join(json.dumps(r) for r in records).encode("utf-8"))


GOOD = {"path": "a", "size": 1, "sha256": SHA_A, "contentType": "text/plain"}


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(b"not gzip at all", id="not-gzip"),
        pytest.param(gzip.compress(b"\xff\xfe{}"), id="not-utf8"),
        pytest.param(gzip.compress(b"{not json"), id="not-json"),
        pytest.param(_gz({"size": 1, "sha256": SHA_A}), id="no-path"),
        pytest.param(_gz({"path": "a", "sha256": SHA_A}), id="no-size"),
        pytest.param(_gz({"path": "a", "size": 1}), id="no-sha"),
        pytest.param(_gz({**GOOD, "size": -1}), id="negative-size"),
        pytest.param(_gz({**GOOD, "size": 1.5}), id="float-size"),
        pytest.param(_gz({**GOOD, "size": "1"}), id="string-size"),
        pytest.param(_gz({**GOOD, "sha256": "xyz"}), id="bad-sha"),
        pytest.param(_gz({**GOOD, "path": "../etc/passwd"}), id="dotdot-path"),
        pytest.param(_gz({**GOOD, "path": "/abs"}), id="absolute-path"),
        pytest.param(_gz({**GOOD, "path": ""}), id="empty-path"),
        pytest.param(_gz(GOOD, [1, 2]), id="list-record"),
        pytest.param(_gz(GOOD, 7), id="number-record"),
        pytest.param(_gz(GOOD, None), id="null-record"),
    ],
)
def test_corrupt_manifests_raise_integrity_error(blob: bytes) -> None:
    with pytest.raises(IntegrityError, match="Corrupt manifest"):
        manifest.decode(blob)


_VALID = manifest.encode([FileEntry(f"dir/file-{i}", i, SHA_A) for i in range(50)])


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(_VALID[:-4], id="truncated-trailer"),
        pytest.param(_VALID[: len(_VALID) // 2], id="truncated-half"),
        pytest.param(_VALID[:12] + bytes(16) + _VALID[28:], id="damaged-deflate"),
        pytest.param(b"", id="zero-bytes"),
    ],
)
def test_truncated_or_damaged_manifests_raise_integrity_error(blob: bytes) -> None:
    with pytest.raises(IntegrityError):
        manifest.decode(blob)


def test_a_boolean_size_is_corrupt() -> None:
    with pytest.raises(IntegrityError):
        manifest.decode(_gz({**GOOD, "size": True}))


@pytest.mark.parametrize("char", list(LINE_BREAKS))
def test_paths_with_unicode_line_breaks_roundtrip(char: str) -> None:
    entries = [FileEntry(f"a{char}b", 1, SHA_A), FileEntry("c", 2, SHA_B)]
    assert manifest.decode(manifest.encode(entries)) == entries


def test_paths_with_ascii_control_characters_roundtrip() -> None:
    entries = [FileEntry(f"a{chr(c)}b", c, SHA_A) for c in range(1, 32)]
    assert manifest.decode(manifest.encode(entries)) == sorted(entries, key=lambda e: e.path)


# -- layout --------------------------------------------------------------------------------


def test_manifest_and_object_keys_sit_under_the_team() -> None:
    team, ds = "te6x30gzr", "dst364npcw6ccok"
    assert layout.manifest_key(team, ds, "fo5rp4m") == (
        "te6x30gzr/datasets/dst364npcw6ccok/versions/fo5rp4m/manifest.jsonl.gz"
    )
    assert layout.manifest_key(team, ds, "fo5rp4m").startswith(
        layout.version_prefix(team, ds, "fo5rp4m")
    )
    assert layout.version_prefix(team, ds, "v").startswith(layout.dataset_prefix(team, ds))
    assert (
        layout.object_key(team, SHA_B)
        == f"te6x30gzr/objects/sha256/{SHA_B[:2]}/{SHA_B[2:4]}/{SHA_B}"
    )
    with pytest.raises(InvalidReference):
        layout.object_key(team, "../../x")


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=20).filter(
                lambda t: "/" not in t and t not in (".", "..")
            ),
            st.integers(min_value=0, max_value=2**40),
            st.sampled_from(["text/plain", 'we"ird\\type', "image/jpeg", "ü/x"]),
        ),
        max_size=20,
        unique_by=lambda t: t[0],
    )
)
def test_each_line_is_what_json_dumps_writes(items: list[tuple[str, int, str]]) -> None:
    import gzip as _gzip
    import json as _json

    entries = [FileEntry(name, size, "a" * 64, ct) for name, size, ct in items]
    text = _gzip.decompress(manifest.encode(entries)).decode("utf-8")
    expected = [
        _json.dumps(
            {"path": e.path, "size": e.size, "sha256": e.sha256, "contentType": e.content_type},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for e in sorted(entries, key=lambda e: e.path)
    ]
    assert text.split("\n")[:-1] == expected
