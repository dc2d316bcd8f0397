"""The harborctl entry point: composes every command group."""

from __future__ import annotations

import typer

from harborctl.cli import (
    alert_ops,
    alerts,
    backlog,
    bench,
    compose,
    config,
    dashboards,
    deliveries,
    demo,
    dlq,
    endpoints,
    events,
    logs,
    run,
    soak,
    stack,
    subscriptions,
    tenants,
    traces,
)
from harborctl.cli.output import OneLineErrors

app = typer.Typer(
    cls=OneLineErrors,  # the project's errors: one line on stderr, their exit code
    name="harborctl",
    help="HarborHook: multi-tenant webhook delivery, driven from one CLI.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

stack.register(app)  # up, down, status
app.add_typer(run.app, name="run")
app.add_typer(tenants.app, name="tenants")
app.add_typer(endpoints.app, name="endpoints")
app.add_typer(subscriptions.app, name="subscriptions")
app.add_typer(events.app, name="events")
app.add_typer(deliveries.app, name="deliveries")
app.add_typer(dlq.app, name="dlq")
backlog.register(app)  # backlog
alert_ops.register(alerts.app)  # send-test, status, silence, unsilence, routes
app.add_typer(alerts.app, name="alerts")
app.add_typer(dashboards.app, name="dashboards")
app.add_typer(traces.app, name="traces")
app.add_typer(logs.app, name="logs")
bench.register(app)  # bench
config.register(app)  # config
app.add_typer(compose.app, name="compose")
demo.register(app)  # demo
soak.register(app)  # soak


def main() -> None:
    app()
