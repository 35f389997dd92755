"""Teams and API keys: `cargohold admin ...` and `AdminService.authenticate`, on SQLite and on
the real PostgreSQL (``catalog_url``)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command as alembic_command
from alembic.config import Config

from cargohold.catalog import Catalog
from cargohold.catalog import engine as catalog_engine
from cargohold.catalog.schema import api_keys
from cargohold.domain import ids, wire
from cargohold.errors import InvalidName, NameTaken, TeamNotFound, Unauthorized
from cargohold.services.admin import AdminService
from tests.cli_helpers import Cli, Result, run_process

KEY = re.compile(r"cgh_[A-Za-z0-9]{40}")


@pytest.fixture
def url(catalog_url: str, cargohold_home: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CARGOHOLD_DATABASE_URL", catalog_url)
    return catalog_url


@pytest.fixture
def cli(url: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


@pytest.fixture
def admin(url: str) -> Iterator[AdminService]:
    """The service as a server holds it: one catalog, open for the whole test."""
    catalog = Catalog(url)
    yield AdminService(catalog)
    catalog.close()


def create_team(cli: Cli, name: str) -> tuple[str, str]:
    """(team ID, API key) of a new team, from the human output."""
    out = cli.ok("admin", "create-team", "--name", name).out
    lines = out.splitlines()
    found = re.fullmatch(rf"Created team: {re.escape(name)} \((te[a-z0-9]{{7}})\)", lines[0])
    assert found, out
    assert lines[1].startswith("API key: ") and KEY.fullmatch(lines[1].split()[-1]), out
    assert "shown only once" in lines[2], out
    return found.group(1), lines[1].split()[-1]


def one_line_error(result: Result, *words: str) -> None:
    assert result.code == 1, result
    assert "Traceback" not in result.err
    assert result.err.startswith("Error: ")
    assert len([line for line in result.err.splitlines() if line.startswith("Error")]) == 1
    for word in words:
        assert word in result.err, result.err


# -- domain ---------------------------------------------------------------------------------


def test_key_texts_are_random_and_stored_as_their_sha256() -> None:
    texts = {ids.new_api_key_text() for _ in range(200)}
    assert len(texts) == 200
    assert all(KEY.fullmatch(t) and ids.is_api_key_text(t) for t in texts)
    text = texts.pop()
    assert ids.key_digest(text) == hashlib.sha256(text.encode()).hexdigest()
    assert ids.api_key_prefix(text) == text[:12]
    assert re.fullmatch(r"key[a-z0-9]{12}", ids.new_api_key_id())


def test_the_wire_shape_of_a_key_has_neither_its_text_nor_its_digest(
    admin: AdminService,
) -> None:
    team, _ = admin.create_team("acme")
    key, text = admin.create_key(team, "ci")
    shape = wire.api_key(key)
    assert set(shape) == {"id", "name", "prefix", "dtCreated", "dtRevoked", "isRevoked"}
    assert shape["prefix"] == text[:12] and shape["isRevoked"] is False
    assert text not in str(shape) and ids.key_digest(text) not in str(shape)


# -- create-team ----------------------------------------------------------------------------


def test_create_team_prints_its_id_and_a_key_that_authenticates(
    cli: Cli, admin: AdminService
) -> None:
    team_id, key = create_team(cli, "acme")
    team = admin.authenticate(key)
    assert (team.id, team.name) == (team_id, "acme")
    assert admin.catalog.managed_provider(team_id) is not None


def test_create_team_json(cli: Cli, admin: AdminService) -> None:
    body = cli.json("admin", "create-team", "--name", "acme")
    assert set(body) == {"team", "apiKey"}
    assert body["team"]["name"] == "acme" and ids.is_team_id(body["team"]["id"])
    assert KEY.fullmatch(body["apiKey"])
    assert admin.authenticate(body["apiKey"]).id == body["team"]["id"]
    listed = cli.json("admin", "teams", "list")
    assert [t["name"] for t in listed] == ["acme"]
    assert "acme" in cli.ok("admin", "teams", "list").out


def test_create_team_as_a_process(url: str) -> None:
    result = run_process("admin", "create-team", "--name", "acme", "--json")
    assert result.code == 0, result.err
    body = result.json()
    catalog = Catalog(url)
    try:
        assert AdminService(catalog).authenticate(body["apiKey"]).id == body["team"]["id"]
    finally:
        catalog.close()


def test_a_duplicate_team_name_fails_with_one_line(cli: Cli) -> None:
    create_team(cli, "acme")
    result = cli("admin", "create-team", "--name", "acme")
    one_line_error(result, "acme", "already exists")
    assert result.err.count("\n") == 1
    assert result.out == ""
    assert len(cli.json("admin", "teams", "list")) == 1


@pytest.mark.parametrize("name", ["public", "gradient", "te1234567", "a b", "", "-x"])
def test_invalid_team_names_are_refused(admin: AdminService, name: str) -> None:
    with pytest.raises(InvalidName):
        admin.create_team(name)
    assert admin.list_teams() == []


def test_the_service_refuses_a_duplicate_name(admin: AdminService) -> None:
    admin.create_team("acme")
    with pytest.raises(NameTaken):
        admin.create_team("acme")


# -- keys -----------------------------------------------------------------------------------


def test_keys_list_shows_prefixes_never_keys_or_digests(cli: Cli) -> None:
    team_id, first = create_team(cli, "acme")
    out = cli.ok("admin", "keys", "create", "--team", "acme", "--name", "ci").out
    second = KEY.search(out)
    assert second, out
    assert "shown only once" in out
    for text in (first, second.group()):
        for listing in (
            cli.ok("admin", "keys", "list", "--team", "acme").out,
            cli.ok("admin", "keys", "list", "--team", team_id, "--json").out,
        ):
            assert text[:12] in listing
            assert text not in listing and text[12:] not in listing
            assert ids.key_digest(text) not in listing
    listed = cli.json("admin", "keys", "list", "--team", "acme")
    assert [k["name"] for k in listed] == ["first key", "ci"]
    assert all(
        set(k) == {"id", "name", "prefix", "dtCreated", "dtRevoked", "isRevoked"} for k in listed
    )


def test_keys_create_json(cli: Cli, admin: AdminService) -> None:
    team_id, _ = create_team(cli, "acme")
    body = cli.json("admin", "keys", "create", "--team", team_id)
    assert body["team"]["id"] == team_id
    assert body["key"]["prefix"] == body["apiKey"][:12] and body["key"]["name"] is None
    assert admin.authenticate(body["apiKey"]).id == team_id


def test_only_the_digest_is_stored(url: str, cli: Cli) -> None:
    _, key = create_team(cli, "acme")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            [row] = conn.execute(sa.select(api_keys)).all()
    finally:
        engine.dispose()
    assert row.digest == ids.key_digest(key) and row.prefix == key[:12]
    assert key not in [str(v) for v in row]


@pytest.mark.parametrize("by", ["id", "prefix"])
def test_revocation_takes_effect_at_once(cli: Cli, admin: AdminService, by: str) -> None:
    _, key = create_team(cli, "acme")
    kept = cli.json("admin", "keys", "create", "--team", "acme")["apiKey"]
    assert admin.authenticate(key).name == "acme"  # the "server" has used the key
    [listed] = [
        k for k in cli.json("admin", "keys", "list", "--team", "acme") if k["prefix"] == key[:12]
    ]
    out = cli.ok("admin", "keys", "revoke", "--team", "acme", "--key", listed[by]).out
    assert listed["id"] in out and key not in out
    with pytest.raises(Unauthorized) as revoked:
        admin.authenticate(key)
    with pytest.raises(Unauthorized) as unknown:
        admin.authenticate(ids.new_api_key_text())
    assert str(revoked.value) == str(unknown.value)
    assert key not in str(revoked.value) and key[:12] not in str(revoked.value)
    assert admin.authenticate(kept).name == "acme"
    [after] = [
        k for k in cli.json("admin", "keys", "list", "--team", "acme") if k["id"] == listed["id"]
    ]
    assert after["isRevoked"] is True and after["dtRevoked"]
    again = cli.json("admin", "keys", "revoke", "--team", "acme", "--key", listed["id"])
    assert again["dtRevoked"] == after["dtRevoked"]


@pytest.mark.parametrize("sent", [None, "", "   ", "nonsense", "cgh_" + "a" * 40, "Bearer x"])
def test_missing_or_unknown_keys_are_unauthorized(admin: AdminService, sent: str | None) -> None:
    admin.create_team("acme")
    with pytest.raises(Unauthorized) as caught:
        admin.authenticate(sent)
    assert caught.value.status == 401
    if sent and sent.strip():
        assert sent not in str(caught.value)


def test_a_key_of_one_team_never_yields_another(cli: Cli, admin: AdminService) -> None:
    a_id, a_key = create_team(cli, "team-a")
    b_id, b_key = create_team(cli, "team-b")
    assert admin.authenticate(a_key).id == a_id
    assert admin.authenticate(b_key).id == b_id
    assert [k.prefix for k in admin.list_keys(b_id)] == [b_key[:12]]
    # team B cannot revoke (or even see) team A's key
    result = cli("admin", "keys", "revoke", "--team", "team-b", "--key", a_key[:12])
    one_line_error(result, "API key not found", a_key[:12])
    assert admin.authenticate(a_key).id == a_id


def test_unknown_team_or_key_is_a_clear_error(cli: Cli) -> None:
    create_team(cli, "acme")
    one_line_error(cli("admin", "keys", "list", "--team", "nobody"), "Team not found: nobody")
    one_line_error(
        cli("admin", "keys", "create", "--team", "te0000000"), "Team not found: te0000000"
    )
    one_line_error(
        cli("admin", "keys", "revoke", "--team", "acme", "--key", "key000000000000"),
        "API key not found: key000000000000",
    )
    body = cli("admin", "keys", "list", "--team", "nobody", "--json")
    assert body.code == 1 and body.json()["error"]["code"] == "team-not-found"


def test_team_lookup_by_id_or_name(admin: AdminService) -> None:
    team, _ = admin.create_team("acme")
    assert admin.team("acme") == team == admin.team(team.id)
    with pytest.raises(TeamNotFound):
        admin.team("nobody")


# -- migration ------------------------------------------------------------------------------


def test_migration_0004_applies_on_a_0003_catalog(url: str) -> None:
    engine = catalog_engine.make_engine(url)
    try:
        config = Config()
        config.set_main_option("script_location", str(catalog_engine.MIGRATIONS))
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
            config.attributes["connection"] = conn
            alembic_command.upgrade(config, "0003")
            conn.commit()
        assert catalog_engine.current_revision(engine) == "0003"
        with engine.connect() as conn, conn.begin():
            assert not sa.inspect(conn).has_table("api_keys")
            conn.execute(
                sa.text(
                    "INSERT INTO teams (id, name, is_default, dt_created)"
                    " VALUES ('te0000001', 'old', true, CURRENT_TIMESTAMP)"
                )
            )
    finally:
        engine.dispose()
    catalog = Catalog(url)
    try:
        assert catalog_engine.current_revision(catalog.engine) == catalog_engine.HEAD
        admin = AdminService(catalog)
        team = admin.team("old")
        _, text = admin.create_key(team)
        assert admin.authenticate(text) == team
    finally:
        catalog.close()
