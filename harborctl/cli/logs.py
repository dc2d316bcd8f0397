"""harborctl logs: placeholder until its module lands."""

import typer

app = typer.Typer(help="logs", no_args_is_help=True)
