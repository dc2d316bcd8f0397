"""harborctl deliveries: placeholder until its module lands."""

import typer

app = typer.Typer(help="deliveries", no_args_is_help=True)
