"""harborctl backlog: what waits in NSQ (per topic/channel/nsqd) and in the database."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer

from harborctl.cli.options import JsonFlag
from harborctl.cli.output import emit, fail, print_json

if TYPE_CHECKING:
    from rich.console import Group

    from harborctl.observability.backlog import BacklogHistory, BacklogSnapshot
    from harborctl.settings import Settings

# exit code of --fail-above when the backlog is above the threshold
EXIT_ABOVE = 8

Collect = Callable[[], "BacklogSnapshot"]


def register(app: typer.Typer) -> None:
    app.command("backlog")(backlog)


def backlog(
    watch: bool = typer.Option(False, "--watch", "-w", help="Keep refreshing (Ctrl-C stops)."),
    interval: float = typer.Option(
        2.0, "--interval", "-n", min=0.2, help="Seconds between refreshes with --watch."
    ),
    fail_above: int | None = typer.Option(
        None,
        "--fail-above",
        min=0,
        help=f"Exit {EXIT_ABOVE} when more than N messages wait (NSQ depth with the nsq "
        "transport, queued + retrying deliveries with db).",
    ),
    database: bool = typer.Option(
        True, "--db/--no-db", help="Include per-endpoint counts from the database."
    ),
    as_json: JsonFlag = False,
) -> None:
    """Backlog per topic/channel (depth, in flight, deferred, rate, trend) and per endpoint.

    Rate and trend need more than one sample: they fill in with --watch.
    """
    from harborctl.observability.backlog import BacklogHistory
    from harborctl.settings import load_settings

    settings = load_settings()
    history = BacklogHistory()
    collect = _collector(settings, database)
    if watch:
        _watch(settings, collect, history, interval, as_json)
        return
    snapshot = collect()
    history.add(snapshot)
    data = _data(settings, snapshot, history)
    if not snapshot.nodes and snapshot.endpoints is None and snapshot.errors:
        fail("; ".join(snapshot.errors))
    emit(data, as_json, lambda: _print(_render(data)))
    if fail_above is not None and data["waiting"] > fail_above:
        fail(f"backlog {data['waiting']} is above {fail_above}", EXIT_ABOVE)


def _collector(settings: Settings, database: bool) -> Collect:
    from harborctl.observability.backlog import take_snapshot

    store = None
    if database:
        from harborctl.store import Store

        store = Store.open(settings.resolved_database_url).events
    lookupds = settings.nsqlookupd_http_addresses if settings.transport == "nsq" else None

    def collect() -> BacklogSnapshot:
        return take_snapshot(lookupds, store)

    return collect


def _data(settings: Settings, snapshot: BacklogSnapshot, history: BacklogHistory) -> dict[str, Any]:
    from harborctl.observability.backlog import report

    data = report(snapshot, history)
    data["transport"] = settings.transport
    data["waiting"] = snapshot.nsq_waiting if settings.transport == "nsq" else snapshot.db_waiting
    return data


def _watch(
    settings: Settings, collect: Collect, history: BacklogHistory, interval: float, as_json: bool
) -> None:
    from rich.live import Live

    from harborctl.cli.output import console

    try:
        if as_json:  # one JSON document per refresh, for scripts that tail it
            while True:
                snapshot = collect()
                history.add(snapshot)
                print_json(_data(settings, snapshot, history))
                time.sleep(interval)
        with Live(console=console, auto_refresh=False, screen=False) as live:
            while True:
                snapshot = collect()
                history.add(snapshot)
                live.update(_render(_data(settings, snapshot, history), interval), refresh=True)
                time.sleep(interval)
    except KeyboardInterrupt:
        return


def _print(group: Group) -> None:
    from rich.console import Console
    from rich.measure import Measurement

    from harborctl.cli.output import console

    if console.is_terminal:
        console.print(group)
        return
    # piped: as wide as the data, one line per row, so grep and cut work
    wide = console.options.update_width(10_000)
    width = max(console.width, Measurement.get(console, wide, group).maximum)
    Console(width=width, highlight=False).print(group)


def _render(data: dict[str, Any], interval: float | None = None) -> Group:
    """The table view of the same data ``--json`` prints."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from harborctl.observability.backlog import sparkline

    parts: list[Any] = []
    stamp = time.strftime("%H:%M:%S", time.localtime(data["taken_at"]))
    refresh = f", every {interval:g}s" if interval else ""
    parts.append(
        Text(
            f"backlog at {stamp} (transport {data['transport']}{refresh}): "
            f"{data['waiting']} waiting",
            style="bold",
        )
    )
    for name in data["growing"]:
        parts.append(Text(f"WARNING: depth is growing on {name}", style="bold red"))
    for error in data["errors"]:
        parts.append(Text(f"error: {error}", style="red"))

    if data["transport"] == "nsq":
        table = Table(title="NSQ channels", title_justify="left")
        for column in ("topic", "channel", "nsqd"):
            table.add_column(column, overflow="fold")
        for column in ("depth", "in flight", "deferred", "requeued", "timed out", "clients"):
            table.add_column(column, justify="right")
        table.add_column("Δ/min", justify="right")
        table.add_column("trend")
        for row in data["channels"]:
            rate = row["rate_per_minute"]
            style = "red" if row["growing"] else ""
            table.add_row(
                Text(row["topic"]),
                Text(row["channel"]),
                Text(row["nsqd"]),
                Text(str(row["depth"]), style=style),
                str(row["in_flight"]),
                str(row["deferred"]),
                str(row["requeued"]),
                str(row["timed_out"]),
                str(row["clients"]),
                "-" if rate is None else f"{rate:+.1f}",
                Text(sparkline(row["trend"]), style=style or "cyan"),
            )
        parts.append(table)
        waiting_topics = [t for t in data["topics"] if t["depth"]]
        for topic in waiting_topics:
            parts.append(
                Text(
                    f"topic {topic['topic']} on {topic['nsqd']}: {topic['depth']} not yet in "
                    "any channel (no channel, or the topic is paused)",
                    style="yellow",
                )
            )
        if not data["channels"]:
            parts.append(Text("no NSQ channels yet", style="dim"))

    if data["endpoints"] is not None:
        table = Table(title="Deliveries per endpoint (database)", title_justify="left")
        table.add_column("tenant", overflow="fold")
        table.add_column("endpoint", overflow="fold")
        for column in ("queued", "retrying", "inflight", "dead"):
            table.add_column(column, justify="right")
        for row in data["endpoints"]:
            table.add_row(
                Text(row["tenant_id"]),
                Text(row["endpoint_id"]),
                str(row["queued"]),
                str(row["retrying"]),
                str(row["inflight"]),
                Text(str(row["dead"]), style="red" if row["dead"] else ""),
            )
        parts.append(table if data["endpoints"] else Text("no deliveries waiting", style="dim"))
    return Group(*parts)
