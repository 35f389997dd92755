"""LoopBack's list filters, as Gradient's API takes them: `filter[limit]`, `filter[skip]`
(or `offset`), `filter[order]` / `filter[order][]`, `filter[where][FIELD]=value` (equality),
or all of them as JSON in `filter=`. Applied to rendered rows, whose keys are Gradient's field
names; a field a list does not offer is a 400."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from cargohold.errors import InvalidInput

Json = dict[str, Any]

_FILTER_KEY = re.compile(r"^filter((?:\[[^\[\]]*\])*)$")
_ORDER = re.compile(r"^\s*(\w+)(?:\s+(ASC|DESC))?\s*$", re.IGNORECASE)


@dataclass
class LoopBackFilter:
    """`filter[limit]`, `filter[skip]` (or `offset`), `filter[order]` / `filter[order][]`,
    `filter[where][FIELD]=value` (equality), or all of them as JSON in `filter=`. Applied to
    the rendered rows, whose keys are Gradient's field names."""

    where: list[tuple[str, str]] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (field, descending)
    skip: int = 0
    limit: int | None = None

    @classmethod
    def parse(
        cls, request: Request, where_fields: Iterable[str], order_fields: Iterable[str]
    ) -> LoopBackFilter:
        found = cls()
        for key, value in request.query_params.multi_items():
            match = _FILTER_KEY.fullmatch(key)
            if match is None:
                continue
            path = re.findall(r"\[([^\[\]]*)\]", match.group(1))
            if path:
                found._add(path, value)
            else:
                found._add_json(value)
        found._check(set(where_fields), set(order_fields))
        return found

    def _add(self, path: list[str], value: Any) -> None:
        head, rest = path[0], path[1:]
        if head == "limit" and not rest:
            self.limit = _count("limit", value, minimum=1)
        elif head in ("skip", "offset") and not rest:
            self.skip = _count(head, value, minimum=0)
        elif head == "order" and (not rest or (len(rest) == 1 and _is_index(rest[0]))):
            self.order += [_order_term(t) for t in _as_list(value)]
        elif head == "where" and len(rest) == 1 and not isinstance(value, dict | list):
            self.where.append((rest[0], _text(value)))
        else:
            where = "filter" + "".join(f"[{p}]" for p in path)
            raise InvalidInput(
                f"Unsupported filter: {where}",
                hint="Supported: filter[limit], filter[skip], filter[order][], "
                "filter[where][FIELD]=VALUE",
                filter=where,
            )

    def _add_json(self, text: str) -> None:
        try:
            parsed = json.loads(text)
        except ValueError:
            raise InvalidInput(f"filter is not JSON: {text[:80]!r}") from None
        if not isinstance(parsed, dict):
            raise InvalidInput("filter must be a JSON object")
        for key, value in parsed.items():
            if key == "where" and isinstance(value, dict):
                for name, wanted in value.items():
                    self._add(["where", name], wanted)
            else:
                self._add([key], value)

    def _check(self, where_fields: set[str], order_fields: set[str]) -> None:
        for name, _ in self.where:
            if name not in where_fields:
                raise _unknown_field("filter[where]", name, where_fields)
        for name, _ in self.order:
            if name not in order_fields:
                raise _unknown_field("filter[order]", name, order_fields)

    def apply(self, rows: list[Json]) -> list[Json]:
        for name, wanted in self.where:
            rows = [r for r in rows if _equals(r.get(name), wanted)]
        for name, descending in reversed(self.order):  # stable sorts, last key first
            rows.sort(key=functools.partial(_sort_key, name), reverse=descending)
        rows = rows[self.skip :]
        return rows if self.limit is None else rows[: self.limit]


def _is_index(text: str) -> bool:
    """`filter[order][]` or `filter[order][0]`."""
    return text == "" or text.isdigit()


def _count(name: str, value: Any, minimum: int) -> int:
    try:
        number = int(str(value))
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise InvalidInput(
            f"filter[{name}] must be an integer of at least {minimum}, not {value!r}",
            filter=name,
        )
    return number


def _as_list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [t for item in items for t in str(item).split(",") if t.strip()]


def _order_term(text: str) -> tuple[str, bool]:
    match = _ORDER.fullmatch(text)
    if match is None:
        raise InvalidInput(
            f"Invalid filter[order]: {text!r}",
            hint="Use FIELD ASC or FIELD DESC, e.g. 'name ASC' or 'dtCreated DESC'",
        )
    return match.group(1), (match.group(2) or "ASC").upper() == "DESC"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _unknown_field(where: str, name: str, known: set[str]) -> InvalidInput:
    return InvalidInput(
        f"Unknown field in {where}: {name!r}",
        hint=f"Fields here: {', '.join(sorted(known))}",
        field=name,
    )


def _equals(value: Any, wanted: str) -> bool:
    if isinstance(value, bool):
        flag = wanted.strip().lower()
        if flag not in ("true", "false", "1", "0"):
            raise InvalidInput(f"filter[where] expects true or false, not {wanted!r}")
        return value == (flag in ("true", "1"))
    return _text(value) == wanted


def _sort_key(name: str, row: Json) -> tuple[bool, Any]:
    value = row.get(name)
    return (value is None, value if value is not None else 0)


def page(
    request: Request, rows: list[Json], where: Sequence[str], order: Sequence[str]
) -> list[Json]:
    """The rows the request's filter selects; `where` and `order` name the fields it may use."""
    return LoopBackFilter.parse(request, where, order).apply(rows)
