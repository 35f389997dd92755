"""The local cache of whole files by SHA-256, and materializing them into working trees."""

from cargohold.cache.materialize import METHODS, Materializer, Method
from cargohold.cache.sizes import format_size, parse_size
from cargohold.cache.store import Cache, CacheStatus, PruneResult

__all__ = [
    "METHODS",
    "Cache",
    "CacheStatus",
    "Materializer",
    "Method",
    "PruneResult",
    "format_size",
    "parse_size",
]
