"""`cargohold server` (the team server) and `apiKey` / `logout` (talking to one)."""

from __future__ import annotations

import socket

import click

from cargohold.errors import ConfigurationError
from cargohold.settings import Settings, load_config, save_config

DEFAULT_PORT = 8000


@click.command("server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes (use PostgreSQL for more than one).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
def server(host: str, port: int, workers: int, log_level: str) -> None:
    """Run the team server: the HTTP API on the catalog and storage of this machine's settings
    (CARGOHOLD_DATABASE_URL, CARGOHOLD_HOME and the managed provider's settings)."""
    import uvicorn

    from cargohold.api.app import create_app
    from cargohold.api.observe import configure_logging

    settings = Settings.from_env()
    if workers > 1 and settings.database_url.startswith("sqlite"):
        raise click.UsageError("--workers above 1 needs CARGOHOLD_DATABASE_URL on PostgreSQL")
    _check_free(host, port)
    configure_logging(log_level)
    click.echo(f"cargohold server on http://{host}:{port} (catalog: {_where(settings)})", err=True)
    click.echo(
        "Create a team and its first API key with: cargohold admin create-team --name NAME",
        err=True,
    )
    if workers > 1:
        uvicorn.run(
            "cargohold.api.app:app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=log_level,
            access_log=False,
        )
    else:
        uvicorn.run(
            create_app(settings), host=host, port=port, log_level=log_level, access_log=False
        )


def _check_free(host: str, port: int) -> None:
    """Say plainly, before anything starts, that the address cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot listen on {host}:{port}: {exc.strerror or exc}",
                hint="Stop what uses that port, or choose another with --port",
            ) from None


def _where(settings: Settings) -> str:
    url = settings.database_url
    return url.split("@")[-1] if "@" in url else url  # never the password


@click.command("apiKey")
@click.argument("key")
@click.option(
    "--server",
    "server",
    metavar="URL",
    help="Also save the server to talk to (else CARGOHOLD_SERVER).",
)
def api_key(key: str, server: str | None) -> None:
    """Save an API key (and a server) for later commands, as Gradient's `apiKey` did."""
    from cargohold.client.http import server_url  # httpx, only for this command

    home = Settings.from_env().home
    values: dict[str, str | None] = {"apiKey": key.strip()}
    if server:
        values["server"] = server_url(server)
    path = save_config(home, values)
    click.echo(f"Saved API key to {path}")
    if not load_config(home).get("server") and not Settings.from_env().server:
        click.echo("Hint: name the server too: cargohold apiKey KEY --server http://HOST:8000")


@click.command("logout")
def logout() -> None:
    """Forget the saved API key and server."""
    home = Settings.from_env().home
    path = save_config(home, {"apiKey": None, "server": None})
    click.echo(f"Removed the saved API key from {path}")
