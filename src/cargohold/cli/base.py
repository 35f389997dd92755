"""Shared command machinery: Gradient's common options, --optionsFile, --json, --id checks."""

from __future__ import annotations

import dataclasses
import difflib
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from cargohold.cli.render import echo_json
from cargohold.services import Services, build_services
from cargohold.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

EX_DS = "dsr8k5qzn401lb5"
EX_VERSION = "klfoyy9"
EX_TAG = "prod"


class Group(click.Group):
    """A command group that suggests the command you probably meant."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if args and self.get_command(ctx, name) is None and not name.startswith("-"):
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" Did you mean '{close[0]}'?" if close else ""
            raise click.UsageError(f"No such command '{name}'.{hint}", ctx)
        return super().resolve_command(ctx, args)


class LeafCommand(click.Command):
    """A command with Gradient's common options; `--optionsFile` fills in missing options."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.params.extend(common_options())

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        path = _scan_option(args, "--optionsFile")
        if path:
            ctx.default_map = {**(ctx.default_map or {}), **self._load_options(path)}
        return super().parse_args(ctx, args)

    def _load_options(self, path: str) -> dict[str, Any]:
        try:
            import yaml  # only for the commands that read or write YAML

            data = yaml.safe_load(Path(path).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise click.BadParameter(f"cannot read options file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise click.BadParameter(f"options file {path} must hold a mapping of option names")
        by_flag = {o.lstrip("-"): p for p in self.params for o in getattr(p, "opts", [])}
        values: dict[str, Any] = {}
        for key, value in data.items():
            param = by_flag.get(str(key))
            if param is None or param.name is None:
                raise click.BadParameter(f"unknown option {key!r} in options file {path}")
            if param.multiple and not isinstance(value, list):
                value = [value]
            values[param.name] = value
        return values

    def invoke(self, ctx: click.Context) -> Any:
        target = ctx.params.get("create_options_file")
        if target:
            _write_options_file(self, ctx, target)
            return None
        CALL_OVERRIDES.clear()
        for name in ("api_key", "server"):  # per call, ahead of the environment and config
            if ctx.params.get(name):
                CALL_OVERRIDES[name] = ctx.params[name]
        return super().invoke(ctx)


def _scan_option(args: list[str], flag: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def _write_options_file(cmd: click.Command, ctx: click.Context, target: str) -> None:
    skip = {"options_file", "create_options_file", "api_key", "server", "json_output", "debug"}
    data: dict[str, Any] = {}
    for param in cmd.params:
        secret = "secret" in (param.name or "").lower()  # never written to disk in clear
        if isinstance(param, click.Option) and param.name not in skip and not secret:
            data[param.opts[0].lstrip("-")] = _plain(ctx.params.get(param.name or ""))
    import yaml

    Path(target).write_text(yaml.safe_dump(data, sort_keys=False))
    click.echo(f"Options file written: {target}")


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def common_options() -> list[click.Parameter]:
    return [
        click.Option(["--apiKey", "api_key"], help="API key for this call (server mode)."),
        click.Option(
            ["--server", "server"],
            metavar="URL",
            help="Talk to this cargohold server (default: CARGOHOLD_SERVER, else local).",
        ),
        click.Option(
            ["--optionsFile", "options_file"],
            type=click.Path(dir_okay=False),
            help="YAML file of option values (keys are option names without dashes).",
        ),
        click.Option(
            ["--createOptionsFile", "create_options_file"],
            type=click.Path(dir_okay=False),
            help="Write the command's options to a YAML file and exit.",
        ),
        click.Option(["--json", "json_output"], is_flag=True, help="Print JSON for scripts."),
        click.Option(["--debug"], is_flag=True, help="Show tracebacks of errors."),
    ]


def command(group: click.Group, name: str, **kwargs: Any) -> Callable[[F], F]:
    """Register a leaf command on `group` with the common options."""
    return group.command(name, cls=LeafCommand, **kwargs)  # type: ignore[return-value]


# -- services, built once per process and only when a command needs them ------------------


CALL_OVERRIDES: dict[str, str] = {}
"""`--apiKey` and `--server` of the command being run."""


def settings() -> Settings:
    """The settings of this call: the environment and saved config, then `--apiKey` and
    `--server` on top."""
    found = Settings.from_env()
    return dataclasses.replace(
        found,
        api_key=CALL_OVERRIDES.get("api_key", found.api_key),
        server=CALL_OVERRIDES.get("server", found.server),
    )


@functools.cache
def services() -> Services:
    """The services of this call: in-process, or through the server when one is named."""
    current = settings()
    if current.server:
        from cargohold.client.services import connect

        return connect(current)
    return build_services(current)


# -- Gradient's --id checks -----------------------------------------------------------------


def bare_id(value: str) -> str:
    if ":" in value:
        raise click.UsageError(f"The '--id' option should not have a version/tag (ex: {EX_DS})")
    _need_dataset(value, EX_DS)
    return value


def version_id(value: str) -> str:
    dataset, sep, version = value.partition(":")
    _need_dataset(dataset, f"{EX_DS}:{EX_VERSION}")
    if not sep or not version:
        raise click.UsageError(
            f"The '--id' option is missing the version (ex: {EX_DS}:{EX_VERSION})"
        )
    return value


def tag_id(value: str) -> tuple[str, str]:
    dataset, sep, tag = value.partition(":")
    _need_dataset(dataset, f"{EX_DS}:{EX_TAG}")
    if not sep or not tag:
        raise click.UsageError(f"The '--id' option is missing the tag (ex: {EX_DS}:{EX_TAG})")
    return dataset, tag


def _need_dataset(dataset: str, example: str) -> None:
    if not dataset.split("/")[-1]:
        raise click.UsageError(f"The '--id' option is missing the dataset ID (ex: {example})")


# -- options that several commands share ----------------------------------------------------


def source_paths_option(help_text: str, *, required: bool = False) -> Callable[[F], F]:
    return click.option(
        "--source-path",
        "--sourcePath",
        "source_paths",
        multiple=True,
        required=required,
        help=help_text,
    )


def target_path_option(help_text: str, *, required: bool = False) -> Callable[[F], F]:
    return click.option(
        "--target-path", "--targetPath", "target_path", required=required, help=help_text
    )


def bool_value_option(*names: str, default: bool, help_text: str) -> Callable[[F], F]:
    """A boolean taking `true`/`false` as Gradient's did, or standing alone as a flag."""
    return click.option(
        *names,
        type=click.BOOL,
        is_flag=False,
        flag_value=True,
        default=default,
        show_default=True,
        help=help_text,
    )


def jobs_option() -> Callable[[F], F]:
    return click.option(
        "--jobs",
        "-j",
        type=click.IntRange(1, 256),
        default=None,
        help="Parallel transfers (default: CARGOHOLD_JOBS, else 8).",
    )


def emit(json_output: bool, payload: Any, message: str) -> None:
    """Print the object as JSON for scripts, or Gradient's one-line message for people."""
    if json_output:
        echo_json(payload)
    else:
        click.echo(message)
