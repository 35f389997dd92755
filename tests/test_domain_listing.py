"""What `files list` shows (domain/listing.py), as GRADIENT.md §1.16 describes it: names
relative to --path, sub-directories once each with a trailing '/' and no size, everything
below with --recursive."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cargohold.domain.listing import list_page
from cargohold.domain.models import FileEntry, ListedEntry
from cargohold.domain.paths import dir_prefix, parent_dirs

SHA = "0" * 64


def list_dir(entries: list[FileEntry], prefix: str, recursive: bool) -> list[ListedEntry]:
    """Every row of a listing of these entries (all of them already in hand)."""
    ordered = sorted(entries, key=lambda e: e.path)

    def fetch(after: str | None, n: int) -> list[FileEntry]:
        start = (
            0
            if after is None
            else next((i for i, e in enumerate(ordered) if e.path > after), len(ordered))
        )
        return ordered[start : start + n]

    return list_page(fetch, prefix, recursive)


def entries(*paths_and_sizes: tuple[str, int]) -> list[FileEntry]:
    return [FileEntry(path, size, SHA) for path, size in paths_and_sizes]


VERSION = entries(
    ("hello.txt", 12),
    ("images/cat.png", 100),
    ("images/dog.png", 200),
    ("images/sub/x.bin", 3),
    ("images/sub/deeper/y.bin", 4),
    ("notes/a.md", 5),
)


def under(prefix: str) -> list[FileEntry]:
    """What the catalog hands list_dir: the files below the prefix."""
    return [e for e in VERSION if e.path.startswith(prefix)]


def test_root_lists_files_and_each_directory_once() -> None:
    assert list_dir(under(""), "", recursive=False) == [
        ListedEntry("hello.txt", 12),
        ListedEntry("images/", None),
        ListedEntry("notes/", None),
    ]


def test_a_sub_directory_lists_names_relative_to_it() -> None:
    prefix = dir_prefix("/images")
    assert list_dir(under(prefix), prefix, recursive=False) == [
        ListedEntry("cat.png", 100),
        ListedEntry("dog.png", 200),
        ListedEntry("sub/", None),
    ]


def test_recursive_lists_every_file_below_relative_to_the_path() -> None:
    prefix = dir_prefix("images/")
    assert list_dir(under(prefix), prefix, recursive=True) == [
        ListedEntry("cat.png", 100),
        ListedEntry("dog.png", 200),
        ListedEntry("sub/deeper/y.bin", 4),
        ListedEntry("sub/x.bin", 3),
    ]


def test_directories_are_marked_and_have_no_size() -> None:
    rows = list_dir(under(""), "", recursive=False)
    assert [r.is_dir for r in rows] == [False, True, True]
    assert all((r.size is None) == r.is_dir for r in rows)


def test_empty_listing() -> None:
    assert list_dir([], "", recursive=False) == []
    assert list_dir([], "a/", recursive=True) == []


def test_names_sort_bytewise_and_a_file_may_share_a_directorys_name() -> None:
    rows = list_dir(entries(("a/x", 1), ("a.txt", 2), ("a", 3), ("B", 4)), "", recursive=False)
    assert [r.name for r in rows] == ["B", "a", "a.txt", "a/"]


_segments = st.sampled_from(["a", "b", "ab", "a0", "a.b", "é", "Z", "日本"])
_keys = st.lists(_segments, min_size=1, max_size=4).map("/".join)


@given(st.lists(_keys, max_size=30, unique=True), st.data())
def test_listing_properties(keys: list[str], data: st.DataObject) -> None:
    version = [FileEntry(k, i, SHA) for i, k in enumerate(keys)]
    prefixes = sorted({""} | {p for k in keys for p in parent_dirs(k)})
    prefix = data.draw(st.sampled_from(prefixes))
    below = [e for e in version if e.path.startswith(prefix)]

    recursive = list_dir(below, prefix, recursive=True)
    assert [r.name for r in recursive] == sorted(e.path[len(prefix) :] for e in below)
    assert {prefix + r.name: r.size for r in recursive} == {e.path: e.size for e in below}

    flat = list_dir(below, prefix, recursive=False)
    names = [r.name for r in flat]
    assert names == sorted(set(names))
    for row in flat:
        assert row.name.count("/") == (1 if row.is_dir else 0)
        assert (row.size is None) == row.is_dir
    expected_dirs = {
        e.path[len(prefix) :].split("/")[0] + "/" for e in below if "/" in e.path[len(prefix) :]
    }
    expected_files = {e.path[len(prefix) :] for e in below if "/" not in e.path[len(prefix) :]}
    assert {r.name for r in flat if r.is_dir} == expected_dirs
    assert {r.name for r in flat if not r.is_dir} == expected_files


@given(
    st.lists(
        st.lists(st.sampled_from(["a", "b", "a.b", "c0", "é"]), min_size=1, max_size=4).map(
            "/".join
        ),
        unique=True,
        max_size=40,
    ),
    st.booleans(),
    st.integers(min_value=1, max_value=7),
)
def test_pages_put_together_are_the_whole_listing(
    paths: list[str], recursive: bool, size: int
) -> None:
    # drop paths that are also folders of other paths: a file and a folder can't share a name
    paths = [p for p in paths if not any(q.startswith(p + "/") for q in paths)]
    entries = sorted((FileEntry(p, len(p), "0" * 64) for p in paths), key=lambda e: e.path)

    def fetch(after: str | None, n: int) -> list[FileEntry]:
        return [e for e in entries if after is None or e.path > after][:n]

    whole = list_page(fetch, "", recursive)
    pages: list[ListedEntry] = []
    while True:
        page = list_page(fetch, "", recursive, size, pages[-1].name if pages else None)
        assert len(page) <= size
        pages += page
        if len(page) < size:
            break
    assert pages == whole
    assert len({r.name for r in whole}) == len(whole)
