"""Docs that cannot rot: the generated reference is fresh and covers every command, error code
and setting; the JSON error shape is pinned."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from cargohold.cli import docs
from cargohold.cli.main import cli
from cargohold.errors import ERROR_CLASSES, CargoholdError, error_from_json

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SRC = ROOT / "src"


def read_doc(name: str) -> str:
    path = DOCS / name
    assert path.is_file(), f"{path} is missing: run scripts/docs"
    return path.read_text()


# -- (1) the files on disk are what the generator writes ------------------------------------


@pytest.mark.parametrize("name", sorted(docs.render_all()))
def test_generated_docs_are_fresh(name: str) -> None:
    assert read_doc(name) == docs.render_all()[name], f"docs/{name} is stale: run scripts/docs"


def test_check_mode_reports_stale_files(tmp_path: Path) -> None:
    assert docs.main(["--check", "--docs-dir", str(tmp_path)]) == 1
    assert docs.main(["--docs-dir", str(tmp_path)]) == 0
    assert docs.main(["--check", "--docs-dir", str(tmp_path)]) == 0


# -- (2) every command, found by walking Click's tree ourselves -----------------------------


def command_paths(
    cmd: click.Command, path: str, seen: dict[int, str]
) -> Iterator[tuple[str, click.Command, str | None]]:
    """(path, command, path it is an alias of) for every visible command."""
    if not isinstance(cmd, click.Group):
        return
    ctx = click.Context(cmd)
    for name in cmd.list_commands(ctx):
        sub = cmd.get_command(ctx, name)
        if sub is None or sub.hidden:
            continue
        sub_path = f"{path} {name}"
        if id(sub) in seen or (sub.name != name and sub.name in cmd.list_commands(ctx)):
            yield sub_path, sub, seen.get(id(sub), f"{path} {sub.name}")
            continue
        seen[id(sub)] = sub_path
        yield sub_path, sub, None
        yield from command_paths(sub, sub_path, seen)


def cli_sections() -> dict[str, str]:
    """docs/cli.md split by its `## `cargohold ...`` headings."""
    parts = re.split(r"^## `([^`]+)`$", read_doc("cli.md"), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_command_is_documented() -> None:
    sections = cli_sections()
    assert "cargohold" in sections
    paths = list(command_paths(cli, "cargohold", {id(cli): "cargohold"}))
    assert any(alias for _, _, alias in paths), "expected `datasets version` as an alias"
    for path, cmd, alias_of in paths:
        if alias_of is not None:
            assert f"`{path}` is an alias of `{alias_of}`" in read_doc("cli.md")
            continue
        assert path in sections, f"`{path}` is not in docs/cli.md: run scripts/docs"
        for param in cmd.params:
            for spelling in getattr(param, "opts", []):
                assert spelling in sections[path] or spelling in common_section(), (
                    f"{spelling} of `{path}` is undocumented: run scripts/docs"
                )


def common_section() -> str:
    return read_doc("cli.md").split("## `cargohold`", 1)[0]


# -- (3) every error code -------------------------------------------------------------------


def test_every_error_code_is_documented() -> None:
    text = read_doc("errors.md")
    for code, cls in ERROR_CLASSES.items():
        row = f"| `{code}` | {cls.status} | `{cls.__name__}` |"
        assert row in text, f"error code {code} is not in docs/errors.md: run scripts/docs"


def test_errors_docstring_names_every_class() -> None:
    import cargohold.errors as errors

    for cls in ERROR_CLASSES.values():
        assert cls.__name__ in (errors.__doc__ or ""), (
            f"{cls.__name__} is missing from the tree in the docstring of errors.py"
        )


# -- (4) every CARGOHOLD_* variable in the source tree --------------------------------------


def source_texts() -> Iterator[tuple[Path, str]]:
    for path in sorted(SRC.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path, path.read_text(errors="ignore")


def test_every_setting_is_documented() -> None:
    text = read_doc("settings.md")
    found = {
        (name, path.relative_to(ROOT))
        for path, source in source_texts()
        for name in re.findall(r"CARGOHOLD_[A-Z0-9_]+", source)
    }
    assert found
    for name, path in sorted(found):
        assert f"| `{name}` |" in text, (
            f"{name} (used in {path}) is not in docs/settings.md: add it to SETTINGS in "
            "src/cargohold/cli/docs.py and run scripts/docs"
        )


def test_every_documented_setting_is_used() -> None:
    docs_py = Path(docs.__file__).resolve()
    used = "".join(source for path, source in source_texts() if path.resolve() != docs_py)
    for name, _, _ in docs.SETTINGS:
        assert name in used, f"{name} is documented in SETTINGS but no code reads it"


# -- (5) the one JSON error shape -----------------------------------------------------------


def test_error_shape() -> None:
    body = CargoholdError("went wrong", hint="do this", dataset="ds1").to_json()
    assert body == {
        "error": {
            "code": "error",
            "message": "went wrong",
            "hint": "do this",
            "details": {"dataset": "ds1"},
        }
    }


@pytest.mark.parametrize("code", sorted(ERROR_CLASSES))
def test_error_round_trips_through_json(code: str) -> None:
    cls = ERROR_CLASSES[code]
    for error in (cls("went wrong", hint="do this", dataset="ds1", n=3), cls("no hint given")):
        wire = json.loads(json.dumps(error.to_json()))
        assert set(wire) == {"error"}
        assert set(wire["error"]) == {"code", "message", "hint", "details"}
        back = error_from_json(wire)
        assert type(back) is cls
        assert (back.message, back.hint, back.details) == (
            error.message,
            error.hint,
            error.details,
        )
        assert back.status == cls.status


# -- (6) codes are kebab-case and unique ----------------------------------------------------


def cargohold_error_classes() -> list[type[CargoholdError]]:
    """Every class of the tree defined by cargohold (tests may define their own)."""
    found, todo = [], [CargoholdError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("cargohold."):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_error_codes_are_kebab_case_and_unique() -> None:
    classes = cargohold_error_classes()
    codes = [cls.code for cls in classes]
    duplicates = sorted({c for c in codes if codes.count(c) > 1})
    assert not duplicates, f"error codes used by more than one class: {duplicates}"
    for cls in classes:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", cls.code), f"{cls.__name__}: {cls.code!r}"
        assert ERROR_CLASSES[cls.code] is cls
