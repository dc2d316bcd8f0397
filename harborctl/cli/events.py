"""harborctl events: placeholder until its module lands."""

import typer

app = typer.Typer(help="events", no_args_is_help=True)
