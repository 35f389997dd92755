"""Gradient's REST API on a cargohold server (GRADIENT.md §3), driven the way a Gradient client
drives it: raw HTTP with `X-API-Key`, LoopBack filters, presigned S3 calls whose URLs are
fetched without the key, S3 XML parsed as Gradient's CLI parses it."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cargohold.settings import Settings
from tests.server_helpers import TestServer

S3_XMLNS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
Json = dict[str, Any]
HELLO = b"hello world\n"


# -- a Gradient client, as raw HTTP --------------------------------------------------------


class Gradient:
    """What a script written against api.paperspace.io does, with the host changed."""

    def __init__(self, server: TestServer, key: str) -> None:
        self.api = server.http(key)
        self.s3 = server.http()  # presigned URLs travel without the API key

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.ok(self.api.get(path, params=params))

    def post(self, path: str, body: Json) -> Any:
        return self.ok(self.api.post(path, json=body))

    def provider_id(self) -> str:
        providers = self.get("/storageProviders", **{"filter[order][]": "name ASC"})
        return str(providers[0]["id"])

    def dataset(self, name: str) -> str:
        created = self.post("/datasets", {"name": name, "storageProviderId": self.provider_id()})
        return str(created["id"])

    def version(self, dataset: str, message: str | None = None) -> str:
        body = {"message": message} if message else {}
        return str(self.post(f"/datasets/{dataset}/versions", body)["version"])

    def commit(self, dataset: str, version: str) -> Json:
        done: Json = self.post(f"/datasets/{dataset}/versions/{version}", {"isCommitted": True})
        return done

    def presign_raw(self, dataset: str, version: str, *calls: tuple[str, Json]) -> httpx.Response:
        body = {"calls": [{"method": m, "params": p} for m, p in calls]}
        return self.api.post(f"/datasets/{dataset}/versions/{version}/s3/preSignedUrls", json=body)

    def presign(self, dataset: str, version: str, *calls: tuple[str, Json]) -> list[Any]:
        answers = self.ok(self.presign_raw(dataset, version, *calls))
        assert len(answers) == len(calls)
        for answer in answers:
            assert answer["expiresIn"] > 0
        return [a["url"] for a in answers]

    def put(self, dataset: str, version: str, key: str, content: bytes) -> None:
        mime = "application/octet-stream"
        (url,) = self.presign(dataset, version, ("putObject", {"Key": key, "ContentType": mime}))
        response = self.s3.put(url, content=content, headers={"Content-Type": mime})
        assert response.status_code == 200, response.text

    def get_object(self, dataset: str, version: str, key: str) -> bytes:
        (url,) = self.presign(dataset, version, ("getObject", {"Key": key}))
        response = self.s3.get(url)
        assert response.status_code == 200, response.text
        return response.content

    def list_objects(
        self,
        dataset: str,
        version: str,
        path: str = "/",
        recursive: bool = False,
        max_keys: int = 20,
    ) -> list[tuple[str, str | None]]:
        """Gradient's `files list`: pages of listObjectsV2 through NextContinuationToken."""
        path = "/" + path.lstrip("/")
        path += "" if path.endswith("/") else "/"
        found: list[tuple[str, str | None]] = []
        token = None
        while True:
            params: Json = {"Prefix": path, "MaxKeys": max_keys}
            if token:
                params["ContinuationToken"] = token
            if recursive:
                params["Delimiter"] = ""
            (url,) = self.presign(dataset, version, ("listObjectsV2", params))
            response = self.s3.get(url)
            assert response.status_code == 200, response.text
            tree = ET.fromstring(response.text)
            prefix = tree.find(S3_XMLNS + "Prefix").text  # type: ignore[union-attr]
            assert prefix is not None
            token = None
            for item in tree:
                name = item.tag.rpartition("}")[2]
                if name == "Contents":
                    key = item.find(S3_XMLNS + "Key").text[len(prefix) :]  # type: ignore[union-attr,index]
                    found.append((key, item.find(S3_XMLNS + "Size").text))  # type: ignore[union-attr]
                elif name == "NextContinuationToken":
                    token = item.text
                elif name == "CommonPrefixes":
                    sub = item.find(S3_XMLNS + "Prefix").text[len(prefix) :]  # type: ignore[union-attr,index]
                    found.append((sub, None))
            if not token:
                return found


