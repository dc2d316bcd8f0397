"""harborctl subscriptions: placeholder until its module lands."""

import typer

app = typer.Typer(help="subscriptions", no_args_is_help=True)
