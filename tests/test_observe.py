"""Operations of the team server: /healthz, /metrics and the access log (api/observe.py).

Each test builds a tiny FastAPI app shaped like the real one (an API key required by a global
dependency, routes under an included router, a streamed body, an error with its code header),
installs the operations on it and drives it with TestClient.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from cargohold.api import observe

API_KEY = "chk_SUPERSECRETKEY123"
BEARER = "tok-BEARERSECRET456"
SIGNATURE = "deadbeefSIGNATURE789"
CHUNK = b"x" * 65536
STREAM_SIZE = 3 * len(CHUNK) + 7
DATASETS = "/api/v1/datasets/{dataset_id}"
ACCESS_FIELDS = {
    "time",
    "request_id",
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "bytes_in",
    "bytes_out",
    "team",
    "client",
    "error",
}


def require_key(request: Request) -> None:
    if request.headers.get("X-API-Key") != API_KEY:
        raise HTTPException(401, "API key required")
    request.state.team_id = "te1abcdef"


def make_app(health: Callable[[], None] | None = None) -> FastAPI:
    app = FastAPI(dependencies=[Depends(require_key)])
    router = APIRouter(prefix="/datasets")

    @router.get("/{dataset_id}")
    def dataset(dataset_id: str) -> dict[str, str]:
        return {"id": dataset_id}

    @router.put("/{dataset_id}/blob")
    async def upload(dataset_id: str, request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"size": size}

    @router.get("/{dataset_id}/missing/{name}")
    def missing(dataset_id: str, name: str) -> None:
        raise HTTPException(
            404, "no such file", headers={observe.ERROR_CODE_HEADER: "file-not-in-version"}
        )

    @router.get("/{dataset_id}/stream")
    def stream(dataset_id: str) -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield from (CHUNK, CHUNK, CHUNK, b"x" * 7)

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @router.get("/{dataset_id}/broken-stream")
    def broken_stream(dataset_id: str) -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield CHUNK
            raise OSError("storage went away")

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @router.get("/{dataset_id}/boom")
    def boom(dataset_id: str) -> None:
        raise RuntimeError("unexpected")

    app.include_router(router, prefix="/api/v1")
    observe.install(app, health=health)
    return app


def client(app: FastAPI) -> TestClient:
    return TestClient(app, headers={"X-API-Key": API_KEY})


def samples(app: FastAPI, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """The samples called ``name`` in the app's /metrics, by their labels."""
    text = TestClient(app).get("/metrics").text
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                found[frozenset(sample.labels.items())] = sample.value
    return found


def value(app: FastAPI, name: str, **labels: str) -> float:
    return samples(app, name).get(frozenset(labels.items()), 0.0)


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    records = [r for r in caplog.records if r.name == observe.ACCESS_LOGGER]
    return [json.loads(r.getMessage()) for r in records]


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger=observe.ACCESS_LOGGER)
    return caplog


def test_healthz_needs_no_key_and_calls_health() -> None:
    calls: list[int] = []
    app = make_app(health=lambda: calls.append(1))

    response = TestClient(app).get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert calls == [1]
    assert TestClient(app).get("/api/v1/datasets/ds1").status_code == 401


def test_healthz_without_health_function_is_ok() -> None:
    assert TestClient(make_app()).get("/healthz").json() == {"status": "ok"}


def test_healthz_503_names_the_failure_on_one_line_without_secrets() -> None:
    def broken() -> None:
        raise RuntimeError(
            "could not connect to postgresql://cargo:hunter2@db:5432/catalog"
            f" via https://s3/x?X-Amz-Signature={SIGNATURE} password=hunter3\n"
            "DETAIL: second line"
        )

    response = TestClient(make_app(health=broken)).get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["error"].startswith("RuntimeError: could not connect to postgresql://")
    for secret in ("hunter2", "hunter3", SIGNATURE, "\n", "DETAIL"):
        assert secret not in body["error"]


def test_metrics_label_routes_by_template_never_by_raw_path() -> None:
    app = make_app()
    with client(app) as http:
        http.get("/api/v1/datasets/ds1")
        http.get("/api/v1/datasets/ds2")
        http.get("/no/such/place")
        http.post("/api/v1/datasets/ds1")  # 405: the route matched, not the method

    text = TestClient(app).get("/metrics").text
    assert "ds1" not in text and "ds2" not in text and "such" not in text
    requests = "cargohold_http_requests_total"
    assert value(app, requests, method="GET", route=DATASETS, status="200") == 2
    assert value(app, requests, method="GET", route=observe.UNMATCHED, status="404") == 1
    assert value(app, requests, method="POST", route=DATASETS, status="405") == 1
    durations = "cargohold_http_request_duration_seconds_count"
    assert value(app, durations, method="GET", route=DATASETS) == 2


