"""harborctl alerts: placeholder until its module lands."""

import typer

app = typer.Typer(help="alerts", no_args_is_help=True)
