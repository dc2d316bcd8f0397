"""harborctl: one typer sub-app per command group. Heavy imports live inside commands."""
