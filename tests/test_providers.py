"""Storage providers: S3 providers proven before they are saved, secrets encrypted at rest and
never shown, Gradient's command lines and messages, CORS, and the managed provider in a bucket.

Everything that touches a bucket runs against the real SeaweedFS that ``scripts/test`` starts
(fixtures ``s3_config`` and ``s3_bucket`` of conftest.py).
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from cargohold.domain.models import StorageProvider
from cargohold.errors import ConfigurationError
from cargohold.services import build_services
from cargohold.services.crypto import SecretBox, is_sealed, read_key_file
from cargohold.services.providers import check_origin, merged_config
from cargohold.settings import Settings
from tests.cli_helpers import (
    Cli,
    Result,
    create_s3_provider,
    new_version,
    s3_provider_args,
    write_tree,
)

# -- helpers ----------------------------------------------------------------------------------


@pytest.fixture
def cli(cargohold_home: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


class Recorder(Cli):
    """A CLI that keeps every byte any command printed, to search it for the secret."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        super().__init__(capsys)
        self.printed: list[str] = []

    def __call__(self, *args: str) -> Result:
        result = super().__call__(*args)
        self.printed += [result.out, result.err]
        return result


@pytest.fixture
def rec(cli: Cli) -> Recorder:
    return Recorder(cli.capsys)


def fails(result: Result, *words: str) -> None:
    assert result.code == 1, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    for word in words:
        assert word in result.err, result.err


