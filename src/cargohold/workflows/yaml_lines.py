"""Safe YAML loading that remembers where every mapping key and list item was written.

:func:`load_with_lines` answers the plain data (what ``yaml.safe_load`` would) and a table
from key paths (tuples of keys, list indexes as strings) to 1-based line numbers, so that a
validation error can name the line of the key it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

KeyPath = tuple[str, ...]

MAX_KEYS = 100_000
"""More keys and items than this, counted with aliases expanded, is refused (an alias bomb)."""


@dataclass
class Loaded:
    """A YAML document's data, the line of each key path, and its duplicate keys."""

    data: Any
    lines: dict[KeyPath, int] = field(default_factory=dict)
    duplicates: list[tuple[KeyPath, int]] = field(default_factory=list)

    def line(self, path: KeyPath) -> int:
        """The line of `path`, or of its nearest ancestor that has one (1 at worst)."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class YamlSyntaxError(Exception):
    """Bad YAML, with the 1-based line where the parser gave up."""

    def __init__(self, line: int, problem: str) -> None:
        super().__init__(problem)
        self.line = line
        self.problem = problem


def load_with_lines(text: str) -> Loaded:
    """Parse one YAML document safely; raise :class:`YamlSyntaxError` on bad YAML."""
    try:
        loader = yaml.SafeLoader(text)  # refuses unprintable characters already
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise YamlSyntaxError(line, f"invalid YAML: {exc.reason}") from exc
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _syntax_error(exc) from exc
    finally:
        loader.dispose()
    loaded = Loaded(data)
    if node is not None:
        loaded.lines[()] = node.start_mark.line + 1
        _walk(node, (), loaded, set())
    return loaded


def _syntax_error(exc: yaml.YAMLError) -> YamlSyntaxError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else 1
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    text = f"invalid YAML: {context}, {problem}" if context else f"invalid YAML: {problem}"
    return YamlSyntaxError(line, text)


def _walk(node: yaml.Node, path: KeyPath, loaded: Loaded, open_: set[int]) -> None:
    if id(node) in open_:  # an alias to a node that contains it: `&a [*a]`
        raise YamlSyntaxError(node.start_mark.line + 1, "invalid YAML: an alias refers to itself")
    if len(loaded.lines) > MAX_KEYS:
        raise YamlSyntaxError(1, f"invalid YAML: more than {MAX_KEYS} keys, aliases expanded")
    if isinstance(node, yaml.CollectionNode):
        open_.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = (*path, key)
            line = key_node.start_mark.line + 1
            if key in seen:
                loaded.duplicates.append((child, line))
            else:
                seen.add(key)
                loaded.lines[child] = line
            _walk(value_node, child, loaded, open_)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, str(index))
            loaded.lines[child] = item.start_mark.line + 1
            _walk(item, child, loaded, open_)
    open_.discard(id(node))