def test_metrics_are_prometheus_text_and_need_no_key() -> None:
    response = TestClient(make_app()).get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE cargohold_http_requests_total counter" in response.text
    assert "# TYPE cargohold_http_request_duration_seconds histogram" in response.text
    assert "process_resident_memory_bytes" in response.text


def test_byte_counters_equal_the_bytes_sent_and_received() -> None:
    app = make_app()
    body = b"0123456789" * 1234 + b"abc"
    with client(app) as http:
        uploaded = http.put("/api/v1/datasets/ds1/blob", content=body)
        streamed = http.get("/api/v1/datasets/ds1/stream")

    assert uploaded.json() == {"size": len(body)}
    assert len(streamed.content) == STREAM_SIZE
    put_labels = {"method": "PUT", "route": DATASETS + "/blob"}
    get_labels = {"method": "GET", "route": DATASETS + "/stream"}
    assert value(app, "cargohold_http_request_bytes_total", **put_labels) == len(body)
    assert value(app, "cargohold_http_response_bytes_total", **put_labels) == len(uploaded.content)
    assert value(app, "cargohold_http_response_bytes_total", **get_labels) == STREAM_SIZE


def test_streamed_bodies_pass_through_chunk_by_chunk() -> None:
    app = make_app()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/v1/datasets/ds1/stream",
        "raw_path": b"/api/v1/datasets/ds1/stream",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"x-api-key", API_KEY.encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("test", 80),
    }
    sent: list[dict[str, Any]] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.sleep(60)  # the client stays; cancelled when the response ends
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))

    bodies = [m["body"] for m in sent if m["type"] == "http.response.body" and m.get("body")]
    assert [len(b) for b in bodies] == [len(CHUNK)] * 3 + [7]


def test_errors_are_counted_by_their_code() -> None:
    app = make_app()
    with client(app) as http:
        http.get("/api/v1/datasets/ds1/missing/a.txt")
        http.get("/api/v1/datasets/ds1/missing/b.txt")
        http.get("/nowhere")
    TestClient(app).get("/api/v1/datasets/ds1")  # no key: 401

    errors = "cargohold_http_errors_total"
    missing = {"method": "GET", "route": DATASETS + "/missing/{name}"}
    assert value(app, errors, **missing, code="file-not-in-version") == 2
    assert value(app, errors, method="GET", route=observe.UNMATCHED, code="404") == 1
    assert value(app, errors, method="GET", route=DATASETS, code="401") == 1


def test_operations_and_plain_routes_are_labelled_by_their_path() -> None:
    app = make_app(health=lambda: None)
    http = TestClient(app)
    http.get("/healthz")
    http.get("/openapi.json")

    requests = "cargohold_http_requests_total"
    assert value(app, requests, method="GET", route="/healthz", status="200") == 1
    assert value(app, requests, method="GET", route="/openapi.json", status="200") == 1
    assert value(app, requests, method="GET", route="/metrics", status="200") >= 1


