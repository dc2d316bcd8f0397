"""harborctl backlog: placeholder until its module lands."""

import typer


def register(app: typer.Typer) -> None:
    pass
