"""harborctl bench: throughput, latency and CPU per delivery of a stack, with figures printed.

Exit codes: 0 when every delivery of an accepted event arrived and no publish failed
(refusals, 429/503, are figures, not failures); 1 otherwise (the figures are still printed);
2 bad options; the stack's own errors keep their codes.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

import typer

from harborctl.cli.options import ApiUrl, JsonFlag
from harborctl.cli.output import console, emit, err_console, fail

if TYPE_CHECKING:
    from rich.progress import TaskID

    from harborctl.bench.run import BenchConfig


class DatabaseChoice(StrEnum):
    sqlite = "sqlite"
    postgres = "postgres"


class TransportChoice(StrEnum):
    db = "db"
    nsq = "nsq"


def register(root: typer.Typer) -> None:
    root.command("bench")(bench)


def bench(
    concurrency: int = typer.Option(
        20,
        min=1,
        max=2000,
        help="Closed loop: publishes in flight, each sent when the last one is answered.",
    ),
    rate: float | None = typer.Option(
        None,
        min=0.1,
        help="Open loop: events per second on a fixed schedule; latency counts from each "
        "event's due time (no coordinated omission).",
    ),
    max_in_flight: int = typer.Option(
        512, min=1, max=10_000, help="Open loop: at most this many publishes open at once."
    ),
    events: int | None = typer.Option(
        None, min=1, help="Events to publish (default 2000 unless --duration is given)."
    ),
    duration: float | None = typer.Option(
        None, min=0.1, help="Seconds to publish for (with --events: whichever ends first)."
    ),
    fanout: int = typer.Option(
        2, "--fanout", min=1, max=50, help="Endpoints subscribed to each event."
    ),
    payload_bytes: int = typer.Option(200, min=0, max=512 * 1024, help="Padding per payload."),
    start: bool = typer.Option(
        False,
        "--start",
        help="Bring up a throwaway native stack for this run (temp state dir, free ports) "
        "and tear it down afterwards; without it, measure the running stack.",
    ),
    database: DatabaseChoice | None = typer.Option(
        None, help="--start: the stack's database [default: sqlite]."
    ),
    transport: TransportChoice | None = typer.Option(
        None, help="--start: the stack's transport [default: db]."
    ),
    workers: int = typer.Option(1, min=1, max=64, help="--start: delivery workers."),
    nsqd_nodes: int = typer.Option(
        1, "--nsqd-nodes", min=1, max=16, help="--start: nsqd nodes (transport nsq)."
    ),
    observability: bool = typer.Option(
        True,
        "--observability/--no-observability",
        help="--start: run Prometheus and Alertmanager too when installed (reported apart, "
        "never counted in the stack's CPU).",
    ),
    receiver_url: str | None = typer.Option(
        None,
        help="Deliver to this URL instead of the built-in receiver (every endpoint gets it; "
        "deliveries are then counted from the workers' metrics, latencies are unknown).",
    ),
    compare_nsq_to_http: bool = typer.Option(
        False,
        "--compare-nsq-to-http",
        help="Then push the same number of messages with NSQ's own nsq_to_http to the same "
        "receiver and print HarborHook's ratio to it.",
    ),
    timeout: float = typer.Option(
        60.0, min=1, help="Give up waiting for deliveries after this many seconds without one."
    ),
    api_url: ApiUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Measure a stack: accepted events/s, publish latency, refusals, deliveries/s,
    first-attempt and end-to-end latency, CPU and memory per process, CPU per delivery.

    Creates a throwaway tenant whose endpoints point at a receiver started here (a separate
    process). Figures are printed, never judged; run it on a quiet machine for figures
    worth comparing.
    """
    from harborctl.bench.load import LoadPlan
    from harborctl.bench.run import BenchConfig
    from harborctl.bench.target import ThrowawayOptions
    from harborctl.stack.status import StackStartFailed

    shaped = workers != 1 or nsqd_nodes != 1 or database or transport or not observability
    if not start and shaped:
        fail(
            "--database, --transport, --workers, --nsqd-nodes and --no-observability shape the "
            "stack of --start; shape the running one with `harborctl up`",
            2,
        )
    if nsqd_nodes > 1 and transport is not TransportChoice.nsq:
        fail("--nsqd-nodes needs --transport nsq", 2)
    if compare_nsq_to_http and receiver_url is not None:
        fail("--compare-nsq-to-http needs the built-in receiver (no --receiver-url)", 2)
    plan = LoadPlan(
        concurrency=concurrency,
        rate=rate,
        events=events if events is not None or duration is not None else 2000,
        duration=duration,
        max_in_flight=max_in_flight,
        payload_bytes=payload_bytes,
    )
    config = BenchConfig(
        load=plan,
        fanout=fanout,
        start=ThrowawayOptions(
            database=(database or DatabaseChoice.sqlite).value,
            transport=(transport or TransportChoice.db).value,
            workers=workers,
            nsqd_nodes=nsqd_nodes,
            observability=observability,
        )
        if start
        else None,
        api_url=api_url,
        receiver_url=receiver_url,
        compare_nsq_to_http=compare_nsq_to_http,
        stall_timeout=timeout,
    )
    try:
        report = _run_with_progress(config, quiet=as_json)
    except StackStartFailed as exc:
        from harborctl.cli.stack import report_start_failure

        report_start_failure(exc)
        raise

    emit(report, as_json, lambda: print_report(report))
    deliveries, publish = report["deliveries"], report["publish"]
    if not deliveries["complete"]:
        fail(
            f"only {deliveries['received']} of {deliveries['expected']} deliveries arrived "
            f"(none for {timeout:g}s)"
        )
    if publish["errors"]:
        fail(f"{publish['errors']} publishes failed: {'; '.join(publish['first_errors'])}")