def bucket_keys(client: Any, bucket: str) -> list[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def catalog_bytes(home: Path) -> bytes:
    """The catalog as stored: the SQLite file and its WAL, read as bytes."""
    return b"".join(p.read_bytes() for p in sorted(home.glob("catalog.sqlite*")))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def provider_names(cli: Cli) -> list[str]:
    return [p["name"] for p in cli.json("storageProviders", "list")]


def round_trip(rec: Cli, tmp_path: Path, provider: str | None) -> None:
    """A small dataset through create, put, commit and get; the bytes come back the same."""
    files = {"a.txt": b"hello\n", "sub/b.bin": os.urandom(5000), "big.bin": os.urandom(300_000)}
    src = write_tree(tmp_path / "src", files)
    _, ref = new_version(rec, "on-s3", provider)
    rec.ok("datasets", "files", "put", "--id", ref, "--source-path", f"{src}/")
    rec.ok("datasets", "versions", "commit", "--id", ref)
    out = tmp_path / "out"
    rec.ok("datasets", "files", "get", "--id", ref, "--target-path", str(out))
    got = {str(p.relative_to(out)): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == files


# -- create, list, details: Gradient's lines and messages, secret masked -----------------------


def test_create_with_the_seed_line_then_list_and_details_mask_the_secret(
    rec: Recorder, s3_config: dict[str, str]
) -> None:
    sp = create_s3_provider(rec, s3_config)
    table = rec.ok("storageProviders", "list").out
    assert "| Name " in table and "| Config " in table
    [row] = [line for line in table.splitlines() if sp in line]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells == ["bucket-one", sp, "s3", f"accessKey: {s3_config['accessKey']}"]
    assert f"bucket: {s3_config['bucket']}" in table
    assert "secretAccessKey: ********" in table
    details = rec.ok("storageProviders", "details", "--id", sp).out
    assert (
        "secretAccessKey: ********" in details and f"endpoint: {s3_config['endpoint']}" in details
    )
    as_json = rec.json("storageProviders", "details", "--id", sp)
    assert as_json["type"] == "s3" and as_json["config"]["secretAccessKey"] == "********"
    assert as_json["config"]["bucket"] == s3_config["bucket"]
    assert s3_config["secretAccessKey"] not in "".join(rec.printed)


def test_kebab_case_spellings_and_json_output(rec: Recorder, s3_config: dict[str, str]) -> None:
    created = rec.json(
        *["storageProviders", "create", "s3", "--name", "kebab", "--bucket", s3_config["bucket"]],
        *["--access-key", s3_config["accessKey"]],
        *["--secret-access-key", s3_config["secretAccessKey"]],
        *["--endpoint", s3_config["endpoint"], "--signature-version", "v4"],
    )
    assert created["id"].startswith("spl") and created["name"] == "kebab"
    assert created["config"]["signatureVersion"] == "v4"
    assert created["config"]["secretAccessKey"] == "********"


def test_a_dataset_on_an_s3_provider_round_trips_and_stays_under_the_team_folder(
    rec: Recorder, s3_server: Any, s3_config: dict[str, str], tmp_path: Path
) -> None:
    sp = create_s3_provider(rec, s3_config)
    round_trip(rec, tmp_path, sp)
    keys = bucket_keys(s3_server.client(), s3_config["bucket"])
    assert keys and len({k.split("/")[0] for k in keys}) == 1
    team = keys[0].split("/")[0]
    assert team.startswith("te") and len(team) == 9
    assert not any(".cargohold-probe-" in k for k in keys), "the probe object was left behind"


def test_no_output_and_no_byte_of_the_catalog_holds_the_secret(
    rec: Recorder, s3_config: dict[str, str], cargohold_home: Path, tmp_path: Path
) -> None:
    secret = s3_config["secretAccessKey"]
    sp = create_s3_provider(rec, s3_config)
    rec.ok("storageProviders", "list")
    rec.json("storageProviders", "list")
    rec.ok("storageProviders", "details", "--id", sp)
    rec.ok("storageProviders", "update", "s3", "--id", sp, "--secretAccessKey", secret)
    rec.ok("storageProviders", "update", "s3", "--id", sp, "--name", "renamed", "--debug")
    rec(
        "storageProviders", "update", "s3", "--id", sp, "--bucket", "no-such-bucket-here", "--debug"
    )
    rec("storageProviders", "create", "s3", *s3_provider_args(s3_config, "dup")[3:], "--debug")
    round_trip(rec, tmp_path, sp)
    rec("storageProviders", "delete", "--id", sp, "--json")
    printed = "".join(rec.printed)
    assert "********" in printed
    assert secret not in printed
    stored = catalog_bytes(cargohold_home)
    assert stored and secret.encode() not in stored
    assert b"enc:v1:" in stored


def test_services_keep_the_sealed_secret_and_reprs_show_none(
    cargohold_home: Path, s3_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARGOHOLD_MANAGED_S3_SECRET_KEY", "operator-secret-value")
    settings = Settings.from_env()
    svc = build_services(settings)
    try:
        p = svc.storage_providers.create_s3(
            "svc",
            s3_config["bucket"],
            s3_config["accessKey"],
            s3_config["secretAccessKey"],
            endpoint=s3_config["endpoint"],
        )
        assert is_sealed(p.config["secretAccessKey"])
        for shown in (repr(p), repr(svc.storage_providers.list()), repr(settings)):
            assert s3_config["secretAccessKey"] not in shown
            assert "operator-secret-value" not in shown
        assert "operator-secret-value" not in repr(svc.storage_providers.ctx.stores.secrets)
    finally:
        svc.close()


# -- proving access: nothing saved when the bucket does not work ------------------------------


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"secretAccessKey": "not-the-secret-key-at-all"}, "storage-access-denied", []),
        ({"accessKey": "NOSUCHACCESSKEY00000"}, "storage-access-denied", []),
        ({"bucket": "cargohold-no-such-bucket"}, "bucket-not-found", ["cargohold-no-such-bucket"]),
        ({"endpoint": "closed-port"}, "storage-unreachable", ["127.0.0.1"]),
    ],
    ids=["wrong-secret", "wrong-access-key", "missing-bucket", "closed-port"],
)
def test_create_is_refused_with_the_cause_and_nothing_is_saved(
    rec: Recorder,
    s3_server: Any,
    s3_config: dict[str, str],
    cargohold_home: Path,
    change: dict[str, str],
    code: str,
    words: list[str],
) -> None:
    config = {**s3_config, **change}
    if config["endpoint"] == "closed-port":
        config["endpoint"] = f"http://127.0.0.1:{closed_port()}"
    result = rec(*s3_provider_args(config), "--json")
    fails(result, *words)
    assert result.json()["error"]["code"] == code
    assert provider_names(rec) == ["Managed"]
    assert config["secretAccessKey"] not in "".join(rec.printed)
    assert config["secretAccessKey"].encode() not in catalog_bytes(cargohold_home)
    assert not bucket_keys(s3_server.client(), s3_config["bucket"]), "objects left behind"


def test_an_invalid_endpoint_or_a_taken_name_is_refused_before_any_request(
    rec: Recorder, s3_config: dict[str, str]
) -> None:
    fails(rec(*s3_provider_args({**s3_config, "endpoint": "localhost:9000"})), "Invalid endpoint")
    create_s3_provider(rec, s3_config, "taken")
    fails(rec(*s3_provider_args(s3_config, "taken")), "already exists")
    fails(rec(*s3_provider_args(s3_config, "Managed")), "already exists")
    assert sorted(provider_names(rec)) == ["Managed", "taken"]


# -- update ------------------------------------------------------------------------------------


def test_update_renames_and_a_bad_secret_is_refused_leaving_everything_as_it_was(
    rec: Recorder, s3_config: dict[str, str], tmp_path: Path
) -> None:
    sp = create_s3_provider(rec, s3_config)
    out = rec.ok("storageProviders", "update", "s3", "--id", sp, "--name", "renamed").out
    assert out.strip() == "Updated storage provider"
    before = rec.json("storageProviders", "details", "--id", sp)
    assert before["name"] == "renamed"
    bad = ["--secretAccessKey", "definitely-wrong-secret", "--name", "other"]
    result = rec("storageProviders", "update", "s3", "--id", sp, *bad)
    fails(result, "Error:")
    assert rec.json("storageProviders", "details", "--id", sp) == before
    round_trip(rec, tmp_path, sp)  # the stored secret still works


