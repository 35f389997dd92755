"""Byte stores: keys to bytes, nothing more (``BlobStore``), and ``ObjectDB`` over them."""

from cargohold.blobs.base import CHUNK, BlobStore
from cargohold.blobs.local import LocalBlobStore
from cargohold.blobs.odb import ObjectDB

__all__ = ["CHUNK", "BlobStore", "LocalBlobStore", "ObjectDB"]
