"""Property-based tests of the HTTP API against its own OpenAPI schema (schemathesis).

Every operation the schema lists (the native API under /api/v1 and whatever other routes the
app has when the test runs) gets generated requests, valid and invalid, sent in-process over
ASGI with a real team's key. None may answer a server error, and every error must have the
one error shape.

The team holds a dataset with a committed version (two files), an uncommitted version and a
tag (and, when SeaweedFS is running, an S3 provider), and part of the generated path
parameters and body fields name those, so that requests reach existing items and not only
404s. A request that deletes one of them has it made again before the next request is drawn.

No generated request leaves the machine: S3 endpoints that would pass validation are pointed
at the test's SeaweedFS, or at a closed local port without it.

pytest 9.2 and schemathesis 4.32's pytest plugin (`from_fixture`) do not work together
(`Function._nodeid` is gone), so each operation runs as a subtest of one test, through
`APIOperation.as_strategy` and Hypothesis' `@given`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation, Case, GenerationMode, HookContext
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.schemas import OpenApiSchema

from cargohold.api.app import create_app
from cargohold.errors import NotFound
from cargohold.services import Services, upload
from cargohold.services.admin import AdminService
from cargohold.services.root import Platform
from cargohold.settings import Settings
from tests.server_helpers import free_port

TEAM = "fuzzers"
MAX_EXAMPLES = 20
SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,  # the same requests on every run
    database=None,
    suppress_health_check=list(HealthCheck),
)
STORAGE_ANSWERS = {
    "storage-unreachable",
    "bucket-not-found",
    "storage-access-denied",
    "storage-error",
}
"""502s that say what a bucket answered (or that it did not answer): the right answer to a
request naming a bucket, keys or endpoint that do not work (SeaweedFS answers MissingFields to
some access keys, for instance). Only on the storage providers' operations."""
S3_FIELDS = {"bucket", "accessKey", "secretAccessKey", "endpoint", "region", "signatureVersion"}


@dataclass
class Seed:
    """Items of the team that generated requests may name; made again when a request
    deleted one."""

    services: Services
    source: Path
    s3: dict[str, str] | None
    dataset: str = ""
    name: str = ""
    committed: str = ""
    open: str = ""
    tag: str = "seed-tag"
    providers: list[str] = field(default_factory=list)
    s3_provider: str = ""
    contents: list[str] = field(default_factory=list)
    generation: int = 0
    changed: bool = True
    """Set after every request that may have changed something; checked before the next
    draw that names an item."""

    def ensure(self) -> Seed:
        if not self.changed:
            return self
        s = self.services
        try:
            assert s.datasets.get(self.name).id == self.dataset
            for ref in (f"{self.dataset}:{v}" for v in self.versions()):
                s.versions.get(ref)
        except (NotFound, ValueError, AssertionError):
            self._make_dataset()
        self.providers = [s.storage_providers.managed().id]
        if self.s3 is not None:
            try:
                s.storage_providers.get(self.s3_provider)
            except (NotFound, ValueError):
                self._make_s3_provider()
            self.providers.append(self.s3_provider)
        self.changed = False
        return self

    def versions(self) -> list[str]:
        return [self.committed, self.open, self.tag]

    def _make_dataset(self) -> None:
        s = self.services
        self.generation += 1
        self.name = f"seeded-{self.generation}"
        ds = s.datasets.create(self.name, description="made by the fuzzing fixture")
        self.dataset = ds.id
        committed = s.versions.create(ds.id, "committed")
        ref = f"{ds.id}:{committed.version}"
        upload.put(s, ref, [str(self.source)])
        self.contents = [e.sha256 for e in s.objects.reader(ref).files()]
        s.versions.commit(ref)
        self.committed = committed.version
        self.open = s.versions.create(ds.id, "open").version
        s.tags.set(ref, self.tag)

    def _make_s3_provider(self) -> None:
        assert self.s3 is not None
        self.generation += 1
        c = self.s3
        made = self.services.storage_providers.create_s3(
            f"seeded-s3-{self.generation}",
            c["bucket"],
            c["accessKey"],
            c["secretAccessKey"],
            c["endpoint"],
        )
        self.s3_provider = made.id

    def refs(self) -> list[str]:
        ds = self.dataset
        return [
            ds,
            *(f"{ds}:{v}" for v in [*self.versions(), "latest"]),
            f"{self.name}:{self.open}",
            f"{TEAM}/{ds}:{self.committed}",
        ]

    def values_for(self, parameter: str, path: str = "") -> list[str]:
        """Existing items for a path parameter or body field, by its name (and the path of
        the operation: Gradient's routes name bare versions and tags after the dataset)."""
        name = parameter.lower()
        bare = "{dataset}" in path
        if "provider" in name:
            return self.providers
        if "sha" in name:
            return self.contents
        if "dataset" in name:
            return [self.dataset, self.name, f"{TEAM}/{self.dataset}"]
        if "tag" in name or (name in {"ref", "name"} and "/tags/" in path):
            return [self.tag] if bare else [f"{self.dataset}:{self.tag}", self.tag]
        if "version" in name and bare:
            return [*self.versions(), "latest"]
        if "version" in name or name in {"ref", "parent"}:
            return [*self.refs(), self.committed, self.open]
        if name == "name":  # names that are taken, or reserved
            return [self.name, self.tag, self.committed, "latest", "managed"]
        return [self.dataset, *self.refs(), *self.providers]


@pytest.fixture
def s3(request: pytest.FixtureRequest) -> dict[str, str] | None:
    """The test's SeaweedFS bucket when scripts/test started one (a failure under CI
    without it, as everywhere), else None."""
    try:
        config: dict[str, str] = request.getfixturevalue("s3_config")
    except pytest.skip.Exception:
        return None
    return config


