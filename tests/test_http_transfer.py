"""The data path of the team server (api/transfer.py, client/transfer.py).

Run over ASGI (FastAPI's TestClient) against the managed directory, whose bytes stream
through the server, and against a real SeaweedFS bucket (``s3_config``), whose bytes go
straight between client and bucket by presigned URLs: round trips through `put`, `commit`
and `get`, deduplication, resumed multipart uploads, what a presigned URL allows and refuses,
teams kept apart (404) and committed versions kept frozen (409) on every route.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from cargohold import errors
from cargohold.api.app import create_app
from cargohold.client import bucket as bucket_module
from cargohold.client.services import connect
from cargohold.client.transfer import Bucket, HttpObjects
from cargohold.domain.packs import PackMember, Span
from cargohold.services import Services
from cargohold.services.admin import AdminService
from cargohold.services.download import get
from cargohold.services.root import Platform
from cargohold.services.upload import put
from cargohold.settings import Settings
from tests.cli_helpers import write_tree
from tests.server_helpers import uvicorn_serving

MiB = 1024 * 1024
BIG = 12 * MiB  # three parts of 5 MiB
PREFIX = "/api/v1/versions"


# -- a server, its teams and their clients --------------------------------------------------


class Counting(httpx.HTTPTransport):
    """The transport of direct (bucket) requests: counts PUT bodies, checks that no API key
    travels, and can fail every PUT after the first `fail_after` ones."""

    def __init__(self, fail_after: int | None = None) -> None:
        super().__init__()
        self.fail_after = fail_after
        self.puts: list[int] = []
        self.gets = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert "x-api-key" not in request.headers, "the API key went to the bucket"
        assert "authorization" not in request.headers
        if request.method == "PUT":
            if self.fail_after is not None and len(self.puts) >= self.fail_after:
                raise httpx.ConnectError("injected: the network is down")
            self.puts.append(len(request.content))
        else:
            self.gets += 1
        return super().handle_request(request)


@dataclasses.dataclass
class Team:
    key: str
    services: Services
    http: httpx.Client  # raw requests with the team's key

    @property
    def objects(self) -> HttpObjects:
        objects = self.services.objects
        assert isinstance(objects, HttpObjects)
        return objects

    def count_direct(self, fail_after: int | None = None) -> Counting:
        counting = Counting(fail_after)
        self.objects.direct = Bucket(httpx.Client(transport=counting))
        return counting


class Server:
    """One app over one platform, served in-process (ASGI) or by a real uvicorn."""

    def __init__(self, settings: Settings, mode: str = "asgi") -> None:
        self.settings = settings
        self.platform = Platform(settings)
        self.app = create_app(platform=self.platform)
        self.admin = AdminService(self.platform.catalog)
        self.teams: list[Team] = []
        self.stack = contextlib.ExitStack()
        self.url = "http://testserver"
        if mode == "uvicorn":
            self.url = self.stack.enter_context(uvicorn_serving(self.app))

    def http(self, headers: dict[str, str] | None = None) -> httpx.Client:
        if self.url == "http://testserver":
            return TestClient(self.app, headers=headers)
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def team(self, name: str) -> Team:
        _, key = self.admin.create_team(name)
        settings = dataclasses.replace(
            self.settings,
            server=self.url,
            api_key=key,
            cache_dir=self.settings.home / f"cache-{name}",
        )
        services = connect(settings, http=self.http())
        team = Team(key, services, self.http({"X-API-Key": key}))
        self.teams.append(team)
        return team

    def through(self) -> int:
        """Request and response body bytes this server has moved, every route together."""
        total = 0.0
        for metric in self.app.state.metrics_registry.collect():
            if metric.name in ("cargohold_http_request_bytes", "cargohold_http_response_bytes"):
                total += sum(s.value for s in metric.samples if s.name.endswith("_total"))
        return int(total)

    def transferred(self, direction: str) -> int:
        """Content bytes the transfer routes counted (api/observe.py)."""
        registry = self.app.state.metrics_registry
        found = registry.get_sample_value(
            "cargohold_transfer_bytes_total", {"direction": direction}
        )
        return int(found or 0)

    def close(self) -> None:
        for team in self.teams:
            team.services.close()
            team.http.close()
        self.stack.close()
        self.platform.close()


@pytest.fixture
def settings(cargohold_home: Path) -> Settings:
    return dataclasses.replace(
        Settings.from_env(), part_size=5 * MiB, pack_threshold=64 * 1024, pack_size=MiB, jobs=4
    )


@pytest.fixture
def make_server(settings: Settings) -> Iterator[Any]:
    made: list[Server] = []

    def make(mode: str = "asgi", **changes: Any) -> Server:
        server = Server(dataclasses.replace(settings, **changes), mode)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bucket_module, "BACKOFF", 0.01)


@pytest.fixture(params=["local", "s3"])
def provider(request: pytest.FixtureRequest) -> dict[str, str] | None:
    """None: the managed directory; else an S3 provider's config (a SeaweedFS bucket)."""
    if request.param == "local":
        return None
    config: dict[str, str] = request.getfixturevalue("s3_config")
    return config