def s3_error(response: httpx.Response, status: int, code: str) -> str:
    """The message of an S3-style XML error."""
    assert response.status_code == status, response.text
    tree = ET.fromstring(response.text)
    assert tree.tag == "Error"
    assert tree.findtext("Code") == code, response.text
    return tree.findtext("Message") or ""


def api_error(response: httpx.Response, status: int, code: str | None = None) -> str:
    """cargohold's JSON error; Gradient's client reads the message inside `error`."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "hint", "details"}
    if code:
        assert error["code"] == code, error
    assert error["message"]
    return str(error["message"])


@pytest.fixture
def server(cargohold_home: Path) -> Iterator[TestServer]:
    srv = TestServer(Settings.from_env())
    yield srv
    srv.close()


@pytest.fixture
def alice(server: TestServer) -> Gradient:
    return Gradient(server, server.key("alice"))


@pytest.fixture
def bob(server: TestServer) -> Gradient:
    return Gradient(server, server.key("bob"))


@pytest.fixture
def filled(alice: Gradient) -> tuple[str, str]:
    """A dataset with an uncommitted version holding two files."""
    ds = alice.dataset("filled")
    v = alice.version(ds)
    alice.put(ds, v, "/hello.txt", b"hello world\n")
    alice.put(ds, v, "/sub/a.bin", b"\x00\x01\x02")
    return ds, v


# -- the acceptance script ------------------------------------------------------------------


def test_a_gradient_script_works_with_only_the_host_changed(alice: Gradient) -> None:
    assert alice.get("/datasets", **{"filter[limit]": 21, "filter[order][]": "name ASC"}) == []
    provider = alice.provider_id()
    created = alice.post(
        "/datasets", {"name": "demo", "storageProviderId": provider, "description": "d"}
    )
    ds = created["id"]
    assert len(ds) == 15 and ds.startswith("ds")
    assert created["storageProvider"]["id"] == provider
    assert created["storageProvider"]["type"] == "s3"  # Gradient's CLI refuses anything else
    made = alice.post(f"/datasets/{ds}/versions", {"message": "first"})
    v = made["version"]
    assert len(v) == 7 and made["isCommitted"] is False

    (put_url,) = alice.presign(
        ds, v, ("putObject", {"Key": "/hello.txt", "ContentType": "text/plain"})
    )
    assert "X-API-Key" not in alice.s3.headers
    response = alice.s3.put(
        put_url, content=b"hello world\n", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"{hashlib.sha256(HELLO).hexdigest()}"'
    alice.put(ds, v, "/sub/a.bin", b"\x00\x01\x02")

    committed = alice.commit(ds, v)
    assert committed["isCommitted"] is True and committed["fileCount"] == 2
    assert alice.get(f"/datasets/{ds}/versions/{v}")["isCommitted"] is True

    assert alice.list_objects(ds, v) == [("hello.txt", "12"), ("sub/", None)]
    assert alice.list_objects(ds, v, recursive=True) == [("hello.txt", "12"), ("sub/a.bin", "3")]
    assert alice.list_objects(ds, v, "/sub/") == [("a.bin", "3")]
    assert alice.get_object(ds, v, "hello.txt") == b"hello world\n"
    assert alice.get_object(ds, v, "/sub/a.bin") == b"\x00\x01\x02"

    (head,) = alice.presign(ds, v, ("headObject", {"Key": "hello.txt"}))
    response = alice.s3.head(head)
    assert response.status_code == 200 and response.headers["Content-Length"] == "12"

    listed = alice.get(
        f"/datasets/{ds}/versions",
        **{
            "filter[where][isCommitted]": "true",
            "filter[limit]": 21,
            "filter[skip]": 0,
            "filter[order][]": "dtCreated DESC",
        },
    )
    assert [(x["version"], x["message"], x["tags"]) for x in listed] == [(v, "first", [])]
    assert [d["name"] for d in alice.get("/datasets")] == ["demo"]


def test_the_managed_object_store_holds_contents_not_paths(
    alice: Gradient, filled: tuple[str, str], server: TestServer
) -> None:
    ds, v = filled
    alice.commit(ds, v)
    stored = sorted(
        p.relative_to(server.settings.managed_dir).as_posix()
        for p in server.settings.managed_dir.rglob("*")
        if p.is_file()
    )
    digest = hashlib.sha256(b"hello world\n").hexdigest()
    assert any(p.endswith(f"/objects/sha256/{digest[:2]}/{digest[2:4]}/{digest}") for p in stored)
    assert not any("hello.txt" in p for p in stored)


def test_multipart_upload_reassembles_the_file(alice: Gradient, server: TestServer) -> None:
    ds = alice.dataset("big")
    v = alice.version(ds)
    part1, part2 = b"a" * 300_000, b"b" * 123_457
    (create,) = alice.presign(ds, v, ("createMultipartUpload", {"Key": "/data/big.bin"}))
    assert create["Key"] == "/data/big.bin" and create["UploadId"]
    upload = create["UploadId"]
    etags = []
    for number, content in ((1, part1), (2, part2)):
        (url,) = alice.presign(
            ds,
            v,
            ("uploadPart", {"Key": "/data/big.bin", "UploadId": upload, "PartNumber": number}),
        )
        response = alice.s3.put(url, content=content)
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == f'"{hashlib.md5(content).hexdigest()}"'
        etags.append(response.headers["ETag"])
    parts = {"Parts": [{"ETag": etags[0], "PartNumber": 1}, {"ETag": etags[1], "PartNumber": 2}]}
    (done,) = alice.presign(
        ds,
        v,
        (
            "completeMultipartUpload",
            {"Key": "/data/big.bin", "UploadId": upload, "MultipartUpload": parts},
        ),
    )
    assert done["Key"] == "/data/big.bin"
    assert alice.get_object(ds, v, "data/big.bin") == part1 + part2
    alice.commit(ds, v)
    assert alice.get_object(ds, v, "data/big.bin") == part1 + part2
    leftovers = [p for p in server.settings.managed_dir.rglob("*") if "uploads" in p.parts]
    assert not [p for p in leftovers if p.is_file()]


def test_multipart_mistakes_are_refused(alice: Gradient) -> None:
    ds = alice.dataset("mp")
    v = alice.version(ds)
    (create,) = alice.presign(ds, v, ("createMultipartUpload", {"Key": "x.bin"}))
    upload = create["UploadId"]
    (url,) = alice.presign(
        ds, v, ("uploadPart", {"Key": "x.bin", "UploadId": upload, "PartNumber": 1})
    )
    assert alice.s3.put(url, content=b"part one").status_code == 200

    def complete(key: str, upload_id: str, parts: list[Json]) -> httpx.Response:
        params = {"Key": key, "UploadId": upload_id, "MultipartUpload": {"Parts": parts}}
        return alice.presign_raw(ds, v, ("completeMultipartUpload", params))

    good = hashlib.md5(b"part one").hexdigest()
    api_error(complete("x.bin", upload, [{"ETag": '"0000"', "PartNumber": 1}]), 400)
    api_error(complete("x.bin", upload, [{"ETag": good, "PartNumber": 2}]), 400)  # never sent
    two = [{"ETag": good, "PartNumber": 2}, {"ETag": good, "PartNumber": 1}]
    api_error(complete("x.bin", upload, two), 400)  # out of order
    api_error(complete("y.bin", upload, [{"ETag": good, "PartNumber": 1}]), 404)  # other Key
    api_error(complete("x.bin", "f" * 64, [{"ETag": good, "PartNumber": 1}]), 404)
    api_error(complete("x.bin", "../../x", [{"ETag": good, "PartNumber": 1}]), 404)
    bad_part = {"Key": "x.bin", "UploadId": upload, "PartNumber": 10_001}
    api_error(alice.presign_raw(ds, v, ("uploadPart", bad_part)), 400)
    (done,) = alice.presign(
        ds,
        v,
        (
            "completeMultipartUpload",
            {
                "Key": "x.bin",
                "UploadId": upload,
                "MultipartUpload": {"Parts": [{"ETag": f'"{good}"', "PartNumber": 1}]},
            },
        ),
    )
    assert done["ETag"] == f'"{hashlib.sha256(b"part one").hexdigest()}-1"'
    assert alice.get_object(ds, v, "x.bin") == b"part one"


def test_the_same_content_in_two_versions_is_one_object(alice: Gradient) -> None:
    ds = alice.dataset("dedup")
    content = b"same bytes, twice" * 1000
    first = alice.version(ds)
    alice.put(ds, first, "/a.bin", content)
    alice.commit(ds, first)
    second = alice.version(ds)
    alice.put(ds, second, "/renamed/b.bin", content)
    alice.commit(ds, second)
    usage = alice.get("/api/v1/usage")
    (managed,) = [p for p in usage["providers"] if p["isManaged"]]
    assert (managed["objects"], managed["bytes"], managed["versions"]) == (1, len(content), 2)
    assert alice.get_object(ds, second, "renamed/b.bin") == content


# -- datasets, versions, tags and refs ----------------------------------------------------------


def test_dataset_routes(alice: Gradient) -> None:
    ds = alice.dataset("one")
    assert alice.get(f"/datasets/{ds}")["name"] == "one"
    updated = alice.post(f"/datasets/{ds}", {"description": "Test dataset"})
    assert (updated["name"], updated["description"]) == ("one", "Test dataset")
    assert alice.post(f"/datasets/{ds}", {"name": "renamed"})["name"] == "renamed"
    api_error(alice.api.get(f"/datasets/{ds}:latest"), 400, "invalid-reference")
    api_error(alice.api.post("/datasets", json={"name": "renamed"}), 409, "name-taken")
    api_error(alice.api.post("/datasets", json={"description": "no name"}), 400)
    response = alice.api.delete(f"/datasets/{ds}")
    assert response.status_code == 204 and not response.content
    api_error(alice.api.get(f"/datasets/{ds}"), 404, "dataset-not-found")
    assert alice.get("/teams/namespace") == "alice"


def test_version_routes_and_commit(alice: Gradient) -> None:
    ds = alice.dataset("versions")
    v = alice.version(ds, "draft")
    changed = alice.post(f"/datasets/{ds}/versions/{v}", {"message": "better"})
    assert (changed["message"], changed["isCommitted"]) == ("better", False)
    still = alice.post(f"/datasets/{ds}/versions/{v}", {"isCommitted": False})
    assert still["isCommitted"] is False  # already so: nothing to do
    assert alice.commit(ds, v)["isCommitted"] is True
    again = alice.api.post(f"/datasets/{ds}/versions/{v}", json={"isCommitted": True})
    api_error(again, 409, "version-committed")
    uncommit = alice.api.post(f"/datasets/{ds}/versions/{v}", json={"isCommitted": False})
    api_error(uncommit, 409, "version-committed")
    assert alice.get(f"/datasets/{ds}/versions/{v}")["isCommitted"] is True
    # the message annotates a committed version; its content stays frozen
    assert alice.post(f"/datasets/{ds}/versions/{v}", {"message": "final"})["message"] == "final"
    response = alice.api.delete(f"/datasets/{ds}/versions/{v}")
    assert response.status_code == 204
    api_error(alice.api.get(f"/datasets/{ds}/versions/{v}"), 404, "version-not-found")


def test_tags_and_refs(alice: Gradient) -> None:
    ds = alice.dataset("refs")
    first = alice.version(ds, "one")
    alice.put(ds, first, "/f.txt", b"1")
    alice.commit(ds, first)
    second = alice.version(ds, "two")
    alice.put(ds, second, "/f.txt", b"2")
    alice.commit(ds, second)
    pending = alice.version(ds, "three")

    tag = alice.ok(alice.api.put(f"/datasets/{ds}/tags/prod", json={"version": first}))
    assert tag["name"] == "prod" and tag["version"]["version"] == first
    assert alice.get(f"/datasets/{ds}/tags/prod")["version"] == {"version": first, "message": "one"}
    tags = alice.get(f"/datasets/{ds}/tags", **{"filter[order][]": "name ASC"})
    assert [(t["name"], t["version"]["version"]) for t in tags] == [("prod", first)]

    def resolved(ref: str) -> Json:
        found: Json = alice.get(f"/datasets/ref/{ref}")
        assert found["id"] == ds and found["name"] == "refs"
        return found

    assert resolved(f"{ds}:latest")["version"]["version"] == second
    assert resolved(ds)["version"]["version"] == second
    assert resolved(f"{ds}:{first}")["version"]["tags"] == [{"name": "prod"}]
    assert resolved(f"{ds}:prod")["version"]["version"] == first
    assert resolved(f"{ds}:{pending}")["version"]["isCommitted"] is False
    namespace = alice.get("/teams/namespace")
    assert resolved(f"{namespace}/{ds}:prod")["version"]["version"] == first
    assert resolved("refs:prod")["version"]["version"] == first
    api_error(alice.api.get(f"/datasets/ref/{ds}:nope"), 404, "tag-not-found")

    # a tag moves with another PUT; files through a tag resolve to its version
    alice.ok(alice.api.put(f"/datasets/{ds}/tags/prod", json={"version": second}))
    assert alice.get_object(ds, "prod", "f.txt") == b"2"
    assert alice.api.delete(f"/datasets/{ds}/tags/prod").status_code == 204
    api_error(alice.api.get(f"/datasets/{ds}/tags/prod"), 404, "tag-not-found")
    assert alice.get(f"/datasets/{ds}/tags") == []


# -- LoopBack filters -------------------------------------------------------------------------


def test_loopback_filters_on_datasets(alice: Gradient) -> None:
    for name in ("charlie", "alpha", "bravo"):
        alice.dataset(name)

    def names(**params: Any) -> list[str]:
        return [d["name"] for d in alice.get("/datasets", **params)]

    assert names(**{"filter[order][]": "name ASC"}) == ["alpha", "bravo", "charlie"]
    assert names(**{"filter[order]": "name DESC"}) == ["charlie", "bravo", "alpha"]
    assert names(**{"filter[order][0]": "dtCreated DESC"}) == ["bravo", "alpha", "charlie"]
    page = {"filter[order][]": "name ASC", "filter[limit]": 2, "filter[skip]": 1}
    assert names(**page) == ["bravo", "charlie"]
    assert names(**{"filter[where][name]": "bravo"}) == ["bravo"]
    assert names(**{"filter[where][name]": "zulu"}) == []
    as_json = {"filter": json.dumps({"order": "name DESC", "limit": 1, "where": {}})}
    assert names(**as_json) == ["charlie"]

    for params, code in (
        ({"filter[where][colour]": "red"}, "invalid-input"),
        ({"filter[order][]": "colour ASC"}, "invalid-input"),
        ({"filter[order][]": "name SIDEWAYS"}, "invalid-input"),
        ({"filter[limit]": "many"}, "invalid-input"),
        ({"filter[limit]": "0"}, "invalid-input"),
        ({"filter[skip]": "-1"}, "invalid-input"),
        ({"filter[include]": "storageProvider"}, "invalid-input"),
        ({"filter[where][name][like]": "a%"}, "invalid-input"),
        ({"filter": "{not json"}, "invalid-input"),
    ):
        api_error(alice.api.get("/datasets", params=params), 400, code)


def test_loopback_filters_on_versions(alice: Gradient) -> None:
    ds = alice.dataset("filtered")
    made = [alice.version(ds, f"m{i}") for i in range(3)]
    alice.commit(ds, made[0])
    alice.commit(ds, made[2])

    def versions(**params: Any) -> list[str]:
        return [x["version"] for x in alice.get(f"/datasets/{ds}/versions", **params)]

    newest_first = {"filter[order][]": "dtCreated DESC"}
    assert versions(**newest_first) == made[::-1]
    assert versions(**{"filter[where][isCommitted]": "true", **newest_first}) == [made[2], made[0]]
    assert versions(**{"filter[where][isCommitted]": "false"}) == [made[1]]
    assert versions(**{"filter[order][]": "dtCreated ASC", "filter[limit]": 1}) == [made[0]]
    where_message = {"filter[where][message]": "m1"}
    assert versions(**where_message) == [made[1]]
    bad = alice.api.get(f"/datasets/{ds}/versions", params={"filter[where][isCommitted]": "maybe"})
    api_error(bad, 400, "invalid-input")
    bad = alice.api.get(f"/datasets/{ds}/versions", params={"filter[where][size]": "1"})
    api_error(bad, 400, "invalid-input")


# -- the S3 side --------------------------------------------------------------------------------


def test_listing_pages_and_prefixes(alice: Gradient) -> None:
    ds = alice.dataset("listing")
    v = alice.version(ds)
    keys = ["a.txt", "dir/x.txt", "dir/y/z.txt", "fig/one.txt", "file1.txt", "file2.txt", "zz.txt"]
    for key in keys:
        alice.put(ds, v, "/" + key, key.encode())
    assert alice.list_objects(ds, v, recursive=True, max_keys=2) == [(k, str(len(k))) for k in keys]
    top = [("a.txt", "5"), ("dir/", None), ("file1.txt", "9"), ("file2.txt", "9")]
    top += [("fig/", None), ("zz.txt", "6")]
    assert sorted(alice.list_objects(ds, v, max_keys=2)) == sorted(top)
    assert alice.list_objects(ds, v, "/dir") == [("x.txt", "9"), ("y/", None)]
    assert alice.list_objects(ds, v, "dir/y/") == [("z.txt", "11")]
    assert alice.list_objects(ds, v, "/nothing/") == []
    assert alice.list_objects(ds, v, "/a.txt/") == []  # a file is not a folder

    # a Prefix that ends inside a name, as S3 allows
    (url,) = alice.presign(ds, v, ("listObjectsV2", {"Prefix": "/fi"}))
    tree = ET.fromstring(alice.s3.get(url).text)
    contents = [e.findtext(S3_XMLNS + "Key") for e in tree.iter(S3_XMLNS + "Contents")]
    folders = [e.findtext(S3_XMLNS + "Prefix") for e in tree.iter(S3_XMLNS + "CommonPrefixes")]
    assert (contents, folders) == (["/file1.txt", "/file2.txt"], ["/fig/"])
    assert tree.findtext(S3_XMLNS + "KeyCount") == "3"
    assert tree.findtext(S3_XMLNS + "IsTruncated") == "false"

    api_error(alice.presign_raw(ds, v, ("listObjectsV2", {"Prefix": "../"})), 400)
    api_error(alice.presign_raw(ds, v, ("listObjectsV2", {"Delimiter": "|"})), 400)
    api_error(alice.presign_raw(ds, v, ("listObjectsV2", {"ContinuationToken": "%%"})), 400)


def test_get_head_and_delete_object(alice: Gradient, filled: tuple[str, str]) -> None:
    ds, v = filled
    (get, head) = alice.presign(
        ds, v, ("getObject", {"Key": "missing.txt"}), ("headObject", {"Key": "sub"})
    )
    s3_error(alice.s3.get(get), 404, "NoSuchKey")
    missing = alice.s3.head(head)
    assert missing.status_code == 404 and not missing.content

    (delete, delete_missing) = alice.presign(
        ds, v, ("deleteObject", {"Key": "/sub/a.bin"}), ("deleteObject", {"Key": "nope"})
    )
    assert alice.s3.delete(delete).status_code == 204
    assert alice.s3.delete(delete_missing).status_code == 204  # as S3: gone is gone
    assert alice.list_objects(ds, v, recursive=True) == [("hello.txt", "12")]


def test_keys_cannot_leave_the_version(alice: Gradient, filled: tuple[str, str]) -> None:
    ds, v = filled
    for key in ("../x", "a/../../x", "..", "sub/..", "", "/", "dir/", "a\x00b"):
        for method in ("putObject", "getObject", "deleteObject", "createMultipartUpload"):
            response = alice.presign_raw(ds, v, (method, {"Key": key}))
            api_error(response, 400)
    api_error(alice.presign_raw(ds, v, ("getObject", {})), 400)  # no Key (gradient-cli #363)
    api_error(alice.presign_raw(ds, v, ("copyObject", {"Key": "a"})), 400)
    # Gradient's CLI sends '/dir/file' for every put: a leading '/' is the version's root
    alice.put(ds, v, "/etc/passwd", b"not that one")
    assert alice.list_objects(ds, v, "/etc/") == [("passwd", "12")]
    assert alice.get_object(ds, v, "etc/passwd") == b"not that one"


def test_grants_allow_one_operation_on_one_key_until_they_expire(
    alice: Gradient, filled: tuple[str, str]
) -> None:
    ds, v = filled
    (get_url, put_url) = alice.presign(
        ds, v, ("getObject", {"Key": "hello.txt"}), ("putObject", {"Key": "new.txt"})
    )
    assert alice.s3.get(get_url).status_code == 200
    # another Key
    other = get_url.replace("/hello.txt?", "/sub/a.bin?")
    assert "for another Key" in s3_error(alice.s3.get(other), 403, "AccessDenied")
    # another operation
    s3_error(alice.s3.put(get_url, content=b"x"), 403, "AccessDenied")
    s3_error(alice.s3.delete(get_url), 403, "AccessDenied")
    s3_error(alice.s3.get(put_url.replace("/new.txt?", "/hello.txt?")), 403, "AccessDenied")
    assert alice.s3.head(get_url).status_code == 403
    # no grant, or a tampered one
    s3_error(alice.s3.get(get_url.split("?")[0]), 403, "AccessDenied")
    url, token = get_url.split("X-Cargohold-Grant=")
    payload, mac = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    for changed in ({**claims, "key": "sub/a.bin"}, {**claims, "op": "putObject"}):
        forged = base64.urlsafe_b64encode(json.dumps(changed).encode()).decode().rstrip("=")
        forged_url = f"{url}X-Cargohold-Grant={forged}.{mac}"
        assert "signature" in s3_error(alice.s3.get(forged_url), 403, "AccessDenied")
    s3_error(alice.s3.get(f"{url}X-Cargohold-Grant={payload}.{mac[:-2]}AA"), 403, "AccessDenied")
    s3_error(alice.s3.get(f"{url}X-Cargohold-Grant=garbage"), 403, "AccessDenied")
    # nothing was written through the refused calls
    assert alice.list_objects(ds, v, recursive=True) == [("hello.txt", "12"), ("sub/a.bin", "3")]


def test_urls_expire(cargohold_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARGOHOLD_PRESIGN_EXPIRES", "1")
    server = TestServer(Settings.from_env())
    try:
        client = Gradient(server, server.key("hasty"))
        ds = client.dataset("quick")
        v = client.version(ds)
        answers = client.ok(client.presign_raw(ds, v, ("putObject", {"Key": "late.txt"})))
        assert answers[0]["expiresIn"] == 1
        time.sleep(2.1)
        response = client.s3.put(answers[0]["url"], content=b"too late")
        assert "expired" in s3_error(response, 403, "AccessDenied")
        assert client.list_objects(ds, v) == []
    finally:
        server.close()


def test_a_committed_version_refuses_every_write(alice: Gradient, filled: tuple[str, str]) -> None:
    ds, v = filled
    (create,) = alice.presign(ds, v, ("createMultipartUpload", {"Key": "big.bin"}))
    upload = create["UploadId"]
    (put_url, delete_url, part_url) = alice.presign(
        ds,
        v,
        ("putObject", {"Key": "late.txt"}),
        ("deleteObject", {"Key": "hello.txt"}),
        ("uploadPart", {"Key": "big.bin", "UploadId": upload, "PartNumber": 1}),
    )
    alice.commit(ds, v)

    for method, params in (
        ("putObject", {"Key": "x"}),
        ("deleteObject", {"Key": "hello.txt"}),
        ("createMultipartUpload", {"Key": "x"}),
        ("uploadPart", {"Key": "big.bin", "UploadId": upload, "PartNumber": 1}),
        (
            "completeMultipartUpload",
            {"Key": "big.bin", "UploadId": upload, "MultipartUpload": {"Parts": []}},
        ),
    ):
        api_error(alice.presign_raw(ds, v, (method, params)), 409, "version-committed")
    # URLs minted before the commit are refused after it
    s3_error(alice.s3.put(put_url, content=b"late"), 409, "VersionCommitted")
    s3_error(alice.s3.delete(delete_url), 409, "VersionCommitted")
    s3_error(alice.s3.put(part_url, content=b"part"), 409, "VersionCommitted")
    assert alice.list_objects(ds, v, recursive=True) == [("hello.txt", "12"), ("sub/a.bin", "3")]
    # reads still work
    assert alice.get_object(ds, v, "hello.txt") == b"hello world\n"


# -- teams never see each other ---------------------------------------------------------------


def test_another_teams_items_are_not_found(
    alice: Gradient, bob: Gradient, filled: tuple[str, str]
) -> None:
    ds, v = filled
    alice.commit(ds, v)
    alice.ok(alice.api.put(f"/datasets/{ds}/tags/prod", json={"version": v}))
    provider = alice.provider_id()
    bob_provider = bob.provider_id()
    assert provider != bob_provider

    assert bob.get("/datasets") == []
    assert [p["id"] for p in bob.get("/storageProviders")] == [bob_provider]
    assert bob.get("/teams/namespace") == "bob"
    own = bob.dataset("bobs")
    assert [d["id"] for d in bob.get("/datasets")] == [own]
    assert [d["id"] for d in alice.get("/datasets")] == [ds]

    calls = {"calls": [{"method": "getObject", "params": {"Key": "hello.txt"}}]}
    for method, path, body in (
        ("GET", f"/datasets/{ds}", None),
        ("POST", f"/datasets/{ds}", {"name": "stolen"}),
        ("DELETE", f"/datasets/{ds}", None),
        ("GET", f"/datasets/{ds}/versions", None),
        ("POST", f"/datasets/{ds}/versions", {"message": "intruder"}),
        ("GET", f"/datasets/{ds}/versions/{v}", None),
        ("POST", f"/datasets/{ds}/versions/{v}", {"message": "intruder"}),
        ("DELETE", f"/datasets/{ds}/versions/{v}", None),
        ("POST", f"/datasets/{ds}/versions/{v}/s3/preSignedUrls", calls),
        ("GET", f"/datasets/{ds}/tags", None),
        ("GET", f"/datasets/{ds}/tags/prod", None),
        ("PUT", f"/datasets/{ds}/tags/prod", {"version": v}),
        ("PUT", f"/datasets/{own}/tags/prod", {"version": v}),
        ("DELETE", f"/datasets/{ds}/tags/prod", None),
        ("GET", f"/datasets/ref/{ds}:latest", None),
        ("GET", f"/datasets/ref/{ds}:prod", None),
        ("GET", f"/datasets/ref/alice/{ds}:{v}", None),
        ("GET", f"/storageProviders/{provider}", None),
        ("POST", f"/storageProviders/{provider}", {"name": "stolen"}),
        ("DELETE", f"/storageProviders/{provider}", None),
        ("POST", "/datasets", {"name": "theirs", "storageProviderId": provider}),
    ):
        response = bob.api.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert "hello" not in response.text and "filled" not in response.text
    # alice's things are untouched
    assert alice.get(f"/datasets/{ds}")["name"] == "filled"
    assert alice.get(f"/datasets/{ds}/tags/prod")["version"]["version"] == v
    assert [x["message"] for x in alice.get(f"/datasets/{ds}/versions")] == [None]


def test_a_grant_of_one_team_does_not_open_another_teams_files(
    alice: Gradient, bob: Gradient, filled: tuple[str, str]
) -> None:
    ds, v = filled
    own = bob.dataset("bobs")
    bv = bob.version(own)
    bob.put(own, bv, "hello.txt", b"bob's")
    (url,) = bob.presign(own, bv, ("getObject", {"Key": "hello.txt"}))
    assert bob.s3.get(url).content == b"bob's"
    stolen = url.replace(f"/{own}/{bv}/", f"/{ds}/{v}/")
    s3_error(bob.s3.get(stolen), 403, "AccessDenied")


def test_errors_carry_a_message_a_gradient_client_finds(alice: Gradient) -> None:
    response = alice.api.get("/datasets/dsnotthere00000")
    body = response.json()
    assert response.status_code == 404
    # Gradient's client collects strings under `error`/`message` keys, descending into dicts
    assert body["error"]["message"] == "Dataset not found: dsnotthere00000"
    anonymous = alice.s3.get("/datasets")
    assert anonymous.status_code == 401 and anonymous.json()["error"]["message"]


def test_storage_provider_routes(alice: Gradient, s3_config: dict[str, str]) -> None:
    created = alice.post("/storageProviders", {"name": "mine", "type": "s3", "config": s3_config})
    pid = created["id"]
    assert pid.startswith("spl") and created["type"] == "s3"
    assert created["config"]["secretAccessKey"] == "********"
    assert s3_config["secretAccessKey"] not in json.dumps(alice.get("/storageProviders"))
    assert alice.get(f"/storageProviders/{pid}")["name"] == "mine"
    assert alice.post(f"/storageProviders/{pid}", {"name": "renamed"})["name"] == "renamed"
    names = alice.get("/storageProviders", **{"filter[order][]": "name ASC"})
    assert [p["name"] for p in names] == sorted(p["name"] for p in names)
    bad = {"name": "x", "type": "gcs", "config": s3_config}
    api_error(alice.api.post("/storageProviders", json=bad), 400)
    typo = {"name": "y", "type": "s3", "config": {**s3_config, "secretAcessKey": "k"}}
    api_error(alice.api.post("/storageProviders", json=typo), 400)

    ds = alice.post("/datasets", {"name": "on-s3", "storageProviderId": pid})["id"]
    v = alice.version(ds)
    alice.put(ds, v, "/small.txt", b"small")
    alice.commit(ds, v)
    assert alice.get_object(ds, v, "small.txt") == b"small"
    api_error(alice.api.delete(f"/storageProviders/{pid}"), 409)  # a dataset uses it
    assert alice.api.delete(f"/datasets/{ds}").status_code == 204
    assert alice.api.delete(f"/storageProviders/{pid}").status_code == 204
    api_error(alice.api.get(f"/storageProviders/{pid}"), 404)