def test_update_applies_gradient_semantics_and_proves_the_new_config(
    rec: Recorder, s3_config: dict[str, str]
) -> None:
    sp = create_s3_provider(rec, {**s3_config, "region": "us-east-1"})
    # empty bucket/keys mean "unchanged"; an empty region clears it
    args = ["--bucket", "", "--accessKey", "", "--secretAccessKey", "", "--region", ""]
    rec.ok("storageProviders", "update", "s3", "--id", sp, *args)
    config = rec.json("storageProviders", "details", "--id", sp)["config"]
    assert "region" not in config and config["bucket"] == s3_config["bucket"]
    result = rec("storageProviders", "update", "s3", "--id", sp, "--bucket", "cargohold-nope-b")
    fails(result, "cargohold-nope-b")
    assert rec.json("storageProviders", "details", "--id", sp)["config"] == config


def test_merged_config_follows_gradient() -> None:
    stored = {"bucket": "b", "accessKey": "a", "secretAccessKey": "enc:v1:x", "region": "r"}
    assert merged_config(stored, {"bucket": "", "accessKey": None}) == stored
    assert merged_config(stored, {"region": ""}) == {
        k: v for k, v in stored.items() if k != "region"
    }
    assert merged_config(stored, {"endpoint": "http://h", "secretAccessKey": "new"}) == {
        **stored,
        "endpoint": "http://h",
        "secretAccessKey": "new",
    }


def test_the_managed_provider_cannot_be_updated_or_deleted(rec: Recorder) -> None:
    [managed] = rec.json("storageProviders", "list")
    fails(rec("storageProviders", "update", "s3", "--id", managed["id"], "--name", "x"))
    fails(rec("storageProviders", "delete", "--id", managed["id"]), "cannot be deleted")
    assert provider_names(rec) == ["Managed"]


# -- delete ------------------------------------------------------------------------------------


def test_delete_is_refused_while_a_dataset_uses_the_provider(
    rec: Recorder, s3_config: dict[str, str]
) -> None:
    sp = create_s3_provider(rec, s3_config)
    ds = rec.json("datasets", "create", "--name", "uses-it", "--storageProviderId", sp)["id"]
    result = rec("storageProviders", "delete", "--id", sp)
    fails(result, sp, "Hint:")
    assert rec.json("storageProviders", "details", "--id", sp)["id"] == sp
    rec.ok("datasets", "delete", "--id", ds)
    out = rec.ok("storageProviders", "delete", "--id", sp).out
    assert out.strip() == f"Deleted storage provider: {sp}"
    assert provider_names(rec) == ["Managed"]
    fails(rec("storageProviders", "details", "--id", sp), "not found")


# -- the key that encrypts secrets -------------------------------------------------------------


def test_the_key_file_is_0600_and_reused(
    rec: Recorder, s3_config: dict[str, str], cargohold_home: Path, tmp_path: Path
) -> None:
    sp = create_s3_provider(rec, s3_config)
    key_file = cargohold_home / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_bytes()
    create_s3_provider(rec, s3_config, "second")
    assert key_file.read_bytes() == key
    round_trip(rec, tmp_path, sp)  # a new process-like run decrypts with the same file
    assert key_file.read_bytes() == key