def _run_with_progress(config: BenchConfig, *, quiet: bool) -> dict[str, Any]:
    from rich.progress import Progress

    from harborctl.bench.run import run_bench

    with Progress(console=err_console, transient=True, disable=quiet) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        status = bar.add_task("starting", total=None)

        def say(message: str) -> None:
            bar.update(status, description=message)

        return run_bench(config, say=say, progress=progress)


# --------------------------------------------------------------------------- the human report


def _ms(latency: dict[str, float] | None) -> str:
    if not latency:
        return "n/a"
    return " ".join(f"{q} {latency[q]:,.1f}" for q in ("p50", "p95", "p99", "max")) + " ms"


def _num(value: Any, digits: int = 0) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def print_report(report: dict[str, Any]) -> None:
    """The report for people: one paragraph per section, then the process table."""
    from rich.table import Table

    run, publish, deliveries, cpu = (
        report["run"],
        report["publish"],
        report["deliveries"],
        report["cpu"],
    )
    stack = run["stack"]
    load = (
        f"open loop at {run['rate']:g} events/s"
        if run["mode"] == "open"
        else f"closed loop, {run['concurrency']} in flight"
    )
    shape = f"{stack['database']} + {stack['transport']}, {stack['workers']} worker(s)"
    if stack["nsqd_nodes"]:
        shape += f", {stack['nsqd_nodes']} nsqd"
    origin = "throwaway stack" if stack["started"] else f"running stack at {stack['api_url']}"
    console.print(
        f"[bold]HarborHook bench[/]: {load}, fan-out {run['fanout']}; {shape} ({origin})",
        highlight=False,
    )
    console.print(
        f"publish      {publish['sent']:,} sent, {publish['accepted']:,} accepted, "
        f"{publish['refused']:,} refused (429/503), {publish['errors']:,} errors in "
        f"{publish['seconds']:.2f} s: [bold]{_num(publish['accepted_per_second'])} events/s"
        "[/] accepted",
        highlight=False,
    )
    console.print(f"             latency {_ms(publish['latency_ms'])}", highlight=False)
    if publish["refused"]:
        console.print(f"             refused in {_ms(publish['refused_latency_ms'])}")
    duplicates = deliveries.get("duplicates")
    console.print(
        f"deliveries   {deliveries['received']:,}/{deliveries['expected']:,}"
        + (f" in {deliveries['seconds']:.2f} s" if deliveries["seconds"] is not None else "")
        + f": [bold]{_num(deliveries['per_second'])} deliveries/s[/] end to end"
        + (f" ({duplicates} duplicates)" if duplicates else ""),
        highlight=False,
    )
    console.print(
        f"             first attempt {_ms(deliveries['first_attempt_ms'])}", highlight=False
    )
    console.print(f"             end to end    {_ms(deliveries['end_to_end_ms'])}", highlight=False)

    table = Table(title=None, show_edge=False, pad_edge=False)
    for column in ("process", "role", "CPU s", "CPU ms/delivery", "PSS MiB start/end/peak"):
        table.add_column(column, justify="left" if column in ("process", "role") else "right")
    for row in report["processes"]:
        end = "gone" if row["memory_mib_end"] is None else f"{row['memory_mib_end']:.0f}"
        table.add_row(
            row["name"] + (f" ({row['processes']})" if row["processes"] > 1 else ""),
            row["role"],
            _num(row["cpu_seconds"], 2),
            _num(row["cpu_ms_per_delivery"], 3),
            f"{row['memory_mib_start']:.0f} / {end} / {row['memory_mib_peak']:.0f}",
        )
    if report["processes"]:
        console.print(table)
    console.print(
        f"stack CPU    {_num(cpu['stack_seconds'], 2)} s: "
        f"[bold]{_num(cpu['stack_ms_per_delivery'], 3)} ms per delivery[/]"
        + (
            f", ingest {_num(cpu['ingest_ms_per_event'], 3)} ms per event"
            if cpu["ingest_ms_per_event"] is not None
            else ""
        )
        + (
            f", {cpu['postgres_sessions_opened']:,} PostgreSQL sessions opened"
            if cpu.get("postgres_sessions_opened") is not None
            else ""
        ),
        highlight=False,
    )
    reference = report.get("nsq_to_http")
    if reference:
        console.print(
            f"nsq_to_http  {reference['delivered']:,}/{reference['messages']:,} in "
            f"{reference['seconds']:.2f} s: [bold]{_num(reference['deliveries_per_second'])} "
            f"deliveries/s[/], {_num(reference['cpu_ms_per_delivery'], 3)} ms CPU per delivery "
            f"(nsqd + nsq_to_http); HarborHook: {_num(reference['harborhook_rate_ratio'], 3)}x "
            f"the rate, {_num(reference['harborhook_cpu_ratio'], 1)}x the CPU per delivery",
            highlight=False,
        )
    for note in report["notes"]:
        console.print(f"note: {note}", style="yellow", highlight=False)
