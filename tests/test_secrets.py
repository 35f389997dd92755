"""Team secrets end to end: the service contract (in-process, over ASGI, against uvicorn), two
teams that never see each other's, values encrypted at rest (SQLite and PostgreSQL), the HTTP
routes' own checks, and the CLI both ways, whose output never holds a value."""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from sqlalchemy import select

from cargohold import errors
from cargohold.catalog.schema import secrets as secrets_table
from cargohold.services import Services
from cargohold.services.root import Platform
from cargohold.services.secrets import MAX_VALUE
from cargohold.settings import Settings
from tests.cli_helpers import Cli, Result
from tests.server_helpers import TestServer

BAD_NAMES = ["", "1abc", "_x", "-x", "a b", "a/b", "a.b", "a:b", "é", "a\n", "x" * 101, "\ud800"]
JSON_HEADERS = {"Content-Type": "application/json"}
BAD_VALUES = ["", "a\0b", "x" * (MAX_VALUE + 1), "é" * (MAX_VALUE // 2 + 1), "ok\ud800"]


# -- the contract -----------------------------------------------------------------------------


def test_create_list_reveal_update_delete(svc: Services) -> None:
    s = svc.secrets
    assert s.list() == []
    made = s.create("HF_TOKEN", "hf_abc")
    assert made.name == "HF_TOKEN" and made.dt_created == made.dt_modified
    s.create("db-pass", "pä55 wörd\nsecond line\n")
    s.create("big", "x" * MAX_VALUE)
    assert [x.name for x in s.list()] == ["HF_TOKEN", "big", "db-pass"]
    assert s.reveal(["db-pass", "HF_TOKEN", "db-pass"]) == {
        "db-pass": "pä55 wörd\nsecond line\n",
        "HF_TOKEN": "hf_abc",
    }
    assert s.reveal(["big"]) == {"big": "x" * MAX_VALUE}
    assert s.reveal([]) == {}
    updated = s.update("HF_TOKEN", "hf_new")
    assert updated.dt_created == made.dt_created and updated.dt_modified > made.dt_modified
    assert s.reveal(["HF_TOKEN"]) == {"HF_TOKEN": "hf_new"}
    assert s.delete("HF_TOKEN") == updated
    assert [x.name for x in s.list()] == ["big", "db-pass"]
    with pytest.raises(errors.SecretNotFound):
        s.reveal(["HF_TOKEN"])


def test_a_taken_name_is_refused_and_the_value_kept(svc: Services) -> None:
    svc.secrets.create("TOKEN", "first")
    with pytest.raises(errors.NameTaken) as caught:
        svc.secrets.create("TOKEN", "second")
    assert type(caught.value) is errors.NameTaken
    assert "cargohold secrets update --name TOKEN" in caught.value.hint
    assert "second" not in str(caught.value.to_json())
    assert svc.secrets.reveal(["TOKEN"]) == {"TOKEN": "first"}


def test_missing_secrets_are_named(svc: Services) -> None:
    svc.secrets.create("A", "a")
    svc.secrets.create("Token", "t")
    with pytest.raises(errors.SecretNotFound) as caught:
        svc.secrets.reveal(["A", "nope", "token", "nope"])
    assert type(caught.value) is errors.SecretNotFound
    assert caught.value.message == "Secret not found: nope (and token)"  # names are case-sensitive
    assert caught.value.details == {"secret": "nope", "secrets": ["nope", "token"]}
    assert "cargohold secrets list" in caught.value.hint
    for call in (lambda: svc.secrets.delete("nope"), lambda: svc.secrets.update("nope", "v")):
        with pytest.raises(errors.SecretNotFound) as one:
            call()
        assert one.value.message == "Secret not found: nope"
        assert one.value.details["secret"] == "nope"
    assert [x.name for x in svc.secrets.list()] == ["A", "Token"]


def test_names_are_checked(svc: Services) -> None:
    ok = "x" * 100
    assert svc.secrets.create(ok, "v").name == ok
    assert svc.secrets.create("a-B_9", "v").name == "a-B_9"
    for name in BAD_NAMES:
        with pytest.raises(errors.InvalidName) as caught:
            svc.secrets.create(name, "v")
        assert "letters, digits" in caught.value.hint, name
        # a name no secret can have is simply not found where secrets are looked up
        for call in (
            partial(svc.secrets.reveal, [name]),
            partial(svc.secrets.delete, name),
            partial(svc.secrets.update, name, "v"),
        ):
            with pytest.raises(errors.SecretNotFound):
                call()
    assert [x.name for x in svc.secrets.list()] == ["a-B_9", ok]


def test_values_are_checked_and_never_shown(svc: Services) -> None:
    svc.secrets.create("KEPT", "kept")
    for value in BAD_VALUES:
        for call in (
            partial(svc.secrets.create, "NEW", value),
            partial(svc.secrets.update, "KEPT", value),
        ):
            with pytest.raises(errors.InvalidInput) as caught:
                call()
            assert type(caught.value) is errors.InvalidInput
            shown = json.dumps(caught.value.to_json())
            assert "secret NEW" in shown or "secret KEPT" in shown
            assert not value or value[:3] not in caught.value.message
    assert [x.name for x in svc.secrets.list()] == ["KEPT"]
    assert svc.secrets.reveal(["KEPT"]) == {"KEPT": "kept"}


# -- teams ------------------------------------------------------------------------------------


@pytest.fixture(params=["in-process", "asgi", "uvicorn"])
def two_teams(
    request: pytest.FixtureRequest,
    cargohold_home: Path,
    catalog_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Services, Services]]:
    """Services of two teams of one server, on SQLite and on PostgreSQL, three ways."""
    monkeypatch.setenv("CARGOHOLD_DATABASE_URL", catalog_url)
    mode = request.param
    server = TestServer(Settings.from_env(), mode="asgi" if mode == "in-process" else mode)
    try:
        keys = server.key("alpha"), server.key("beta")
        if mode == "in-process":
            yield (
                server.platform.services(server.admin.team("alpha")),
                server.platform.services(server.admin.team("beta")),
            )
        else:
            yield server.services(keys[0]), server.services(keys[1])
    finally:
        server.close()


def test_teams_never_see_each_others_secrets(two_teams: tuple[Services, Services]) -> None:
    a, b = two_teams
    a.secrets.create("TOKEN", "alpha-value")
    a.secrets.create("ONLY_A", "alpha-only")
    assert b.secrets.list() == []
    for call in (
        lambda: b.secrets.reveal(["TOKEN"]),
        lambda: b.secrets.reveal(["ONLY_A"]),
        lambda: b.secrets.delete("ONLY_A"),
        lambda: b.secrets.update("ONLY_A", "beta-value"),
    ):
        with pytest.raises(errors.SecretNotFound):
            call()
    b.secrets.create("TOKEN", "beta-value")  # names are per team
    assert b.secrets.reveal(["TOKEN"]) == {"TOKEN": "beta-value"}
    assert [x.name for x in b.secrets.list()] == ["TOKEN"]
    b.secrets.delete("TOKEN")
    assert a.secrets.reveal(["TOKEN", "ONLY_A"]) == {"TOKEN": "alpha-value", "ONLY_A": "alpha-only"}
    assert [x.name for x in a.secrets.list()] == ["ONLY_A", "TOKEN"]


# -- at rest ----------------------------------------------------------------------------------


def test_values_rest_encrypted_with_the_installation_key(
    cargohold_home: Path, catalog_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARGOHOLD_DATABASE_URL", catalog_url)
    settings = Settings.from_env()
    platform = Platform(settings)
    team = platform.catalog.add_team("teabcdefg", "alpha")
    try:
        secrets = platform.services(team).secrets
        secrets.create("TOKEN", "plain-text-value")
        secrets.create("SAME", "plain-text-value")
        with platform.catalog.engine.connect() as conn:
            stored = {r.name: r.value for r in conn.execute(select(secrets_table))}
        assert set(stored) == {"TOKEN", "SAME"}
        assert all(v.startswith("enc:v1:") and "plain-text" not in v for v in stored.values())
        assert stored["TOKEN"] != stored["SAME"]  # a fresh IV each time
        assert (cargohold_home / "secret.key").is_file()  # the key provider secrets use
        box = platform.stores.secrets
        assert box.decrypt_value(stored["TOKEN"], what="t", again="a") == "plain-text-value"
    finally:
        platform.close()

    other = Platform(dataclasses.replace(settings, secret_key="another key"))
    try:
        with pytest.raises(errors.ConfigurationError) as caught:
            other.services(team).secrets.reveal(["TOKEN"])
        assert "cannot decrypt the secret TOKEN" in caught.value.message
        assert "cargohold secrets update --name TOKEN --value -" in caught.value.hint
        assert "plain-text" not in json.dumps(caught.value.to_json())
    finally:
        other.close()


# -- the HTTP routes check for themselves ------------------------------------------------------


def test_the_routes_check_what_they_are_sent_and_list_no_value(cargohold_home: Path) -> None:
    server = TestServer(Settings.from_env())
    try:
        http = server.http(server.key("alpha"))
        made = http.post("/api/v1/secrets", json={"name": "TOKEN", "value": "v4lue"})
        assert made.status_code == 201
        assert set(made.json()) == {"name", "dtCreated", "dtModified"}
        refused = [
            (http.post("/api/v1/secrets", json={"name": "1x", "value": "v"}), "invalid-name"),
            (http.post("/api/v1/secrets", json={"name": "X", "value": ""}), "invalid-input"),
            (
                http.post("/api/v1/secrets", json={"name": "X", "value": "v", "y": 1}),
                "invalid-input",
            ),
            (http.patch("/api/v1/secrets/TOKEN", json={"value": "a\0"}), "invalid-input"),
            (http.post("/api/v1/secrets", json={"name": "TOKEN", "value": "w"}), "name-taken"),
            (http.post("/api/v1/secrets/reveal", json={"names": ["NO"]}), "secret-not-found"),
            (http.delete("/api/v1/secrets/a/b"), "secret-not-found"),
        ]
        for answer, code in refused:
            assert answer.json()["error"]["code"] == code, answer.text
        surrogate = b'{"names": ["\\ud800"]}'  # JSON can say it; the answer must still encode
        odd = http.post("/api/v1/secrets/reveal", content=surrogate, headers=JSON_HEADERS)
        assert odd.status_code == 404 and odd.json()["error"]["details"]["secret"] == "\\ud800"
        listed = http.get("/api/v1/secrets")
        assert [x["name"] for x in listed.json()] == ["TOKEN"] and "v4lue" not in listed.text
        changed = http.patch("/api/v1/secrets/TOKEN", json={"value": "n3w"})
        assert changed.status_code == 200 and "n3w" not in changed.text
        revealed = http.post("/api/v1/secrets/reveal", json={"names": ["TOKEN"]})
        assert revealed.json() == {"TOKEN": "n3w"}
        gone = http.delete("/api/v1/secrets/TOKEN")
        assert gone.json()["name"] == "TOKEN" and "n3w" not in gone.text
    finally:
        server.close()


# -- the CLI ----------------------------------------------------------------------------------


def stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def revealed(names: list[str]) -> dict[str, str]:
    """What the workflow runner would get, through the services the CLI uses (local or the
    server)."""
    from cargohold.cli.base import services

    try:
        return services().secrets.reveal(names)
    finally:
        services().close()
        services.cache_clear()


def test_cli_creates_lists_updates_and_deletes_without_printing_values(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    values = ["from-argv-1", "from-stdin-2", "crlf-3", "updated-4", "trailing-5"]
    results: list[Result] = []

    def run(*args: str) -> Result:
        results.append(cli.ok(*args))
        return results[-1]

    assert run("secrets", "list").out.strip() == "No data found"
    assert run("secrets", "create", "--name", "HF_TOKEN", "--value", values[0]).out == (
        "Created secret: HF_TOKEN\n"
    )
    stdin(monkeypatch, b"from-stdin-2\n")
    made = json.loads(run("secrets", "create", "--name", "db-pass", "--value", "-", "--json").out)
    assert set(made) == {"name", "dtCreated", "dtModified"} and made["name"] == "db-pass"
    stdin(monkeypatch, b"crlf-3\r\n")
    run("secrets", "create", "--name", "crlf", "--value", "-")
    stdin(monkeypatch, b"trailing-5\n\n")
    run("secrets", "create", "--name", "two-newlines", "--value", "-")
    assert revealed(["HF_TOKEN", "db-pass", "crlf", "two-newlines"]) == {
        "HF_TOKEN": "from-argv-1",
        "db-pass": "from-stdin-2",
        "crlf": "crlf-3",
        "two-newlines": "trailing-5\n",  # only one newline is dropped
    }

    table = run("secrets", "list").out
    assert [c.strip() for c in table.splitlines()[1].split("|")[1:-1]] == ["Name", "Created"]
    assert [line.split("|")[1].strip() for line in table.splitlines()[3:-1]] == [
        "HF_TOKEN",
        "crlf",
        "db-pass",
        "two-newlines",
    ]
    listed = json.loads(run("secrets", "list", "--json").out)
    assert [x["name"] for x in listed] == ["HF_TOKEN", "crlf", "db-pass", "two-newlines"]

    stdin(monkeypatch, b"updated-4\n")
    assert run("secrets", "update", "--name", "HF_TOKEN", "--value", "-").out == (
        "Updated secret: HF_TOKEN\n"
    )
    assert revealed(["HF_TOKEN"]) == {"HF_TOKEN": "updated-4"}
    assert run("secrets", "delete", "--name", "crlf").out == "Deleted secret: crlf\n"
    gone = json.loads(run("secrets", "delete", "--name", "db-pass", "--json").out)
    assert gone["name"] == "db-pass"
    assert [x["name"] for x in json.loads(run("secrets", "list", "--json").out)] == [
        "HF_TOKEN",
        "two-newlines",
    ]

    options = tmp_path / "options.yaml"
    run(
        "secrets",
        "create",
        "--name",
        "X",
        "--value",
        "optfile-6",
        "--createOptionsFile",
        str(options),
    )
    assert "optfile-6" not in options.read_text() and "name: X" in options.read_text()
    values.append("optfile-6")
    for result in results:
        for value in values:
            assert value not in result.out + result.err


def test_cli_errors_are_one_line_and_hold_no_value(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("secrets", "create", "--name", "TOKEN", "--value", "first-value")
    cases = [
        (("secrets", "create", "--name", "TOKEN", "--value", "second-value"), "already exists"),
        (("secrets", "create", "--name", "1bad", "--value", "third-value"), "Invalid secret name"),
        (("secrets", "create", "--name", "EMPTY", "--value", ""), "is empty"),
        (("secrets", "update", "--name", "nope", "--value", "fourth-value"), "not found: nope"),
        (("secrets", "delete", "--name", "nope"), "Secret not found: nope"),
    ]
    for args, message in cases:
        result = cli(*args)
        assert result.code == 1, result
        assert message in result.err and "Traceback" not in result.err
        assert result.err.splitlines()[1].startswith("Hint: ")
        assert "value" not in result.out
        assert not any(v in result.err for v in ("second-value", "third-value", "fourth-value"))
    as_json = cli("secrets", "create", "--name", "TOKEN", "--value", "fifth-value", "--json")
    assert as_json.code == 1 and as_json.json()["error"]["code"] == "name-taken"
    assert "fifth-value" not in as_json.out + as_json.err

    stdin(monkeypatch, b"\xff\xfe binary\n")
    binary = cli("secrets", "create", "--name", "BIN", "--value", "-")
    assert binary.code == 1 and "not UTF-8 text" in binary.err and "base64" in binary.err
    assert [x["name"] for x in cli.json("secrets", "list")] == ["TOKEN"]
    assert revealed(["TOKEN"]) == {"TOKEN": "first-value"}


def test_cli_help_says_how_to_keep_a_value_out_of_the_history(cli: Cli) -> None:
    help_text = " ".join(cli.ok("secrets", "create", "--help").out.split())
    assert "'-' reads it from standard input" in help_text
    assert "out of the shell's history" in help_text
