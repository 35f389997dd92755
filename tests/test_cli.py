"""End-to-end behaviour of the CLI on the embedded defaults (SQLite + managed directory)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from tests.cli_helpers import Cli, Result, new_version, write_tree


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "data",
        {
            "hello.txt": b"hello world\n",
            "sub/a.bin": os.urandom(3000),
            "sub/deep/b.csv": b"x,y\n1,2\n",
            "sub/dup.txt": b"hello world\n",
            "with space/ünïcode.txt": b"unicode",
        },
    )


def state(cli: Cli, ds: str) -> object:
    """Everything a user can see of a dataset, to prove a refused command changed nothing."""
    versions = cli.json("datasets", "versions", "list", "--id", ds, "--isCommitted", "false")
    committed = cli.json("datasets", "versions", "list", "--id", ds)
    files = {
        v["id"]: cli.json("datasets", "files", "list", "--id", v["id"], "--recursive")
        for v in versions + committed
    }
    tags = cli.json("datasets", "tags", "list", "--id", ds)
    return versions, committed, files, tags


def fails(result: Result, *words: str) -> None:
    assert result.code != 0
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err


def test_managed_provider_exists_from_the_first_run(cli: Cli) -> None:
    out = cli.ok("storageProviders", "list").out
    assert "| Managed " in out and "| local " in out
    [provider] = cli.json("storageProviders", "list")
    assert provider["id"].startswith("spl") and len(provider["id"]) == 15
    details = cli.ok("storageProviders", "details", "--id", provider["id"]).out
    assert f"| ID     | {provider['id']} |" in details


def test_dataset_lifecycle_and_gradient_messages(cli: Cli) -> None:
    created = cli.ok("datasets", "create", "--name", "first", "--description", "d1").out
    assert created.startswith("Created dataset: ds")
    ds = created.split()[-1]
    assert cli.ok("datasets", "update", "--id", ds, "--name", "renamed").out.strip() == (
        f"Updated dataset: {ds}"
    )
    # a name works wherever an ID does
    details = cli.json("datasets", "details", "--id", "renamed")
    assert details["id"] == ds and details["description"] == "d1"
    assert set(details) >= {"id", "name", "description", "storageProvider", "dtCreated"}
    assert cli.ok("datasets", "delete", "--id", "renamed").out.strip() == f"Deleted dataset: {ds}"
    assert cli.ok("datasets", "list").out.strip() == "No data found"


def test_versions_files_tags_round_trip(cli: Cli, data: Path, tmp_path: Path) -> None:
    ds, ref = new_version(cli)
    summary = cli.json("datasets", "files", "put", "--id", ref, "--source-path", f"{data}/")
    assert summary == {
        "files": 5,
        "newObjects": 4,
        "bytesSent": summary["bytesSent"],
        "bytesSkipped": len(b"hello world\n"),
    }
    assert cli.ok("datasets", "version", "commit", "--id", ref).out.strip() == (
        f"Committed dataset version: {ref}"
    )
    assert cli.ok("datasets", "versions", "commit", "--id", ref).out.strip() == (
        "Dataset version already committed"
    )
    top = cli.ok("datasets", "files", "list", "--id", f"{ds}:latest").out
    assert "| hello.txt   | 12   |" in top and "| sub/        |      |" in top
    deep = cli.json(
        "datasets", "files", "list", "--id", ref, "--path", "/sub", "--recursive", "true"
    )
    assert [e["name"] for e in deep] == ["a.bin", "deep/b.csv", "dup.txt"]

    assert cli.ok("datasets", "tags", "set", "--id", ref, "--name", "prod").out.strip() == (
        f"Set dataset tag: {ds}:prod"
    )
    tags = cli.ok("datasets", "tags", "list", "--id", ds).out
    assert f"| {ref} | prod |" in tags
    version = cli.json("datasets", "versions", "details", "--id", "demo:prod")
    assert version["version"] == ref.split(":")[1] and version["isCommitted"] is True
    assert version["tags"] == [{"name": "prod"}] and version["fileCount"] == 5

    out = tmp_path / "out"
    cli.ok("datasets", "files", "get", "--id", "demo:prod", "--target-path", str(out))
    for path in data.rglob("*"):
        if path.is_file():
            assert (out / path.relative_to(data)).read_bytes() == path.read_bytes()
    assert cli.ok("datasets", "tags", "delete", "--id", f"{ds}:prod").out.strip() == (
        f"Deleted dataset tag: {ds}:prod"
    )


def test_versions_list_is_newest_first_and_committed_by_default(cli: Cli, data: Path) -> None:
    ds = cli.json("datasets", "create", "--name", "v")["id"]
    refs = []
    for i in range(3):
        res = cli.ok(
            *["datasets", "versions", "create", "--id", ds, "--message", f"m{i}"],
            *["--source-path", str(data / "hello.txt")],
        )
        refs.append(res.out.splitlines()[0].split()[-1])
    open_ref = cli.ok("datasets", "versions", "create", "--id", ds).out.split()[-1]
    listed = [v["id"] for v in cli.json("datasets", "versions", "list", "--id", ds)]
    assert listed == refs[::-1]
    pending = cli.json("datasets", "versions", "list", "--id", ds, "--isCommitted", "false")
    assert [v["id"] for v in pending] == [open_ref]
    assert cli.json("datasets", "versions", "details", "--id", f"{ds}:latest")["id"] == refs[-1]


def test_parent_starts_with_the_parents_files(cli: Cli, data: Path, tmp_path: Path) -> None:
    ds = cli.json("datasets", "create", "--name", "p")["id"]
    cli.ok("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    child = cli.json("datasets", "versions", "create", "--id", ds, "--parent", "p:latest")
    (tmp_path / "new.txt").write_bytes(b"new content")
    sent = cli.json(
        "datasets", "files", "put", "--id", child["id"], "--source-path", str(tmp_path / "new.txt")
    )
    assert sent["newObjects"] == 1 and sent["bytesSent"] == len(b"new content")
    cli.ok("datasets", "files", "delete", "--id", child["id"], "--path", "sub/deep/")
    names = [
        e["name"] for e in cli.json("datasets", "files", "list", "--id", child["id"], "--recursive")
    ]
    assert "new.txt" in names and "hello.txt" in names and "sub/deep/b.csv" not in names


def test_files_put_path_rules(cli: Cli, data: Path) -> None:
    """GRADIENT.md §1.18: file → basename; 'dir' keeps its name; 'dir/' uploads contents."""
    _, ref = new_version(cli)
    put = ("datasets", "files", "put", "--id", ref)
    cli.ok(*put, "--source-path", str(data / "hello.txt"), "--target-path", "one")
    cli.ok(*put, "--source-path", str(data / "sub"), "--target-path", "/two/")
    cli.ok(*put, "--source-path", f"{data / 'sub'}/", "--target-path", "three")
    names = [e["name"] for e in cli.json("datasets", "files", "list", "--id", ref, "--recursive")]
    assert "one/hello.txt" in names
    assert "two/sub/deep/b.csv" in names
    assert "three/deep/b.csv" in names


def test_files_get_source_paths(cli: Cli, data: Path, tmp_path: Path) -> None:
    ds, ref = new_version(cli)
    cli.ok("datasets", "files", "put", "--id", ref, "--source-path", f"{data}/")
    cli.ok("datasets", "versions", "commit", "--id", ref)
    get = ("datasets", "files", "get", "--id", ds)
    keep = tmp_path / "keep"
    cli.ok(*get, "--source-path", "sub/deep", "--target-path", str(keep))
    assert (keep / "sub/deep/b.csv").exists()
    contents = tmp_path / "contents"
    cli.ok(*get, "--source-path", "sub/deep/", "--target-path", str(contents))
    assert (contents / "b.csv").exists()
    single = tmp_path / "single.txt"
    cli.ok(*get, "--source-path", "hello.txt", "--target-path", str(single))
    assert single.read_bytes() == b"hello world\n"
    fails(cli(*get, "--source-path", "nope/", "--target-path", str(tmp_path / "x")), "nope")


def test_refused_writes_change_nothing(cli: Cli, data: Path) -> None:
    ds, ref = new_version(cli)
    cli.ok("datasets", "files", "put", "--id", ref, "--source-path", f"{data}/")
    cli.ok("datasets", "versions", "commit", "--id", ref)
    open_ref = cli.ok("datasets", "versions", "create", "--id", ds).out.split()[-1]
    before = state(cli, ds)
    put_open = ("datasets", "files", "put", "--id", open_ref, "--source-path", str(data))
    attempts = [
        (("datasets", "files", "put", "--id", ref, "--source-path", str(data)), "committed"),
        (("datasets", "files", "delete", "--id", ref, "--path", "hello.txt"), "committed"),
        (("datasets", "files", "delete", "--id", ref), "committed"),
        ((*put_open, "--target-path", "../up"), ".."),
        ((*put_open, "--target-path", "a/../../b"), ".."),
        (
            ("datasets", "files", "put", "--id", open_ref, "--source-path", str(data / "missing")),
            "missing",
        ),
        (("datasets", "files", "list", "--id", f"{ds}:nosuchtag"), "nosuchtag"),
        (("datasets", "files", "list", "--id", f"{ds}:zzzzzzz"), "zzzzzzz"),
        (("datasets", "details", "--id", "no-such-dataset"), "no-such-dataset"),
        (("datasets", "versions", "details", "--id", "dsaaaaaaaaaaaaa:aaaaaaa"), "dsaaaaaaaaaaaaa"),
        (("datasets", "tags", "delete", "--id", f"{ds}:nope"), "nope"),
        (("datasets", "tags", "set", "--id", ref, "--name", "latest"), "latest"),
        (("datasets", "tags", "set", "--id", ref, "--name", open_ref.split(":")[1]), "version ID"),
        (("datasets", "create", "--name", "demo"), "already exists"),
        (("datasets", "create", "--name", "bad/name"), "Invalid dataset name"),
    ]
    for args, word in attempts:
        fails(cli(*args), word)
    assert state(cli, ds) == before


def test_usage_errors_exit_2_with_gradients_messages(cli: Cli) -> None:
    ds = cli.json("datasets", "create", "--name", "u")["id"]
    res = cli("datasets", "details", "--id", f"{ds}:abc")
    assert res.code == 2 and "should not have a version/tag (ex: dsr8k5qzn401lb5)" in res.err
    res = cli("datasets", "versions", "commit", "--id", ds)
    assert res.code == 2 and "is missing the version (ex: dsr8k5qzn401lb5:klfoyy9)" in res.err
    res = cli("datasets", "tags", "delete", "--id", ds)
    assert res.code == 2 and "is missing the tag (ex: dsr8k5qzn401lb5:prod)" in res.err
    res = cli("datasets", "lst")
    assert res.code == 2 and "Did you mean 'list'?" in res.err
    assert cli("datasets", "create").code == 2


def test_errors_as_json_and_debug(cli: Cli) -> None:
    res = cli("datasets", "details", "--id", "missing", "--json")
    assert res.code == 1
    assert res.json()["error"]["code"] == "dataset-not-found"
    res = cli("datasets", "details", "--id", "missing", "--debug")
    assert res.code == 1 and "Traceback" in res.err


def test_options_file_and_create_options_file(cli: Cli, tmp_path: Path) -> None:
    template = tmp_path / "opts.yaml"
    cli.ok("datasets", "create", "--name", "x", "--createOptionsFile", str(template))
    assert "name: x" in template.read_text()
    assert cli.ok("datasets", "list").out.strip() == "No data found"  # nothing ran
    opts = tmp_path / "create.yaml"
    opts.write_text("name: from-file\ndescription: described\n")
    cli.ok("datasets", "create", "--optionsFile", str(opts))
    assert cli.json("datasets", "details", "--id", "from-file")["description"] == "described"
    cli.ok("datasets", "create", "--optionsFile", str(opts), "--name", "flag-wins")
    assert cli.json("datasets", "details", "--id", "flag-wins")["description"] == "described"
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    res = cli("datasets", "create", "--optionsFile", str(bad))
    assert res.code == 2 and "Traceback" not in res.err


def test_cache_status_and_prune(cli: Cli, data: Path, tmp_path: Path) -> None:
    ds = cli.json("datasets", "create", "--name", "c")["id"]
    cli.ok("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    cli.ok("datasets", "files", "get", "--id", ds, "--target-path", str(tmp_path / "o"))
    status = cli.json("cache", "status")
    assert status["entries"] == 4 and status["size"] > 3000
    assert cli.json("cache", "prune", "--size", "0")["removed"] == 4
    assert cli.json("cache", "status")["entries"] == 0
    # materialized files outlive the cache entries they were linked from
    assert (tmp_path / "o" / "hello.txt").read_bytes() == b"hello world\n"


def test_symlinks_are_followed_and_loops_are_not(cli: Cli, tmp_path: Path) -> None:
    data = write_tree(tmp_path / "links", {"real/a.txt": b"a", "empty": b""})
    (data / "alias").symlink_to(data / "real")
    (data / "real" / "loop").symlink_to(data)
    (data / "file-link.txt").symlink_to(data / "real" / "a.txt")
    ds = cli.json("datasets", "create", "--name", "links")["id"]
    cli.ok("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    names = [e["name"] for e in cli.json("datasets", "files", "list", "--id", ds, "--recursive")]
    assert names == ["alias/a.txt", "empty", "file-link.txt", "real/a.txt"]
    out = tmp_path / "out"
    cli.ok("datasets", "files", "get", "--id", ds, "--target-path", str(out))
    assert (out / "empty").read_bytes() == b"" and (out / "file-link.txt").read_bytes() == b"a"


@pytest.mark.parametrize("kind", ["broken-link", "fifo"])
def test_bad_sources_fail_before_a_version_exists(cli: Cli, tmp_path: Path, kind: str) -> None:
    data = write_tree(tmp_path / "bad", {"ok.txt": b"fine"})
    if kind == "broken-link":
        (data / "dangling").symlink_to(tmp_path / "nowhere")
    else:
        os.mkfifo(data / "pipe")
    ds = cli.json("datasets", "create", "--name", "bad")["id"]
    res = cli("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    fails(res, "Broken symbolic link" if kind == "broken-link" else "Not a regular file")
    assert cli.json("datasets", "versions", "list", "--id", ds, "--isCommitted", "false") == []


def test_get_into_a_path_blocked_by_a_file(cli: Cli, data: Path, tmp_path: Path) -> None:
    ds = cli.json("datasets", "create", "--name", "blocked")["id"]
    cli.ok("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    blocker = tmp_path / "blocker"
    blocker.write_text("I am a file")
    fails(
        cli("datasets", "files", "get", "--id", ds, "--target-path", str(blocker)),
        "not a directory",
    )
    assert blocker.read_text() == "I am a file"


@pytest.mark.local_only
def test_an_unreachable_catalog_is_one_clear_line_without_the_password(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARGOHOLD_DATABASE_URL", "postgresql://user:s3cret@127.0.0.1:1/db")
    res = cli("datasets", "list")
    fails(res, "Cannot use the catalog", "CARGOHOLD_DATABASE_URL")
    assert "s3cret" not in res.err + res.out


@pytest.mark.local_only
def test_the_whole_flow_on_a_postgresql_catalog(
    cli: Cli, data: Path, tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARGOHOLD_DATABASE_URL", postgres_url)
    test_versions_files_tags_round_trip(cli, data, tmp_path)


def test_a_corrupt_cache_entry_is_evicted_and_fetched_again(
    cli: Cli, cargohold_home: Path, data: Path, tmp_path: Path
) -> None:
    ds = cli.json("datasets", "create", "--name", "corrupt")["id"]
    cli.ok("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    cli.ok("datasets", "files", "get", "--id", ds, "--target-path", str(tmp_path / "first"))
    sha = hashlib.sha256(b"hello world\n").hexdigest()
    cached = cargohold_home / "cache" / "objects" / sha[:2] / sha[2:4] / sha
    cached.chmod(0o644)
    cached.write_bytes(b"HELLO WORLD\n")  # same size, other bytes: only a re-hash sees it
    second = cli.json(
        *["datasets", "files", "get", "--id", ds, "--target-path", str(tmp_path / "second")],
        "--verify",
    )
    assert second["fetchedObjects"] == 1
    assert (tmp_path / "second" / "hello.txt").read_bytes() == b"hello world\n"
    cached.chmod(0o644)
    cached.write_bytes(b"short")  # a wrong size is caught without --verify
    third = cli.json(
        "datasets", "files", "get", "--id", ds, "--target-path", str(tmp_path / "third")
    )
    assert third["fetchedObjects"] == 1
    assert (tmp_path / "third" / "hello.txt").read_bytes() == b"hello world\n"
    cached.chmod(0o644)
    cached.write_bytes(b"HELLO WORLD\n")
    assert cli.json("cache", "verify")["removed"] == 1


def test_files_list_pages_by_name(cli: Cli, tmp_path: Path) -> None:
    files = {f"d{i % 3}/f{i:02}.txt": b"x" for i in range(30)}
    files.update({f"top{i}.txt": b"y" for i in range(5)})
    data = write_tree(tmp_path / "paged", files)
    ds = cli.json("datasets", "create", "--name", "paged")["id"]
    cli.ok("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    whole = [r["name"] for r in cli.json("datasets", "files", "list", "--id", ds, "--recursive")]
    pages: list[str] = []
    while True:
        extra = ["--after", pages[-1]] if pages else []
        page = cli.json(
            "datasets", "files", "list", "--id", ds, "--recursive", "--limit", "7", *extra
        )
        pages += [r["name"] for r in page]
        if len(page) < 7:
            break
    assert pages == whole and len(whole) == 35
    top = cli.json("datasets", "files", "list", "--id", ds, "--limit", "2", "--after", "d0/")
    assert [r["name"] for r in top] == ["d1/", "d2/"]


def test_versions_create_json_reports_the_upload(cli: Cli, data: Path) -> None:
    ds = cli.json("datasets", "create", "--name", "reported")["id"]
    made = cli.json("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    assert made["isCommitted"] and made["upload"]["files"] == 5
    again = cli.json("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    assert again["upload"]["bytesSent"] == 0 and again["upload"]["newObjects"] == 0
    assert "upload" not in cli.json("datasets", "versions", "create", "--id", ds)


def test_usage_shows_what_the_team_stores(cli: Cli, data: Path) -> None:
    ds = cli.json("datasets", "create", "--name", "used")["id"]
    cli.ok("datasets", "versions", "create", "--id", ds, "--source-path", f"{data}/")
    report = cli.json("storageProviders", "usage")
    [managed] = [p for p in report["providers"] if p["isManaged"]]
    distinct = {b"hello world\n", b"x,y\n1,2\n", b"unicode"}
    assert managed["objects"] == len(distinct) + 1  # and sub/a.bin
    assert (managed["datasets"], managed["versions"]) == (1, 1)
    table = cli.ok("storageProviders", "usage").out
    assert "| Managed " in table and "Managed quota: none" in table
