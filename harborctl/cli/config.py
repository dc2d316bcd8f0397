"""harborctl config: the settings every command and process would use here, and where
each value comes from (environment, the running stack, the config file, the default)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import typer

from harborctl.cli.options import JsonFlag
from harborctl.cli.output import emit, print_table


def register(root: typer.Typer) -> None:
    root.command("config")(config)


def config(
    only: list[str] = typer.Argument(
        None, help="Settings to show (default: all), e.g. transport database_url."
    ),
    as_json: JsonFlag = False,
) -> None:
    """Show the effective settings and their sources; secrets are masked.

    Precedence, highest first: HARBORHOOK_* environment variables, what a running
    `harborctl up` decided (transport, addresses), the YAML config file (HARBORHOOK_CONFIG or
    <state dir>/harborhook.yaml), the built-in defaults. A bad value is one line naming it.
    """
    from harborctl.errors import ValidationError
    from harborctl.settings import SECRET_SETTINGS, Settings, load_settings, setting_sources

    settings = load_settings()
    unknown = sorted(set(only or ()) - set(Settings.model_fields))
    if unknown:
        raise ValidationError("setting", f"unknown setting(s): {', '.join(unknown)}")
    sources = setting_sources(settings)
    values = settings.model_dump(mode="json")
    names = only or list(Settings.model_fields)
    rows = [
        {
            "setting": name,
            "value": _shown(name, values[name], SECRET_SETTINGS),
            "source": sources[name],
        }
        for name in names
    ]

    def human() -> None:
        print_table(
            [{**row, "value": _text(row["value"])} for row in rows],
            ["setting", "value", "source"],
        )

    emit({"settings": rows}, as_json, human)


def _shown(name: str, value: Any, secrets: frozenset[str]) -> Any:
    """Secrets as ``****``; a password inside a database URL masked too."""
    if value is None:
        return None
    if name in secrets:
        return "****"
    if name == "database_url" and isinstance(value, str):
        parts = urlsplit(value)
        if parts.password:
            netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
            return urlunsplit(parts._replace(netloc=netloc))
    return value


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        import json

        return json.dumps(value, separators=(",", ":"))
    return "" if value is None else str(value)
