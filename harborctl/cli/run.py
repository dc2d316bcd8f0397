"""harborctl run ingest|worker|monitor|migrate|receiver: run one HarborHook process in the
foreground."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Run one HarborHook process in the foreground.", no_args_is_help=True)


@app.command()
def ingest(
    host: str | None = typer.Option(None, help="Listen address (default: settings ingest_host)."),
    port: int | None = typer.Option(None, help="Listen port (default: settings ingest_port)."),
) -> None:
    """The ingest HTTP API (publish, endpoints, subscriptions, DLQ)."""
    from harborctl.ingest.server import serve
    from harborctl.settings import load_settings

    overrides: dict[str, object] = {}
    if host is not None:
        overrides["ingest_host"] = host
    if port is not None:
        overrides["ingest_port"] = port
    serve(load_settings(**overrides))


@app.command()
def worker(
    max_in_flight: int | None = typer.Option(None, help="Deliveries in parallel."),
    metrics_port: int | None = typer.Option(None, help="Port of this worker's /metrics."),
) -> None:
    """A delivery worker: consumes the transport, signs and POSTs, retries, dead-letters."""
    from harborctl.settings import load_settings
    from harborctl.worker.runner import run_worker

    overrides: dict[str, object] = {}
    if max_in_flight is not None:
        overrides["worker_max_in_flight"] = max_in_flight
    if metrics_port is not None:
        overrides["worker_metrics_port"] = metrics_port
    run_worker(load_settings(**overrides))


@app.command()
def monitor(
    port: int | None = typer.Option(None, help="Port of /metrics (default: monitor_port)."),
    interval: float | None = typer.Option(None, help="Seconds between backlog polls."),
) -> None:
    """The backlog monitor: NSQ topic/channel stats and the database backlog on /metrics."""
    from harborctl.monitor import run_monitor
    from harborctl.settings import load_settings

    overrides: dict[str, object] = {}
    if port is not None:
        overrides["monitor_port"] = port
    if interval is not None:
        overrides["monitor_poll_interval"] = interval
    run_monitor(load_settings(**overrides))


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest revision, then exit (idempotent).

    Ingest and workers migrate at start too; running this first (the compose stack's
    one-shot `migrate` service) keeps several of them from racing to do it.
    """
    from harborctl.cli.output import console
    from harborctl.settings import load_settings
    from harborctl.store import Store
    from harborctl.store.database import migrate as migrate_schema

    settings = load_settings()
    store = Store.open(settings.resolved_database_url)
    try:
        migrate_schema(store.engine)
    finally:
        store.dispose()
    console.print(f"database migrated: {store.engine.url.render_as_string()}", highlight=False)


@app.command()
def receiver(
    host: str = typer.Option("127.0.0.1", help="Listen address."),
    port: int = typer.Option(9000, help="Listen port."),
    secret: str | None = typer.Option(
        None, envvar="HARBORHOOK_RECEIVER_SECRET", help="whsec_ secret to verify signatures."
    ),
    record_file: Path | None = typer.Option(None, help="Append what arrives as JSON lines."),
) -> None:
    """A local test endpoint: scripted answers chosen by path, all recorded.

    \b
    POST /[{label}/...]{behaviour}[?options]  (label: free segments,
    own counters; counters are per exact path)
      ok              200
      fail/{n}        500 for the first n POSTs to the path, then 200;
                      ?status=503 sets the failing status
      flaky/{n}       like fail, counted per delivery (webhook-id)
      status/{code}   always {code} (200-599)
      slow/{seconds}  wait (e.g. slow/0.5), then 200
      hang            never answer until the client or receiver stops
      stream/{mib}    200 at once, then a {mib} MiB body (1-4096)
      trickle/{n}     200 at once, then an n-byte body, one byte a second
    ?retry_after=N adds Retry-After to fail/status error answers;
    ?location=URL adds Location to status answers (status/302?location=...).
    Other paths 404, bad arguments 400, other methods 405.

    \b
    With --secret, an invalid Standard Webhooks signature turns a 2xx
    answer into 401; scripted failures are kept.
    Inspection: GET /_received[?path=&webhook_id=&label=&limit=],
    GET /_count[?path=], POST /_reset (not the file), GET /healthz.
    Control: POST /_switch {"path": "/a/status/500", "to": "/ok"} answers
    that path as another behaviour ("to": null undoes it); GET /_switch.
    """
    from harborctl.receiver.server import serve

    serve(host=host, port=port, secret=secret, record_file=record_file)
