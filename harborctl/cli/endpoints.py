"""harborctl endpoints: placeholder until its module lands."""

import typer

app = typer.Typer(help="endpoints", no_args_is_help=True)
