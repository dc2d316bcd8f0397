"""harborctl up/down/status: placeholder until its module lands."""

import typer


def register(app: typer.Typer) -> None:
    pass
