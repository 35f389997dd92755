"""The team server's rules: keys, teams that never see each other, the error shape."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cargohold.settings import Settings
from tests.cli_helpers import Cli, run_process
from tests.server_helpers import TestServer, free_port, uvicorn_serving


@pytest.fixture
def server(cargohold_home: Path) -> Iterator[TestServer]:
    server = TestServer(Settings.from_env())
    yield server
    server.close()


def test_health_needs_no_key_and_everything_else_does(server: TestServer) -> None:
    http = server.http()
    assert http.get("/healthz").json() == {"status": "ok"}
    for headers in ({}, {"X-API-Key": "cgh_wrong"}, {"Authorization": "Bearer cgh_wrong"}):
        answer = http.get("/api/v1/datasets", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "unauthorized"
        assert "cgh_wrong" not in answer.text


def test_a_bearer_token_works_as_the_key(server: TestServer) -> None:
    key = server.key("alpha")
    answer = server.http().get("/api/v1/team", headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code == 200 and answer.json()["name"] == "alpha"


def test_a_revoked_key_stops_at_once(server: TestServer) -> None:
    key = server.key("alpha")
    http = server.http(key)
    assert http.get("/api/v1/datasets").status_code == 200
    [listed] = server.admin.list_keys("alpha")
    server.admin.revoke_key("alpha", listed.prefix)
    assert http.get("/api/v1/datasets").status_code == 401


def test_errors_have_one_shape(server: TestServer) -> None:
    http = server.http(server.key("alpha"))
    answer = http.get("/api/v1/datasets/nope")
    assert answer.status_code == 404
    body = answer.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "hint", "details"}
    assert body["error"]["code"] == "dataset-not-found"
    bad = http.post("/api/v1/datasets", json={"name": 3, "bogus": 1})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid-input"
    assert http.get("/api/v1/nothing/here").status_code == 404


def _team_a(server: TestServer) -> dict[str, Any]:
    """Team A's dataset, committed and uncommitted versions and tag, through the API."""
    http = server.http(server.key("team-a"))
    ds = http.post("/api/v1/datasets", json={"name": "secret-data"}).json()
    v1 = http.post(f"/api/v1/datasets/{ds['id']}/versions", json={"message": "m"}).json()
    http.post(f"/api/v1/versions/{v1['id']}/commit").raise_for_status()
    v2 = http.post(f"/api/v1/datasets/{ds['id']}/versions", json={}).json()
    http.post(f"/api/v1/versions/{v1['id']}/tags", json={"name": "prod"}).raise_for_status()
    provider = http.get("/api/v1/storageProviders/managed").json()
    return {"ds": ds["id"], "v1": v1["id"], "v2": v2["id"], "sp": provider["id"]}


def test_another_teams_items_answer_404_on_every_route(server: TestServer) -> None:
    a = _team_a(server)
    ds, v1, v2, sp = a["ds"], a["v1"], a["v2"], a["sp"]
    b = server.http(server.key("team-b"))
    calls: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/api/v1/datasets/{ds}", None),
        ("GET", "/api/v1/datasets/secret-data", None),
        ("GET", f"/api/v1/datasets/team-a/{ds}", None),
        ("PATCH", f"/api/v1/datasets/{ds}", {"description": "mine"}),
        ("DELETE", f"/api/v1/datasets/{ds}", None),
        ("GET", f"/api/v1/datasets/{ds}/versions", None),
        ("POST", f"/api/v1/datasets/{ds}/versions", {"message": "x"}),
        ("POST", "/api/v1/datasets/mine/versions", {"parent": v1}),
        ("GET", f"/api/v1/datasets/{ds}/tags", None),
        ("GET", f"/api/v1/versions/{v1}", None),
        ("GET", f"/api/v1/versions/{ds}:prod", None),
        ("GET", f"/api/v1/versions/{ds}:latest", None),
        ("PATCH", f"/api/v1/versions/{v2}", {"message": "x"}),
        ("POST", f"/api/v1/versions/{v2}/commit", None),
        ("DELETE", f"/api/v1/versions/{v2}", None),
        ("POST", f"/api/v1/versions/{v1}/tags", {"name": "mine"}),
        ("DELETE", f"/api/v1/tags/{ds}:prod", None),
        ("GET", f"/api/v1/versions/{v1}/files", None),
        ("POST", f"/api/v1/versions/{v2}/files/delete", {"paths": ["/"]}),
        ("GET", f"/api/v1/storageProviders/{sp}", None),
        ("DELETE", f"/api/v1/storageProviders/{sp}", None),
        ("PATCH", f"/api/v1/storageProviders/{sp}/s3", {"name": "mine"}),
        ("POST", f"/api/v1/storageProviders/{sp}/cors", {"origins": ["https://x.example"]}),
    ]
    b.post("/api/v1/datasets", json={"name": "mine"}).raise_for_status()
    for method, path, body in calls:
        answer = b.request(method, path, json=body)
        assert answer.status_code == 404, (method, path, answer.text)
        assert "secret-data" not in answer.text or "not found" in answer.text.lower()
    assert [d["name"] for d in b.get("/api/v1/datasets").json()] == ["mine"]
    assert sp not in b.get("/api/v1/storageProviders").text
    usage = b.get("/api/v1/usage").json()
    assert all(p["storageProviderId"] != sp for p in usage["providers"])
    owner = server.http(server.key("team-a-again"))  # a third team sees nothing either
    assert owner.get("/api/v1/datasets").json() == []
    # and nothing of A's changed
    a_http = server.http(server.admin.create_key("team-a")[1])
    assert a_http.get(f"/api/v1/datasets/{ds}").json()["description"] is None
    assert a_http.get(f"/api/v1/versions/{v2}").status_code == 200
    assert a_http.get(f"/api/v1/versions/{ds}:prod").json()["id"] == v1