def test_a_changed_secret_key_is_a_clear_error(
    rec: Recorder, s3_config: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CARGOHOLD_SECRET_KEY", "the first key, long and random enough")
    sp = create_s3_provider(rec, s3_config)
    monkeypatch.setenv("CARGOHOLD_SECRET_KEY", "another key")
    _, ref = new_version(rec, "locked", sp)
    src = write_tree(tmp_path / "src", {"f.txt": b"x"})
    result = rec("datasets", "files", "put", "--id", ref, "--source-path", str(src))
    fails(result, "cannot decrypt the secret of provider", "CARGOHOLD_SECRET_KEY changed?")
    # giving the secret again re-encrypts it with the current key
    args = ["--secretAccessKey", s3_config["secretAccessKey"]]
    rec.ok("storageProviders", "update", "s3", "--id", sp, *args)
    rec.ok("datasets", "files", "put", "--id", ref, "--source-path", str(src))


def test_the_key_file_is_made_once_when_first_runs_race(tmp_path: Path) -> None:
    path = tmp_path / "home" / "secret.key"
    found: list[str | None] = []
    barrier = threading.Barrier(16)

    def first_run() -> None:
        barrier.wait()
        found.append(read_key_file(path, create=True))

    threads = [threading.Thread(target=first_run) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(found) == 16 and len(set(found)) == 1 and found[0]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret.key"]  # no temp file left


def test_sealed_secrets_round_trip_and_a_wrong_key_names_the_provider(tmp_path: Path) -> None:
    box = SecretBox(None, tmp_path)
    sealed = box.seal({"bucket": "b", "secretAccessKey": "s3cr3t"})
    assert sealed["bucket"] == "b" and sealed["secretAccessKey"].startswith("enc:v1:")
    assert box.seal(sealed) == sealed  # sealing twice changes nothing
    p = StorageProvider("splaaaaaaaaaaaa", "teaaaaaaa", "mine", "s3", sealed)
    assert box.unseal(p)["secretAccessKey"] == "s3cr3t"
    assert SecretBox(box.key_file.read_text(), tmp_path / "x").unseal(p) == box.unseal(p)
    with pytest.raises(ConfigurationError, match=r"provider mine .*CARGOHOLD_SECRET_KEY changed"):
        SecretBox("other", tmp_path).unseal(p)
    with pytest.raises(ConfigurationError, match="cannot decrypt"):
        SecretBox(None, tmp_path / "empty-home").unseal(p)
    assert not (tmp_path / "empty-home").exists(), "decrypting must not invent a key"


# -- CORS --------------------------------------------------------------------------------------


def test_cors_applies_the_get_put_rule_and_keeps_other_rules(
    rec: Recorder, s3_server: Any, s3_config: dict[str, str]
) -> None:
    client = s3_server.client()
    other = {"AllowedMethods": ["HEAD"], "AllowedOrigins": ["https://other.example"]}
    client.put_bucket_cors(Bucket=s3_config["bucket"], CORSConfiguration={"CORSRules": [other]})
    sp = create_s3_provider(rec, s3_config)
    origins = ["--origin", "https://app.example.com", "--origin", "http://localhost:3000/"]
    out = rec.ok("storageProviders", "cors", "--id", sp, *origins).out
    assert "https://app.example.com, http://localhost:3000" in out
    rec.ok("storageProviders", "cors", "--id", sp, *origins)  # again: still one rule of ours
    rules = client.get_bucket_cors(Bucket=s3_config["bucket"])["CORSRules"]
    ours = [r for r in rules if "GET" in r["AllowedMethods"]]
    assert len(ours) == 1 and len(rules) == 2
    assert sorted(ours[0]["AllowedMethods"]) == ["GET", "PUT"]
    assert ours[0]["AllowedOrigins"] == ["https://app.example.com", "http://localhost:3000"]
    assert ours[0]["AllowedHeaders"] == ["*"] and ours[0]["MaxAgeSeconds"] == 3000


def test_cors_refuses_bad_origins_and_the_managed_provider(
    rec: Recorder, s3_config: dict[str, str]
) -> None:
    sp = create_s3_provider(rec, s3_config)
    fails(rec("storageProviders", "cors", "--id", sp, "--origin", "app.example.com"), "origin")
    [managed] = [p for p in rec.json("storageProviders", "list") if p["isManaged"]]
    fails(rec("storageProviders", "cors", "--id", managed["id"], "--origin", "*"))
    assert check_origin("https://a.example:8443/") == "https://a.example:8443"


# -- the managed provider in a bucket ----------------------------------------------------------


@pytest.fixture
def managed_in_bucket(
    cargohold_home: Path, s3_config: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    monkeypatch.setenv("CARGOHOLD_MANAGED_S3_BUCKET", s3_config["bucket"])
    monkeypatch.setenv("CARGOHOLD_MANAGED_S3_ENDPOINT", s3_config["endpoint"])
    monkeypatch.setenv("CARGOHOLD_MANAGED_S3_ACCESS_KEY", s3_config["accessKey"])
    monkeypatch.setenv("CARGOHOLD_MANAGED_S3_SECRET_KEY", s3_config["secretAccessKey"])
    return s3_config


def test_the_managed_provider_can_live_in_a_bucket(
    rec: Recorder,
    s3_server: Any,
    managed_in_bucket: dict[str, str],
    cargohold_home: Path,
    tmp_path: Path,
) -> None:
    round_trip(rec, tmp_path, None)
    keys = bucket_keys(s3_server.client(), managed_in_bucket["bucket"])
    assert keys and all(k.startswith("te") and k.split("/")[0] == keys[0][:9] for k in keys)
    assert any("/datasets/" in k and k.endswith("manifest.jsonl.gz") for k in keys)
    assert not (cargohold_home / "managed").exists() or not any(
        (cargohold_home / "managed").rglob("*.gz")
    )
    printed = "".join(rec.printed)
    assert managed_in_bucket["secretAccessKey"] not in printed
    assert managed_in_bucket["accessKey"] not in printed  # the operator's keys stay hidden
