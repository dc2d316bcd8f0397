"""harborctl traces: placeholder until its module lands."""

import typer

app = typer.Typer(help="traces", no_args_is_help=True)
