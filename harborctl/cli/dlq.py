"""harborctl dlq: placeholder until its module lands."""

import typer

app = typer.Typer(help="dlq", no_args_is_help=True)