def dataset_on(team: Team, config: dict[str, str] | None, name: str = "data") -> str:
    """A dataset on the provider (`None`: managed) with an open version; its reference."""
    provider_id = None
    if config is not None:
        provider_id = team.services.storage_providers.create_s3(
            "bucket",
            config["bucket"],
            config["accessKey"],
            config["secretAccessKey"],
            endpoint=config["endpoint"],
        ).id
    ds = team.services.datasets.create(name, provider_id)
    return team.services.versions.create(ds.id).ref


def source_tree(root: Path, small: int = 30) -> dict[str, bytes]:
    files = {f"small/{i:03d}.bin": os.urandom(1000 + 400 * i) for i in range(small)}
    files["shard.bin"] = os.urandom(BIG)
    write_tree(root, files)
    return files


def read_tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def route(ref: str, tail: str) -> str:
    return f"{PREFIX}/{ref}/transfer/{tail}"


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["asgi", "uvicorn"])
def test_put_commit_get_round_trip_and_dedup(
    make_server: Any, provider: dict[str, str] | None, tmp_path: Path, mode: str
) -> None:
    server = make_server(mode=mode)
    alpha = server.team("alpha")
    direct = alpha.count_direct()
    ref = dataset_on(alpha, provider)
    files = source_tree(tmp_path / "src")
    size = sum(len(b) for b in files.values())

    before = server.through()
    summary = put(alpha.services, ref, [f"{tmp_path / 'src'}/"])
    through = server.through() - before
    assert (summary.files, summary.bytes_sent) == (len(files), size)
    if provider is None:
        assert direct.puts == []  # every byte through the server, none to a bucket
        assert through >= size
        assert server.transferred("upload") == size
    else:
        assert server.transferred("upload") == 0
        assert sum(direct.puts) >= size  # whole objects, parts and packs, all to the bucket
        assert len([n for n in direct.puts if n == 5 * MiB]) == 2  # the shard's two full parts
        assert through < size / 100, f"{through:,} bytes through the server for {size:,}"

    committed = alpha.services.versions.commit(ref)
    assert committed.file_count == len(files)

    before = server.through()
    got = get(alpha.services, ref, tmp_path / "out")
    assert got.fetched == len(files)
    assert read_tree(tmp_path / "out") == files
    if provider is None:
        assert server.transferred("download") == size
    else:
        assert server.through() - before < size / 100
        assert server.transferred("download") == 0

    again = alpha.services.versions.create(ref.split(":")[0]).ref
    direct.puts.clear()
    second = put(alpha.services, again, [f"{tmp_path / 'src'}/"])
    assert (second.bytes_sent, second.bytes_skipped, direct.puts) == (0, size, [])


def test_a_version_s_files_and_one_file_read_back(
    make_server: Any, provider: dict[str, str] | None, tmp_path: Path
) -> None:
    server = make_server()
    alpha = server.team("alpha")
    ref = dataset_on(alpha, provider)
    files = source_tree(tmp_path / "src", small=3)
    put(alpha.services, ref, [f"{tmp_path / 'src'}/"])
    reader = alpha.services.objects.reader(ref)
    assert [e.path for e in reader.files("small/")] == sorted(k for k in files if "small" in k)
    entry = reader.file("shard.bin")
    assert entry is not None and entry.sha256 == sha(files["shard.bin"])
    assert reader.file("nope.bin") is None
    with reader.open(entry.sha256) as stream:
        assert stream.read(10) == files["shard.bin"][:10]
        assert stream.read() == files["shard.bin"][10:]
    small = files["small/001.bin"]
    loc = reader.locations({sha(small): len(small)})[sha(small)]
    if provider is None:
        assert loc.pack is None
        with reader.open(sha(small)) as stream:
            assert stream.read() == small
        # a byte range of an object, through the server
        answer = alpha.http.get(
            route(ref, f"objects/{sha(small)}"), headers={"Range": "bytes=10-19"}
        )
        assert (answer.status_code, answer.content) == (206, small[10:20])
    else:
        assert loc.pack is not None and loc.offset is not None
        assert reader.pack_sizes([loc.pack])[loc.pack] >= len(small)
        span = Span(loc.offset, len(small), (PackMember(sha(small), loc.offset, len(small)),))
        assert bytes(reader.read_span(loc.pack, span)[sha(small)]) == small


