"""harborctl bench: end-to-end throughput of the running stack."""

from __future__ import annotations

import typer

from harborctl.cli.options import ApiUrl, JsonFlag
from harborctl.cli.output import console, emit, fail


def register(root: typer.Typer) -> None:
    root.command("bench")(bench)


def bench(
    events: int = typer.Option(2000, min=1, help="Events to publish."),
    endpoints: int = typer.Option(2, min=1, max=50, help="Endpoints subscribed to each event."),
    concurrency: int = typer.Option(20, min=1, max=500, help="Publish calls in flight."),
    timeout: float = typer.Option(120.0, min=1, help="Seconds to wait for every delivery."),
    api_url: ApiUrl = None,
    as_json: JsonFlag = False,
) -> None:
    """Publish EVENTS to a throwaway tenant and measure events/s and deliveries/s.

    Needs a running stack (`harborctl up`); the endpoints point at a receiver started here.
    """
    from rich.progress import Progress, TaskID

    from harborctl.cli.throughput import run_bench
    from harborctl.client import open_client

    with (
        open_client(api_url, admin=True) as admin,
        Progress(console=console, transient=True, disable=as_json) as bar,
    ):
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done)

        result = run_bench(
            admin,
            events=events,
            endpoints=endpoints,
            concurrency=concurrency,
            timeout=timeout,
            progress=progress,
        )

    def human() -> None:
        console.print(
            f"published {result.events} events in {result.publish_seconds:.2f}s: "
            f"[bold]{result.events_per_second:.0f} events/s[/] "
            f"(p50 {result.publish_p50_ms} ms, p99 {result.publish_p99_ms} ms, "
            f"{concurrency} in flight)"
        )
        console.print(
            f"delivered {result.deliveries_received}/{result.deliveries_expected} in "
            f"{result.delivery_seconds:.2f}s from the first publish: "
            f"[bold]{result.deliveries_per_second:.0f} deliveries/s[/]"
        )

    emit(result.as_dict(), as_json, human)
    if result.deliveries_received < result.deliveries_expected:
        fail(
            f"only {result.deliveries_received} of {result.deliveries_expected} deliveries "
            f"arrived within {timeout:g}s"
        )
