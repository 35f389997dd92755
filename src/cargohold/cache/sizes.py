"""Sizes as people write them ("10G", "500MiB", "1.5g") and as we print them."""

from __future__ import annotations

import re
from decimal import Decimal

from cargohold.errors import InvalidInput

_UNITS = "KMGTPE"
_NAMES = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
_SIZE = re.compile(
    r"\s*(?P<number>\d+(?:\.\d*)?|\.\d+)\s*(?:(?P<unit>[kmgtpe])(?:i?b)?|b)?\s*",
    re.IGNORECASE,
)
_HINT = (
    "Write a size like 10G, 10GiB, 500M, 500MB, 1.5g or 123 (bytes); units are binary (K = 1024)"
)


def parse_size(text: str) -> int:
    """Bytes in `text`; units are binary, so "1K", "1KB" and "1KiB" all mean 1024."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise InvalidInput(f"not a size: {text!r}", hint=_HINT, text=text)
    unit = (match["unit"] or "").upper()
    exponent = _UNITS.index(unit) + 1 if unit else 0
    return int(Decimal(match["number"]) * 1024**exponent)


def format_size(n: int) -> str:
    """A short human-readable size: "512 B", "10 GiB", "1.5 GiB"."""
    if n < 0:
        return "-" + format_size(-n)
    exponent = 0
    while exponent < len(_NAMES) - 1 and round(n / 1024**exponent, 1) >= 1024:
        exponent += 1
    if exponent == 0:
        return f"{n} B"
    number = f"{n / 1024**exponent:.1f}".removesuffix(".0")
    return f"{number} {_NAMES[exponent]}"
