"""harborctl soak: the real stack under steady load and scheduled faults, then an accounting
of every delivery (``harborctl.soak``).

Exit codes: 0 when nothing was lost, the pipeline drained in time and every fault was
injected; 1 otherwise (the figures are still printed); 2 bad options (a load too short for
its faults); the stack's own errors keep their codes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer

from harborctl.cli.options import JsonFlag
from harborctl.cli.output import console, emit, err_console, fail

if TYPE_CHECKING:
    from rich.progress import TaskID

    from harborctl.soak.plan import SoakPlan


def register(root: typer.Typer) -> None:
    root.command("soak")(soak)


def soak(
    minutes: float = typer.Option(
        1.5,
        min=0.1,
        help="Minutes of load (the faults are spread over it; the drain comes after). "
        "1.5 is the CI-sized run; longer soaks repeat the round of faults.",
    ),
    events_per_second: float = typer.Option(
        100.0,
        min=1.0,
        max=5000.0,
        help="The steady publish rate (open loop). Above what the stack accepts on this "
        "machine publishes queue up and time out: the run then takes longer.",
    ),
    drain_timeout: float = typer.Option(
        150.0, min=5.0, help="Seconds after the load for every delivery to end (deadline)."
    ),
    workers: int = typer.Option(3, min=1, max=16, help="Delivery workers."),
    nsqd_nodes: int = typer.Option(2, "--nsqd-nodes", min=1, max=8, help="nsqd nodes."),
    as_json: JsonFlag = False,
) -> None:
    """Soak a throwaway stack (PostgreSQL, nsqd behind nsqlookupd, several workers) with a
    steady load while killing a worker, restarting an nsqd and PostgreSQL, stopping the
    receiver and making nsqd spill to disk; then count every delivery: delivered, dead (with
    reasons), lost (must be 0), duplicates (each attributed to a fault), time to drain,
    worker memory.
    """
    from harborctl.soak.plan import SoakPlan
    from harborctl.stack.status import StackStartFailed

    plan = SoakPlan(
        events_per_second=events_per_second,
        load_seconds=minutes * 60,
        drain_seconds=drain_timeout,
        workers=workers,
        nsqd_nodes=nsqd_nodes,
    )
    plan.faults()  # a load too short for its faults: exit 2 before anything starts
    try:
        report = _run_with_progress(plan, quiet=as_json)
    except StackStartFailed as exc:
        from harborctl.cli.stack import report_start_failure

        report_start_failure(exc)
        raise
    emit(report, as_json, lambda: print_report(report))
    if report["problems"]:
        fail("soak failed: " + "; ".join(report["problems"]))


def _run_with_progress(plan: SoakPlan, *, quiet: bool) -> dict[str, Any]:
    from rich.progress import Progress

    from harborctl.soak.run import run_soak

    with Progress(console=err_console, transient=True, disable=quiet) as bar:
        tasks: dict[str, TaskID] = {}
        status = bar.add_task("starting", total=None)

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        def say(message: str) -> None:
            bar.update(status, description=message)
            if not quiet:
                err_console.print(f"[dim]{message}[/]", highlight=False)

        return run_soak(plan, say=say, progress=progress)


# --------------------------------------------------------------------------- the human report


def print_report(report: dict[str, Any]) -> None:
    """The report for people: the run, the faults table, the accounting table."""
    from rich.table import Table

    run, publish, deliveries, drain = (
        report["run"],
        report["publish"],
        report["deliveries"],
        report["drain"],
    )
    stack = run["stack"]
    console.print(
        f"[bold]HarborHook soak[/] {run['run_id']}: {run['events_per_second']:g} events/s for "
        f"{run['load_seconds']:g} s; {stack['database']} + {stack['transport']}, "
        f"{stack['workers']} workers, {stack['nsqd_nodes']} nsqd "
        f"(mem-queue-size {stack['nsqd_mem_queue_size']})",
        highlight=False,
    )

    faults = Table(title="faults", show_edge=False, pad_edge=False, title_justify="left")
    for column in ("at s", "fault", "target", "lasted s", "evidence"):
        faults.add_column(column, justify="right" if column.endswith(" s") else "left")
    for fault in report["faults"]:
        evidence = ", ".join(f"{k}={v}" for k, v in fault["detail"].items() if k != "down_at")
        if fault["error"]:
            evidence = f"[red]NOT INJECTED: {fault['error']}[/]"
        faults.add_row(
            f"{fault['at_seconds']:.1f}",
            fault["kind"],
            fault["target"],
            f"{fault['seconds']:.1f}",
            evidence,
        )
    console.print(faults)

    table = Table(title="accounting", show_edge=False, pad_edge=False, title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("detail")
    refusals = ", ".join(f"{k}: {v}" for k, v in publish["refusals"].items()) or "none"
    by_fault = ", ".join(f"{k}: {v}" for k, v in publish["refusals_by_fault"].items())
    rows: list[tuple[str, str, str]] = [
        (
            "accepted events",
            f"{publish['accepted']:,}",
            f"of {publish['planned']:,}; {publish['accepted_per_second']:g}/s",
        ),
        (
            "publishes retried",
            f"{publish['retried_events']:,}",
            f"refusals {refusals}"
            + (f" ({by_fault})" if by_fault else "")
            + f"; no answer {publish['no_answer']}",
        ),
        ("server errors (5xx, not 503)", _n(sum(publish["server_errors"].values())), ""),
        ("deliveries expected", f"{deliveries['expected']:,}", ""),
        ("delivered", f"{deliveries['delivered']:,}", ""),
        (
            "dead",
            f"{deliveries['dead']:,}",
            ", ".join(f"{k}: {v}" for k, v in deliveries["dead_reasons"].items()),
        ),
        (
            "[bold]lost[/]",
            _n(deliveries["lost"], bad=True),
            ", ".join("/".join(p) for p in deliveries["lost_sample"][:3]),
        ),
        (
            "duplicates",
            f"{deliveries['duplicates']:,}",
            ", ".join(f"{k}: {v}" for k, v in deliveries["duplicates_by_fault"].items()),
        ),
        (
            "unexpected / missing rows",
            f"{deliveries['unexpected']} / {deliveries['missing_rows']}",
            "",
        ),
        (
            "drain after last fault",
            f"{drain['seconds_after_last_fault']} s"
            if drain["drained"]
            else f"[red]not drained ({drain['pending']} pending)[/]",
            f"{drain['seconds_after_load']} s after the load" if drain["drained"] else "",
        ),
    ]
    for worker in report["workers"]:
        rows.append(
            (
                f"{worker['name']} RSS MiB",
                f"{worker['rss_mib_start']} → {worker['rss_mib_end']}",
                f"pid {worker['pid_start']} → {worker['pid_end']}",
            )
        )
    for row in rows:
        table.add_row(*row)
    console.print(table)
    for error in publish["first_errors"]:
        console.print(f"[yellow]publish error:[/] {error}", highlight=False)
    if report["problems"]:
        for problem in report["problems"]:
            console.print(f"[red]problem:[/] {problem}", highlight=False)
    else:
        console.print("[green]nothing lost, drained in time, every fault injected[/]")


def _n(value: int, *, bad: bool = False) -> str:
    if bad and value:
        return f"[red]{value:,}[/]"
    return f"{value:,}"
