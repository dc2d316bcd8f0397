"""harborctl tenants: placeholder until its module lands."""

import typer

app = typer.Typer(help="tenants", no_args_is_help=True)