def test_a_file_changed_during_the_upload_is_named(
    make_server: Any, provider: dict[str, str] | None, tmp_path: Path
) -> None:
    server = make_server()
    alpha = server.team("alpha")
    ref = dataset_on(alpha, provider)
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(BIG))
    writer = alpha.services.objects.writer(ref)
    planned = sha(big.read_bytes())
    big.write_bytes(os.urandom(BIG))  # changed after it was hashed
    with pytest.raises(errors.HashMismatch, match=f"{big} changed while it was uploaded"):
        writer.send_file(planned, str(big))
    with pytest.raises(errors.SourcePathError, match="Cannot read"):
        writer.send_file(planned, str(tmp_path / "gone.bin"))
    assert writer.missing({planned: BIG}) == {planned}


# -- S3: resume, presigned URLs -------------------------------------------------------------


def test_an_interrupted_multipart_upload_resumes_with_the_parts_left(
    make_server: Any, s3_config: dict[str, str], tmp_path: Path
) -> None:
    server = make_server()
    alpha = server.team("alpha")
    ref = dataset_on(alpha, s3_config)
    content = os.urandom(BIG)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "shard.bin").write_bytes(content)

    failing = alpha.count_direct(fail_after=1)
    with pytest.raises(errors.StorageUnreachable):
        put(alpha.services, ref, [str(tmp_path / "src" / "shard.bin")])
    assert len(failing.puts) == 1  # one part landed before the network went down
    assert alpha.services.files.list(ref) == []

    direct = alpha.count_direct()
    summary = put(alpha.services, ref, [str(tmp_path / "src" / "shard.bin")])
    assert summary.bytes_sent == BIG
    assert len(direct.puts) == 2 and sum(direct.puts) + failing.puts[0] == BIG
    alpha.services.versions.commit(ref)
    get(alpha.services, ref, tmp_path / "out")
    assert (tmp_path / "out" / "shard.bin").read_bytes() == content


def plan(team: Team, ref: str, data: bytes) -> dict[str, Any]:
    answer = team.http.post(route(ref, f"objects/{sha(data)}/plan"), json={"size": len(data)})
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_a_presigned_put_allows_one_content_on_one_key_and_nothing_else(
    make_server: Any, s3_config: dict[str, str]
) -> None:
    server = make_server()
    alpha = server.team("alpha")
    ref = dataset_on(alpha, s3_config)
    data, other = os.urandom(1000), os.urandom(1000)
    signed = plan(alpha, ref, data)
    assert signed["via"] == "put"
    assert signed["headers"] == {"x-amz-checksum-sha256": b64sha(data)}
    url, headers = signed["url"], signed["headers"]
    assert s3_config["secretAccessKey"] not in url
    assert alpha.key not in url

    s3 = httpx.Client()
    refused = {
        "other content": s3.put(url, content=other, headers=headers),
        "other content, its own checksum": s3.put(
            url, content=other, headers={"x-amz-checksum-sha256": b64sha(other)}
        ),
        "no checksum header": s3.put(url, content=data),
        "a GET": s3.get(url),
        "a DELETE": s3.delete(url),
        "another key": s3.put(url.replace(sha(data), sha(other)), content=data, headers=headers),
    }
    codes = {what: answer.status_code for what, answer in refused.items()}
    assert codes == {
        "other content": 400,  # BadDigest
        "other content, its own checksum": 403,
        "no checksum header": 403,
        "a GET": 403,
        "a DELETE": 403,
        "another key": 403,
    }
    assert "BadDigest" in refused["other content"].text

    complete = route(ref, f"objects/{sha(data)}/complete")
    assert alpha.http.post(complete, json={"size": len(data)}).status_code == 400  # not there
    assert s3.put(url, content=data, headers=headers).status_code == 200
    wrong = alpha.http.post(complete, json={"size": len(data) + 1})
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "content-mismatch"
    assert plan(alpha, ref, data)["via"] == "put"  # not recorded on the client's word
    assert alpha.http.post(complete, json={"size": len(data)}).json() == {"size": len(data)}
    assert plan(alpha, ref, data) == {"via": "present"}
    # Recorded: a later complete cannot change it, nor can a multipart upload be begun.
    assert alpha.http.post(complete, json={"size": 1}).json() == {"size": len(data)}
    parts = {"uploadId": "any", "numbers": [1]}
    assert alpha.http.post(route(ref, f"objects/{sha(data)}/parts"), json=parts).is_error

    # A download URL reads that object, and does nothing else.
    read = alpha.http.get(route(ref, f"objects/{sha(data)}/url")).json()["url"]
    assert s3.get(read).content == data
    assert s3.get(read, headers={"Range": "bytes=0-9"}).content == data[:10]
    assert s3.put(read, content=other).status_code == 403
    assert s3.delete(read).status_code == 403
    assert s3.get(read.replace(sha(data), sha(other))).status_code == 403
    s3.close()