def test_openapi_documents_the_native_api(server: TestServer) -> None:
    schema = server.http().get("/openapi.json").json()
    paths = schema["paths"]
    assert "/api/v1/datasets" in paths and "/api/v1/versions/{ref}/commit" in paths
    assert "X-API-Key" in str(schema["components"]["securitySchemes"])


def test_the_cli_says_what_is_wrong_with_the_server_or_key(
    server: TestServer, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli = Cli(capsys)
    port = free_port()
    down = cli("datasets", "list", "--server", f"http://127.0.0.1:{port}", "--apiKey", "cgh_x")
    assert down.code == 1 and "Traceback" not in down.err
    assert f"Cannot reach the cargohold server at http://127.0.0.1:{port}" in down.err
    assert "cgh_x" not in down.err + down.out
    with uvicorn_serving(server.app) as url:
        monkeypatch.setenv("CARGOHOLD_SERVER", url)
        no_key = cli("datasets", "list")
        assert no_key.code == 1 and "An API key is required" in no_key.err
        assert "cargohold apiKey" in no_key.err
        wrong = cli("datasets", "list", "--apiKey", "cgh_wrong")
        assert wrong.code == 1 and "cgh_wrong" not in wrong.err
        key = server.key("alpha")
        saved = cli("apiKey", key)
        assert saved.code == 0 and key not in saved.out
        assert cli("datasets", "list", "--json").json() == []
        assert cli("logout").code == 0
        assert cli("datasets", "list").code == 1


def test_two_teams_by_cli_see_and_touch_nothing_of_each_other(
    server: TestServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    cli = Cli(capsys)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret.txt").write_bytes(b"team a only\n")
    with uvicorn_serving(server.app) as url:
        monkeypatch.setenv("CARGOHOLD_SERVER", url)
        a = ["--apiKey", server.key("team-a")]
        b = ["--apiKey", server.key("team-b")]
        ds = cli.json("datasets", "create", "--name", "private", *a)["id"]
        made = cli.json(
            "datasets",
            "versions",
            "create",
            "--id",
            ds,
            "--source-path",
            f"{tmp_path / 'data'}/",
            "--json",
            *a,
        )
        ref = made["id"]
        cli.ok("datasets", "tags", "set", "--id", ref, "--name", "prod", *a)
        assert cli.json("datasets", "list", *b) == []
        for args in (
            ["datasets", "details", "--id", ds],
            ["datasets", "details", "--id", "private"],
            ["datasets", "versions", "list", "--id", ds],
            ["datasets", "versions", "details", "--id", ref],
            ["datasets", "files", "list", "--id", f"{ds}:prod"],
            ["datasets", "files", "get", "--id", ref, "--target-path", str(tmp_path / "b")],
            ["datasets", "versions", "create", "--id", ds],
            ["datasets", "tags", "delete", "--id", f"{ds}:prod"],
            ["datasets", "delete", "--id", ds],
        ):
            refused = cli(*args, *b)
            assert refused.code == 1, args
            assert "not found" in refused.err.lower() and "Traceback" not in refused.err
            assert "team a only" not in refused.out + refused.err
        assert not (tmp_path / "b").exists()
        listed = cli.ok("datasets", "files", "list", "--id", f"{ds}:prod", *a).out
        assert "secret.txt" in listed


def test_a_busy_port_is_one_clear_line(cargohold_home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_process("server", "--port", str(port))
    assert result.code == 1 and "Traceback" not in result.err
    assert f"Cannot listen on 127.0.0.1:{port}" in result.err and "--port" in result.err


def test_a_server_url_that_is_not_one_is_refused_before_it_is_saved_or_used(
    cargohold_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(capsys)
    for args in (
        ["apiKey", "cgh_x", "--server", "notaurl"],
        ["datasets", "list", "--server", "ftp://x"],
    ):
        refused = cli(*args)
        assert refused.code == 1 and "Invalid server URL" in refused.err
        assert "http://HOST:PORT" in refused.err
    assert not (cargohold_home / "config.json").exists()