def test_an_unhandled_exception_is_counted_and_logged_as_500(
    access_log: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    with TestClient(app, headers={"X-API-Key": API_KEY}, raise_server_exceptions=False) as http:
        assert http.get("/api/v1/datasets/ds1/boom").status_code == 500

    route = DATASETS + "/boom"
    [line] = access_lines(access_log)
    assert (line["route"], line["status"], line["error"]) == (route, 500, "500")
    assert value(app, "cargohold_http_errors_total", method="GET", route=route, code="500") == 1


def test_a_body_broken_midway_counts_as_an_incomplete_response(
    access_log: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    with (
        TestClient(app, headers={"X-API-Key": API_KEY}, raise_server_exceptions=False) as http,
        contextlib.suppress(httpx.HTTPError),
    ):
        http.get("/api/v1/datasets/ds1/broken-stream")

    route = DATASETS + "/broken-stream"
    [line] = access_lines(access_log)
    assert (line["status"], line["error"], line["bytes_out"]) == (
        200,
        "incomplete-response",
        len(CHUNK),
    )
    errors = "cargohold_http_errors_total"
    assert value(app, errors, method="GET", route=route, code="incomplete-response") == 1


def test_access_log_has_one_json_line_per_request_and_no_secret(
    access_log: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    secret_headers = {
        "X-API-Key": API_KEY,
        "Authorization": f"Bearer {BEARER}",
        "Cookie": "session=COOKIESECRET",
    }
    body = b"payload-BODYSECRET"
    with TestClient(app) as http:
        http.get(
            f"/api/v1/datasets/ds1/stream?X-Amz-Signature={SIGNATURE}&X-Amz-Credential=AKIA1",
            headers=secret_headers,
        )
        http.put("/api/v1/datasets/ds1/blob", content=body, headers=secret_headers)
        http.get("/healthz")

    lines = access_lines(access_log)
    assert len(lines) == 3
    assert all(set(line) == ACCESS_FIELDS for line in lines)
    stream, upload, health = lines
    assert stream["path"] == "/api/v1/datasets/ds1/stream"
    assert stream["route"] == DATASETS + "/stream"
    assert (stream["method"], stream["status"], stream["error"]) == ("GET", 200, None)
    assert (stream["bytes_in"], stream["bytes_out"]) == (0, STREAM_SIZE)
    assert stream["team"] == "te1abcdef"
    assert stream["client"] == "testclient"
    assert stream["duration_ms"] >= 0
    assert stream["time"].endswith("+00:00")
    assert upload["bytes_in"] == len(body)
    assert health["team"] is None
    for secret in (API_KEY, BEARER, SIGNATURE, "AKIA1", "COOKIESECRET", "BODYSECRET", "?"):
        assert secret not in access_log.text


def test_request_id_is_echoed_or_made_and_logged(access_log: pytest.LogCaptureFixture) -> None:
    http = client(make_app())

    given = http.get("/api/v1/datasets/ds1", headers={"X-Request-ID": "req-42.a"})
    made = http.get("/api/v1/datasets/ds1")
    refused = http.get("/api/v1/datasets/ds1", headers={"X-Request-ID": "not a token"})
    on_error = http.get("/api/v1/datasets/ds1/missing/x", headers={"X-Request-ID": "req-43"})

    assert given.headers["X-Request-ID"] == "req-42.a"
    assert len(made.headers["X-Request-ID"]) == 32
    assert refused.headers["X-Request-ID"] not in ("", "not a token")
    assert on_error.headers["X-Request-ID"] == "req-43"
    assert given.headers.get_list("X-Request-ID") == ["req-42.a"]
    logged = [line["request_id"] for line in access_lines(access_log)]
    sent = [r.headers["X-Request-ID"] for r in (given, made, refused, on_error)]
    assert logged == sent


def test_two_apps_keep_separate_registries() -> None:
    first, second = make_app(), make_app()

    client(first).get("/api/v1/datasets/ds1")

    assert first.state.metrics_registry is not second.state.metrics_registry
    assert REGISTRY not in (first.state.metrics_registry, second.state.metrics_registry)
    labels = {"method": "GET", "route": DATASETS, "status": "200"}
    assert value(first, "cargohold_http_requests_total", **labels) == 1
    assert value(second, "cargohold_http_requests_total", **labels) == 0


def test_count_transfer_feeds_the_transfer_counter() -> None:
    app = make_app()

    observe.count_transfer(app.state, "upload", 1000)
    observe.count_transfer(app.state, "upload", 24)
    observe.count_transfer(app.state, "download", 5)

    assert value(app, "cargohold_transfer_bytes_total", direction="upload") == 1024
    assert value(app, "cargohold_transfer_bytes_total", direction="download") == 5
    with pytest.raises(ValueError):
        observe.count_transfer(app.state, "sideways", 1)
    with pytest.raises(ValueError):
        observe.count_transfer(app.state, "upload", -1)
    observe.count_transfer(FastAPI().state, "upload", 1)  # not installed: nothing to count


@pytest.fixture
def restore_access_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger(observe.ACCESS_LOGGER)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]


def test_configure_logging_prints_json_lines_to_stderr(
    restore_access_logger: logging.Logger, capsys: pytest.CaptureFixture[str]
) -> None:
    observe.configure_logging("info")
    observe.configure_logging("info")  # twice: still one handler

    client(make_app()).get("/api/v1/datasets/ds1")

    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["route"] == DATASETS
    assert restore_access_logger.propagate is False


def test_configure_logging_refuses_an_unknown_level(restore_access_logger: logging.Logger) -> None:
    with pytest.raises(observe.ConfigurationError):
        observe.configure_logging("loud")