def test_an_expired_url_is_refused(make_server: Any, s3_config: dict[str, str]) -> None:
    server = make_server(presign_expires=1)
    alpha = server.team("alpha")
    ref = dataset_on(alpha, s3_config)
    data = os.urandom(100)
    signed = plan(alpha, ref, data)
    time.sleep(2.5)
    answer = httpx.put(signed["url"], content=data, headers=signed["headers"])
    assert answer.status_code == 403 and "expired" in answer.text.lower()


def test_through_server_routes_refuse_an_s3_provider(
    make_server: Any, s3_config: dict[str, str]
) -> None:
    server = make_server()
    alpha = server.team("alpha")
    ref = dataset_on(alpha, s3_config)
    data = os.urandom(100)
    answer = alpha.http.put(route(ref, f"objects/{sha(data)}?size=100"), content=data)
    assert answer.status_code == 400 and "straight to its bucket" in answer.text


# -- teams apart, committed versions frozen --------------------------------------------------


def write_routes(ref: str, sha256: str) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body) of every write route, with valid bodies."""
    pack = {"size": 10, "members": [[sha256, 0, 10]]}
    return [
        ("POST", route(ref, "writer"), None),
        ("POST", route(ref, "missing"), {"sizes": {sha256: 10}}),
        ("POST", route(ref, "clean"), None),
        ("POST", route(ref, "stage"), {"entries": [["a.bin", 10, sha256, "x/y"]], "landed": {}}),
        ("POST", route(ref, f"objects/{sha256}/plan"), {"size": 10}),
        ("POST", route(ref, f"objects/{sha256}/parts"), {"uploadId": "u", "numbers": [1]}),
        ("POST", route(ref, f"objects/{sha256}/complete"), {"size": 10}),
        ("PUT", route(ref, f"objects/{sha256}?size=10"), b"0123456789"),
        ("POST", route(ref, f"packs/{sha256}/plan"), pack),
        ("PUT", route(ref, f"packs/{sha256}?size=10"), b"0123456789"),
        ("POST", route(ref, f"packs/{sha256}/complete"), pack),
    ]


def read_routes(ref: str, sha256: str, pack: str) -> list[tuple[str, str, Any]]:
    return [
        ("GET", route(ref, "reader"), None),
        ("GET", route(ref, "files"), None),
        ("GET", route(ref, "file?key=a.bin"), None),
        ("POST", route(ref, "locations"), {"sizes": {sha256: 10}}),
        ("POST", route(ref, "pack-sizes"), {"packs": [pack]}),
        ("GET", route(ref, f"objects/{sha256}/url"), None),
        ("GET", route(ref, f"objects/{sha256}"), None),
        ("GET", route(ref, f"packs/{pack}/url"), None),
        ("GET", route(ref, f"packs/{pack}"), None),
    ]


def send(http: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    if isinstance(body, bytes):
        return http.request(method, path, content=body)
    return http.request(method, path, json=body)


def test_another_team_gets_404_on_every_transfer_route(
    make_server: Any, provider: dict[str, str] | None, tmp_path: Path
) -> None:
    server = make_server()
    alpha, beta = server.team("alpha"), server.team("beta")
    ref = dataset_on(alpha, provider)
    files = source_tree(tmp_path / "src", small=3)
    put(alpha.services, ref, [f"{tmp_path / 'src'}/"])
    big, small = sha(files["shard.bin"]), sha(files["small/000.bin"])
    loc = alpha.services.objects.reader(ref).locations({small: len(files["small/000.bin"])})
    pack = loc[small].pack or big  # packs exist on S3 only

    # Alpha's version, named by ID or through alpha's namespace, is not beta's.
    for named in (ref, f"{alpha.services.team.name}/{ref}", f"{alpha.services.team.id}/{ref}"):
        for method, path, body in [*write_routes(named, big), *read_routes(named, big, pack)]:
            answer = send(beta.http, method, path, body)
            assert answer.status_code == 404, (method, path, answer.text)

    # Beta's own version, naming alpha's contents: nothing to read, nothing to claim.
    own = dataset_on(beta, provider, "mine")
    for method, path, body in read_routes(own, big, pack)[5:]:
        answer = send(beta.http, method, path, body)
        assert answer.status_code == 404, (method, path, answer.text)
    claim = {"entries": [["stolen.bin", BIG, big, "x/y"]], "landed": {big: BIG}}
    answer = beta.http.post(route(own, "stage"), json=claim)
    assert answer.json()["error"]["code"] == "object-missing"
    assert beta.http.post(route(own, f"objects/{big}/complete"), json={"size": BIG}).is_error

    # And through beta's client.
    with pytest.raises(errors.NotFound):
        beta.services.objects.reader(ref)
    with pytest.raises(errors.NotFound):
        beta.services.objects.writer(ref)
    reader = beta.services.objects.reader(own)
    with pytest.raises(errors.ObjectNotFound):
        reader.open(big)
    if provider is not None:
        span = Span(0, 10, (PackMember(small, 0, 10),))
        with pytest.raises(errors.ObjectNotFound):
            reader.read_span(pack, span)


def test_every_write_route_refuses_a_committed_version(
    make_server: Any, provider: dict[str, str] | None, tmp_path: Path
) -> None:
    server = make_server()
    alpha = server.team("alpha")
    ref = dataset_on(alpha, provider)
    write_tree(tmp_path / "src", {"a.bin": b"0123456789"})
    put(alpha.services, ref, [f"{tmp_path / 'src'}/"])
    alpha.services.versions.commit(ref)
    for method, path, body in write_routes(ref, sha(b"0123456789")):
        answer = send(alpha.http, method, path, body)
        assert answer.status_code == 409, (method, path, answer.text)
        assert answer.json()["error"]["code"] == "version-committed"
    with pytest.raises(errors.VersionCommitted):
        alpha.services.objects.writer(ref)
    assert alpha.services.objects.reader(ref).file("a.bin") is not None


def test_keys_are_the_server_s_and_bodies_are_checked(make_server: Any, tmp_path: Path) -> None:
    server = make_server()
    alpha = server.team("alpha")
    ref = dataset_on(alpha, None)
    for bad in ("..%2F..%2Fsecret.key", "ABC", "0" * 63):
        answer = alpha.http.post(route(ref, f"objects/{bad}/plan"), json={"size": 1})
        assert answer.status_code in (400, 404, 405), answer.text  # never a key
    digest = sha(b"x")
    for bad_ref in ("..", "../..", f"{ref}/..", "ds:../../x", f"{alpha.services.team.id}/.."):
        answer = alpha.http.post(route(bad_ref, "missing"), json={"sizes": {}})
        assert answer.status_code in (400, 404, 405), (bad_ref, answer.text)
    bodies: list[tuple[str, Any]] = [
        ("stage", {"entries": [["../escape", 1, digest, "x/y"]]}),
        ("stage", {"entries": [["/abs", 1, digest, "x/y"]]}),
        ("stage", {"entries": [], "key": "team/objects/x"}),  # no extra fields
        ("missing", {"sizes": {"not-a-sha": 1}}),
        (f"packs/{digest}/plan", {"size": 5, "members": [[digest, 3, 4]]}),  # past the end
        (f"packs/{digest}/plan", {"size": 5, "members": [[digest, -1, 4]]}),
    ]
    for tail, body in bodies:
        answer = alpha.http.post(route(ref, tail), json=body)
        assert answer.status_code == 400, (tail, body, answer.text)
    other = alpha.http.put(route(ref, f"objects/{digest}?size=1"), content=b"y")
    assert other.status_code == 400 and other.json()["error"]["code"] == "content-mismatch"
    assert alpha.http.put(route(ref, f"objects/{digest}?size=1"), content=b"x").json() == {
        "size": 1
    }
