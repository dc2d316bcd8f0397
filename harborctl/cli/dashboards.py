"""harborctl dashboards: generate the Grafana dashboards, push them to a Grafana, show them here."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from harborctl.cli.options import JsonFlag
from harborctl.cli.output import console, emit, note, print_json, print_table

if TYPE_CHECKING:
    from harborctl.dashboards.generate import RenderedDashboard
    from harborctl.dashboards.readings import Window
    from harborctl.settings import Settings

app = typer.Typer(
    help="Grafana dashboards as code: generate them, push them to a Grafana, or draw them "
    "in the terminal from Prometheus.",
    no_args_is_help=True,
)

COMPOSE_DASHBOARDS = Path("deploy/docker/grafana/dashboards")
COMPOSE_PROVISIONING = Path("deploy/docker/grafana/provisioning/dashboards")
SHOW_POINTS = 30  # sparkline width: the number of points of each time series

Values = Annotated[
    list[str] | None,
    typer.Option(help="Show only this value (repeat for several; default All)."),
]


def _settings() -> Settings:
    from harborctl.settings import load_settings

    return load_settings()


def _render(settings: Settings, defaults: bool = False) -> list[RenderedDashboard]:
    from harborctl.alerting_spec import AlertingSpec, SloSpec
    from harborctl.dashboards.generate import render_dashboards
    from harborctl.grafana_spec import GrafanaSpec

    if defaults:
        return render_dashboards(SloSpec(), AlertingSpec(), GrafanaSpec())
    return render_dashboards(settings.slo, settings.alerting, settings.grafana)


@app.command("generate")
def generate(
    out: Path | None = typer.Option(
        None, "--out", help="Directory for the dashboards (default <state_dir>/grafana/dashboards)."
    ),
    defaults: bool = typer.Option(
        False,
        "--defaults",
        help="Render from the built-in slo/alerting/grafana defaults, ignoring the config.",
    ),
    compose: bool = typer.Option(
        False,
        "--compose",
        help="Write the compose stack's committed copies: the dashboards under "
        f"{COMPOSE_DASHBOARDS} and the provider under {COMPOSE_PROVISIONING}, from the "
        "built-in defaults (run from the repository root).",
    ),
    as_json: JsonFlag = False,
) -> None:
    """Render the four dashboards from templates/grafana/, check them and write them.

    Objective, burn windows, thresholds and runbook links come from the same `slo:` and
    `alerting:` config as the alert rules; datasource uids and the folder from `grafana:`.
    """
    from harborctl.dashboards.generate import write_dashboards, write_provider
    from harborctl.grafana_spec import GrafanaSpec

    settings = _settings()
    rendered = _render(settings, defaults or compose)
    directory = COMPOSE_DASHBOARDS if compose else out or settings.layout.dashboards_dir
    files = write_dashboards(directory, rendered)
    if compose:
        files.append(write_provider(COMPOSE_PROVISIONING, GrafanaSpec()))
    data = {
        "files": [str(path) for path in files],
        "dashboards": [{"name": d.file.name, "uid": d.model.uid} for d in rendered],
    }

    def human() -> None:
        for path in files:
            console.print(str(path), highlight=False)

    emit(data, as_json, human)


def _read_token(path: Path) -> str:
    from harborctl.errors import ValidationError

    try:
        token = path.read_text().strip()
        mode = path.stat().st_mode
    except OSError as exc:
        raise ValidationError("--token-file", f"cannot read {path}: {exc.strerror}") from exc
    if not token:
        raise ValidationError("--token-file", f"{path} is empty")
    if mode & 0o077:
        note(f"{path} is readable by other users: `chmod 600 {path}` keeps the token yours")
    return token


@app.command("push")
def push(
    grafana_url: str = typer.Option(
        ..., "--grafana-url", help="Base URL of your Grafana (https://grafana.example.com)."
    ),
    token_file: Path = typer.Option(
        ...,
        "--token-file",
        help="File holding a Grafana service account token (Editor role or above).",
    ),
    as_json: JsonFlag = False,
) -> None:
    """Create or update the HarborHook folder and dashboards in a running Grafana.

    Dashboards are saved by uid with overwrite, so pushing again replaces what is there;
    unchanged ones are left alone. Datasource uids come from the `grafana:` config: they
    must match your Grafana's Prometheus, Loki and Tempo datasources.
    """
    from harborctl.dashboards.grafana import GrafanaClient, push_dashboards

    settings = _settings()
    rendered = _render(settings)
    token = _read_token(token_file)
    with GrafanaClient(grafana_url, token) as client:
        changes = push_dashboards(client, settings.grafana, [d.json for d in rendered])
    rows = [change.to_json() for change in changes]
    emit(
        {"grafana_url": grafana_url.rstrip("/"), "changes": rows},
        as_json,
        lambda: print_table(rows, ["kind", "uid", "title", "action", "version", "url"]),
    )


def _window(settings: Settings, minutes: float, at: float | None) -> Window:
    from harborctl.alerting_spec import duration_seconds
    from harborctl.dashboards.readings import Window

    return Window(
        end=at if at is not None else time.time(),
        range_seconds=minutes * 60,
        points=SHOW_POINTS,
        scrape_seconds=duration_seconds(settings.prometheus_scrape_interval),
    )


@app.command("show")
def show(
    name: str = typer.Argument(
        "overview", help="overview, slo, queue or correlation (or a dashboard uid)."
    ),
    tenant: Values = None,
    endpoint: Values = None,
    minutes: float = typer.Option(15.0, "--minutes", "-m", min=1, help="Time range to draw."),
    at: float | None = typer.Option(
        None, "--at", help="Read the dashboard as of this unix time instead of now."
    ),
    watch: bool = typer.Option(False, "--watch", "-w", help="Keep refreshing (Ctrl-C stops)."),
    interval: float = typer.Option(
        10.0, "--interval", "-n", min=1, help="Seconds between refreshes with --watch."
    ),
    prometheus_url: str | None = typer.Option(
        None, "--prometheus-url", help="Prometheus to read (default: the prometheus_url setting)."
    ),
    as_json: JsonFlag = False,
) -> None:
    """Draw a dashboard in the terminal from the same panel queries Grafana runs.

    The queries are read from the generated dashboard itself, with the variables substituted
    as Grafana does; --json prints what Prometheus answered to each of them.
    """
    from harborctl.dashboards.inputs import DASHBOARDS, dashboard_named
    from harborctl.dashboards.prometheus import PrometheusClient
    from harborctl.dashboards.readings import read_dashboard
    from harborctl.dashboards.view import draw_dashboard
    from harborctl.errors import NotFound

    settings = _settings()
    wanted = dashboard_named(name)
    if wanted is None:
        known = ", ".join(d.name for d in DASHBOARDS)
        raise NotFound("dashboard", f"{name!r} (known: {known})")
    [dashboard] = [d.model for d in _render(settings) if d.file == wanted]
    selections = {"tenant": tenant or [], "endpoint": endpoint or []}
    url = prometheus_url or settings.prometheus_url

    def read() -> Any:
        with PrometheusClient(url) as client:
            window = _window(settings, minutes, at)
            return read_dashboard(client, dashboard, selections, window)

    if not watch:
        reading = read()
        emit(reading.to_json(), as_json, lambda: _print(draw_dashboard(reading)))
        return
    _watch(read, interval, as_json)


def _watch(read: Any, interval: float, as_json: bool) -> None:
    from rich.live import Live

    from harborctl.dashboards.view import draw_dashboard

    try:
        if as_json:  # one JSON document per refresh
            while True:
                print_json(read().to_json())
                time.sleep(interval)
        with Live(console=console, auto_refresh=False, screen=False) as live:
            while True:
                live.update(draw_dashboard(read()), refresh=True)
                time.sleep(interval)
    except KeyboardInterrupt:
        return


def _print(renderable: Any) -> None:
    from rich.console import Console

    if console.is_terminal:
        console.print(renderable)
        return
    # piped: a fixed, wide layout, so a capture reads the same everywhere
    Console(width=160, highlight=False).print(renderable)
