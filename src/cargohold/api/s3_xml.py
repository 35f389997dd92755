"""S3's XML: the ListObjectsV2 answer and the error shape of `/gradient-s3/...` URLs."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi.responses import Response

from cargohold.api import observe
from cargohold.api.gradient_grants import Grant, b64
from cargohold.errors import (
    CargoholdError,
    DatasetNotFound,
    InvalidInput,
    NotFound,
    VersionNotFound,
)
from cargohold.services.gradient_files import Page, split_prefix

S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


def list_result(grant: Grant, page: Page) -> Response:
    """S3's ListObjectsV2 answer, keys spelled from the Prefix as the client sent it."""
    _, stem = split_prefix(grant.prefix)
    root = ET.Element("ListBucketResult", xmlns=S3_XMLNS)
    rows, truncated = page.rows, page.truncated
    fields = [
        ("Name", grant.dataset),
        ("Prefix", grant.prefix),
        ("Delimiter", grant.delimiter),
        ("MaxKeys", str(grant.max_keys)),
        ("KeyCount", str(len(rows))),
        ("IsTruncated", "true" if truncated else "false"),
        ("ContinuationToken", grant.token),
        ("NextContinuationToken", b64(rows[-1].name.encode()) if truncated else ""),
    ]
    for tag, text in fields:
        if text or tag == "Prefix":
            ET.SubElement(root, tag).text = text
    for row in (r for r in rows if not r.is_dir):
        item = ET.SubElement(root, "Contents")
        ET.SubElement(item, "Key").text = grant.prefix + row.name[len(stem) :]
        ET.SubElement(item, "Size").text = str(row.size)
        ET.SubElement(item, "StorageClass").text = "STANDARD"
    for row in (r for r in rows if r.is_dir):
        item = ET.SubElement(root, "CommonPrefixes")
        ET.SubElement(item, "Prefix").text = grant.prefix + row.name[len(stem) :]
    return Response(_xml(root), media_type="application/xml")


def s3_code(exc: CargoholdError) -> str:
    """S3's name for one of cargohold's errors."""
    if isinstance(exc, DatasetNotFound | VersionNotFound):
        return "NoSuchBucket"
    if isinstance(exc, NotFound):
        return "NoSuchKey"
    if isinstance(exc, InvalidInput):
        return "InvalidArgument"
    return "".join(word.capitalize() for word in exc.code.split("-"))


def error(status: int, code: str, message: str, key: str, ours: str, head: bool) -> Response:
    """S3's XML error shape (no body for HEAD, as S3); `ours` is cargohold's error code."""
    headers = {observe.ERROR_CODE_HEADER: ours}
    if head:
        return Response(status_code=status, headers=headers)
    root = ET.Element("Error")
    for tag, text in (("Code", code), ("Message", message), ("Key", key)):
        ET.SubElement(root, tag).text = text
    return Response(_xml(root), status_code=status, media_type="application/xml", headers=headers)


def _xml(root: ET.Element) -> bytes:
    text = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + text).encode()
