"""The shapes every part of a workflow spec is checked against: mappings with known keys,
strings, ``secret:NAME`` values, types, dataset references. Each problem is recorded with
the key path it is about; nothing is raised here."""

from __future__ import annotations

from typing import Any, cast

from cargohold.domain.refs import PUBLIC_NAMESPACES, parse_ref
from cargohold.errors import InvalidReference
from cargohold.workflows.model import EnvValue, SecretRef
from cargohold.workflows.problems import Problems
from cargohold.workflows.yaml_lines import KeyPath, Loaded

GITHUB_ACTIONS_KEYS = frozenset(
    {"name", "run-name", "permissions", "concurrency", "runs-on", "steps", "strategy", "if"}
    | {"timeout-minutes", "continue-on-error", "container", "services", "defaults", "env"}
)
RESOURCES_KEYS = ("instance-type", "container-registries")


class YamlChecks:
    def __init__(self, source: str, loaded: Loaded) -> None:
        self.source = source
        self.loaded = loaded
        self.problems = Problems()

    def add(self, path: KeyPath, problem: str) -> None:
        self.problems.add(self.source, self.loaded, path, problem)

    def mapping(self, value: Any, path: KeyPath, what: str = "a mapping") -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(path, f"must be {what}")
            return {}
        return cast(dict[str, Any], value)

    def keys(
        self, value: dict[str, Any], path: KeyPath, allowed: tuple[str, ...], top: bool = False
    ) -> None:
        for key in value:
            if key in allowed:
                continue
            note = ""
            if top and key in GITHUB_ACTIONS_KEYS:
                note = " (a GitHub-Actions key that Gradient workflows do not support)"
            self.add((*path, str(key)), f"unknown key{note}; known keys: {', '.join(allowed)}")

    def string(self, value: Any, path: KeyPath) -> str | None:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str | int | float):
            return str(value)
        self.add(path, "must be a string")
        return None

    def env(self, value: Any, path: KeyPath) -> dict[str, EnvValue]:
        env: dict[str, EnvValue] = {}
        for name, raw in self.mapping(value, path).items():
            text = self.string(raw, (*path, name))
            if text is not None:
                env[str(name)] = self.secret_or_text(text, (*path, name))
        return env

    def secret_or_text(self, text: str, path: KeyPath) -> EnvValue:
        if not text.startswith("secret:"):
            return text
        name = text.removeprefix("secret:")
        if not name:
            self.add(path, "secret: names no secret (secret:NAME)")
        return SecretRef(name)

    def resources(self, value: Any, path: KeyPath) -> dict[str, Any]:
        resources = self.mapping(value, path)
        self.keys(resources, path, RESOURCES_KEYS)
        return dict(resources)

    def type_of(self, decl: dict[str, Any], path: KeyPath, allowed: tuple[str, ...]) -> str | None:
        if "type" not in decl:
            self.add(path, f"missing key type ({', '.join(allowed)})")
            return None
        typ = decl["type"]
        if typ not in allowed:
            self.add((*path, "type"), f"unknown type {typ!r}; known types: {', '.join(allowed)}")
            return None
        return str(typ)

    def ref_of(self, with_: dict[str, Any], path: KeyPath, what: str) -> tuple[str, KeyPath] | None:
        """``with.ref`` or the older ``with.id``: the text and its key path."""
        present = [k for k in ("ref", "id") if k in with_]
        if not present:
            self.add(path, f"missing key with.ref (the {what})")
            return None
        if len(present) > 1:
            self.add((*path, "with", "id"), "give with.ref or with.id, not both")
        key_path = (*path, "with", present[0])
        text = self.string(with_[present[0]], key_path)
        return (text, key_path) if text is not None else None

    def parse_ref(self, text: str, path: KeyPath, output: bool = False) -> bool:
        try:
            ref = parse_ref(text)
        except InvalidReference as exc:
            self.add(path, exc.message)
            return False
        if output and ref.selector is not None:
            self.add(path, f"an output names a dataset, not a version: {ref.dataset!r}")
        elif output and ref.namespace and ref.namespace.lower() in PUBLIC_NAMESPACES:
            self.add(path, f"public datasets cannot be written: {text!r}")
        return True