@pytest.fixture
def seeded(
    cargohold_home: Path, tmp_path: Path, s3: dict[str, str] | None
) -> Iterator[tuple[FastAPI, str, Seed]]:
    platform = Platform(Settings.from_env())
    team, key = AdminService(platform.catalog).create_team(TEAM)
    services = platform.services(team)
    source = tmp_path / "source"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_bytes(b"alpha\n")
    (source / "sub" / "b.bin").write_bytes(bytes(range(256)))
    seed = Seed(services, source, s3).ensure()
    yield create_app(platform=platform), key, seed
    services.close()
    platform.close()


def would_be_sent(endpoint: Any) -> bool:
    """Whether the server would contact this endpoint (the validation it passes)."""
    if not isinstance(endpoint, str):
        return False
    try:
        parts = urlsplit(endpoint)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@pytest.fixture
def api_schema(seeded: tuple[FastAPI, str, Seed], s3: dict[str, str] | None) -> OpenApiSchema:
    app, _, seed = seeded
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    safe_endpoint = s3["endpoint"] if s3 else f"http://127.0.0.1:{free_port()}"

    @schema.hook("flatmap_path_parameters")
    def existing_items(ctx: HookContext, parameters: Any) -> st.SearchStrategy[Any]:
        if not isinstance(parameters, dict) or not parameters:
            return st.just(parameters)
        current = seed.ensure()
        path = ctx.operation.path if ctx.operation else ""
        known = {k: st.sampled_from(current.values_for(k, path)) for k in parameters}
        return st.one_of(st.just(parameters), st.fixed_dictionaries(known))

    @schema.hook("flatmap_body")
    def existing_references(_: Any, body: Any) -> st.SearchStrategy[Any]:
        if not isinstance(body, dict):
            return st.just(body)
        names = [k for k in body if k in {"parent", "storageProviderId", "name"}]
        if not names:
            return st.just(body)
        current = seed.ensure()
        known = {k: st.sampled_from(current.values_for(k)) for k in names}
        return st.one_of(st.just(body), st.fixed_dictionaries(known).map(lambda v: {**body, **v}))

    @schema.hook("map_body")
    def local_endpoints(_: Any, body: Any) -> Any:
        if not isinstance(body, dict) or not S3_FIELDS & set(body):
            return body
        endpoint = body.get("endpoint")
        if endpoint is None or endpoint == "" or would_be_sent(endpoint):
            return {**body, "endpoint": safe_endpoint}
        return body

    return schema


def error_shape(ctx: Any, response: Any, case: Case) -> bool | None:
    """Every error has the one shape: {"error": {code, message, hint, details}}."""
    if response.status_code < 400:
        return None
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "hint", "details"}, body
    return None


def no_server_error(ctx: Any, response: Any, case: Case) -> bool | None:
    """`not_a_server_error`, except a bucket's own refusal (or silence), which is a 502 of
    the storage family on the operations that contact a bucket."""
    code = response.headers.get("x-cargohold-error-code", [""])[0]
    if response.status_code == 502 and code in STORAGE_ANSWERS:
        assert "storageProviders" in case.operation.path, (case.operation.label, code)
        return None
    return not_a_server_error(ctx, response, case)


def fuzz(operation: APIOperation, key: str, seed: Seed) -> None:
    """MAX_EXAMPLES generated requests, valid and invalid, for one operation."""
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @given(case=cases)
    @SETTINGS
    def run(case: Case) -> None:
        response = case.call(headers={"X-API-Key": key})
        if case.method.upper() != "GET" and response.status_code < 400:
            seed.changed = True
        case.validate_response(response, checks=[no_server_error, error_shape])

    run()


def test_no_operation_answers_a_server_error(
    api_schema: OpenApiSchema, seeded: tuple[FastAPI, str, Seed], subtests: pytest.Subtests
) -> None:
    _, key, seed = seeded
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert operations
    for operation in operations:
        with subtests.test(msg=operation.label):
            fuzz(operation, key, seed)


def test_the_schema_is_valid_openapi(api_schema: OpenApiSchema) -> None:
    """The schema passes the OpenAPI meta-schema, and every operation in it loads (its
    parameters and bodies resolve), so the test above covers all of them."""
    api_schema.validate()
    raw = api_schema.raw_schema
    assert raw["openapi"].startswith("3.")
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert any(op.path.startswith("/api/v1/") for op in operations)
    assert {op.path for op in operations} == set(raw["paths"])


@pytest.mark.parametrize("kind", ["objects", "packs"])
def test_bytes_that_differ_from_their_sha256_are_the_clients_mistake(
    seeded: tuple[FastAPI, str, Seed], kind: str
) -> None:
    app, key, seed = seeded
    named = hashlib.sha256(b"expected").hexdigest()
    answer = TestClient(app, headers={"X-API-Key": key}).put(
        f"/api/v1/versions/{seed.dataset}:{seed.open}/transfer/{kind}/{named}",
        params={"size": 8},
        content=b"received",
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "content-mismatch"


def test_offsets_beyond_sql_integers_answer_an_empty_page(
    seeded: tuple[FastAPI, str, Seed],
) -> None:
    """Found by the test above: ?offset=2**63 reached the driver, which refused it (500)."""
    app, key, _ = seeded
    http = TestClient(app, headers={"X-API-Key": key})
    for offset in (2**63 - 1, 2**63, 10**30):
        answer = http.get("/api/v1/datasets", params={"offset": offset, "limit": 10})
        assert (answer.status_code, answer.json()) == (200, []), offset
