"""harborctl demo: the whole loop on this machine, from a published event to an alert in the
operator's inbox and back, with a check per pillar (``harborctl.demo``).

Exit codes: 0 every check passed; 1 a check failed (each named on stderr); 130 interrupted
(Ctrl-C or SIGTERM: what the demo changed is put back first); the project's own codes when it
cannot start (2 bad options or no Prometheus/Alertmanager, ...).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from harborctl.cli.options import JsonFlag, StateDir
from harborctl.cli.output import console, err_console, print_json

if TYPE_CHECKING:
    from harborctl.demo.model import DemoResult
    from harborctl.demo.summary import Summary
    from harborctl.telemetry.log_query import LogEntry
    from harborctl.telemetry.log_tail import LogSource
    from harborctl.telemetry.trace_model import SpanView
    from harborctl.telemetry.trace_tail import TraceSource

EXIT_INTERRUPTED = 130
SUMMARY_COLUMNS = ("published", "delivered", "retrying", "dead", "p99", "backlog")
PLAIN_EVERY = 5.0  # seconds between summary lines when no terminal shows the live view
LOG_LINES_SHOWN = 12


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def _p99(summary: Summary) -> str:
    return "-" if summary.p99_seconds is None else f"{summary.p99_seconds * 1000:.0f} ms"


def summary_table(summary: Summary) -> Table:
    """The live summary: one row, the columns of ``SUMMARY_COLUMNS``."""
    table = Table(box=None, pad_edge=False, padding=(0, 2))
    for column in SUMMARY_COLUMNS:
        table.add_column(column, justify="right")
    table.add_row(
        str(summary.published),
        f"[green]{summary.delivered}[/]",
        f"[yellow]{summary.retrying}[/]",
        f"[red]{summary.dead}[/]",
        _p99(summary),
        str(summary.backlog),
    )
    return table


def summary_line(summary: Summary) -> str:
    return (
        f"published {summary.published}, delivered {summary.delivered}, retrying "
        f"{summary.retrying}, dead {summary.dead}, p99 {_p99(summary)}, "
        f"backlog {summary.backlog}"
    )


class TerminalObserver:
    """The run on a terminal: phase lines, a progress bar with the live summary while traffic
    flows, the trace tree and its log lines. Without a terminal (a CI log): plain lines, a
    summary line every few seconds. ``quiet`` (--json): phases and notes on stderr only."""

    def __init__(self, out: Console, quiet: bool) -> None:
        self.out = out
        self.quiet = quiet
        self.live: Live | None = None
        self.progress: Progress | None = None
        self.task: Any = None
        self.last_plain = 0.0

    def step(self, text: str) -> None:
        self._end_live()
        self.out.print(f"[cyan]>[/] {escape(text)}", highlight=False, soft_wrap=True)

    def done(self, text: str) -> None:
        self._end_live()
        self.out.print(f"[green]✓[/] {escape(text)}", highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self._end_live()
        err_console.print(Text(text, style="yellow"), soft_wrap=True)

    def traffic(self, summary: Summary, elapsed: float, total: float | None, status: str) -> None:
        if self.quiet or not self.out.is_terminal:
            if time.monotonic() - self.last_plain >= PLAIN_EVERY:
                self.last_plain = time.monotonic()
                self.out.print(
                    f"  {elapsed:4.0f}s  {summary_line(summary)}  ({status})",
                    highlight=False,
                    soft_wrap=True,
                )
            return
        if self.live is None:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(bar_width=30),
                TextColumn("{task.fields[clock]}"),
                console=self.out,
            )
            self.task = self.progress.add_task("traffic", total=total, clock="")
            self.live = Live(console=self.out, refresh_per_second=4, transient=False)
            self.live.start()
        assert self.progress is not None
        clock = f"{elapsed:3.0f}s" + (f" of {total:.0f}s" if total else "")
        completed = min(elapsed, total) if total else None
        self.progress.update(
            self.task, completed=completed, total=total, description=status, clock=clock
        )
        self.live.update(Group(self.progress, summary_table(summary)))

    def traffic_done(self) -> None:
        self._end_live()

    def _end_live(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def evidence(self, spans: Sequence[SpanView], logs: Sequence[LogEntry]) -> None:
        if self.quiet or not spans:
            return
        from harborctl.cli.logs import log_line
        from harborctl.cli.traces import trace_tree

        self.out.print("\n[bold]One delivery's trace[/] (what `harborctl traces show` draws):")
        self.out.print(trace_tree(list(spans)), highlight=False)
        self.out.print(
            "[bold]Its log lines[/], joined by trace id (`harborctl logs tail --trace-id`):"
        )
        for entry in list(logs)[-LOG_LINES_SHOWN:]:
            self.out.print(log_line(entry), highlight=False, soft_wrap=True)
        self.out.print()


def check_table(result: DemoResult) -> Table:
    table = Table(title="HarborHook demo", min_width=40)
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for check in result.ordered_checks():
        verdict = "[green]ok[/]" if check.ok else "[red]FAILED[/]"
        if not check.checked:
            verdict = "[yellow]not run[/]"
        table.add_row(check.name, verdict, Text(check.detail))
    return table


def _minutes(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@contextmanager
def _trace_source() -> Iterator[TraceSource]:
    from harborctl.cli.traces import _source

    with _source() as source:
        yield source


@contextmanager
def _log_source() -> Iterator[LogSource]:
    from harborctl.cli.logs import _source

    with _source() as source:
        yield source


def _notify(value: str | None) -> tuple[str, ...]:
    from harborctl.errors import ValidationError

    if value is None:
        return ()
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",") if n.strip()))
    if not names or ("all" in names and len(names) > 1):
        raise ValidationError("--notify", "--notify: receiver names separated by commas, or all")
    return names


def demo(
    duration: float = typer.Option(
        30.0, "--duration", min=5.0, max=600.0, help="Seconds of traffic before healing."
    ),
    rate: float = typer.Option(
        4.0, "--rate", min=0.5, max=50.0, help="Events published per second."
    ),
    notify: str | None = typer.Option(
        None,
        "--notify",
        metavar="NAME[,NAME]|all",
        help="Also notify these receivers (`alerts set-slack/set-email/set-webhook`, see "
        "`alerts receivers`), or all of them; by default only the demo's own recorder.",
    ),
    keep: bool = typer.Option(
        False, "--keep", help="Leave the stack running if the demo had to start it."
    ),
    state_dir: StateDir = None,
    no_nsq: bool = typer.Option(
        False, "--no-nsq", help="When the demo starts the stack: the db transport."
    ),
    nsqd_tcp_port: int = typer.Option(4150, min=1, max=65535, help="nsqd TCP port (start)."),
    nsqd_http_port: int = typer.Option(4151, min=1, max=65535, help="nsqd HTTP port (start)."),
    nsqlookupd_tcp_port: int = typer.Option(
        4160, min=1, max=65535, help="nsqlookupd TCP port (start)."
    ),
    nsqlookupd_http_port: int = typer.Option(
        4161, min=1, max=65535, help="nsqlookupd HTTP port (start)."
    ),
    alert_timeout: float = typer.Option(
        120.0, "--alert-timeout", min=10.0, help="Longest wait for the alert to fire or resolve."
    ),
    seed: int | None = typer.Option(None, "--seed", help="Random seed of the event mix."),
    as_json: JsonFlag = False,
) -> None:
    """Prove the whole loop here: events, deliveries, traces, logs, metrics,
    an alert in your inbox, and back. About a minute or two.

    Starts the stack if it is not running (stops it again unless --keep).
    A demo tenant's endpoints on a local receiver are healthy, flaky,
    slow, rate-limited and dead; mixed traffic flows with a live summary;
    one delivery's trace and log lines are shown. On the demo alert
    profile the dead endpoint's burn pages within seconds, through
    Alertmanager, to a local recorder and the --notify receivers; then
    the endpoint heals, its DLQ is replayed, the alert resolves.

    Everything is put back (normal rules, your Alertmanager config byte
    for byte), Ctrl-C too; a check per pillar; exit code 1 names each
    check that failed.
    """
    from harborctl.cli.stack import _load_settings
    from harborctl.demo.model import DemoOptions, Sources
    from harborctl.demo.restore import interrupt_on_sigterm
    from harborctl.demo.run import DemoRun
    from harborctl.stack.model import StackOptions

    _load_settings(state_dir)  # --state-dir reaches every settings load through the env
    options = DemoOptions(
        duration=duration,
        rate=rate,
        notify=_notify(notify),
        keep=keep,
        stack=StackOptions(
            nsq=not no_nsq,
            nsqd_tcp_port=nsqd_tcp_port,
            nsqd_http_port=nsqd_http_port,
            nsqlookupd_tcp_port=nsqlookupd_tcp_port,
            nsqlookupd_http_port=nsqlookupd_http_port,
        ),
        alert_timeout=alert_timeout,
        seed=seed,
    )
    out = err_console if as_json else console
    observer = TerminalObserver(out, quiet=as_json)
    run = DemoRun(options, observer, Sources(traces=_trace_source, logs=_log_source))
    run.preflight()  # nothing changed yet: a problem is one line and its exit code
    restore_sigterm = interrupt_on_sigterm()
    interrupted = False
    try:
        result = run.run()
    except KeyboardInterrupt:
        interrupted = True
        result = run.result
    finally:
        restore_sigterm()
    _report(result, as_json)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if not result.ok:
        raise typer.Exit(1)


def _report(result: DemoResult, as_json: bool) -> None:
    data = result.to_dict()
    if as_json:
        print_json(data)
    else:
        console.print(check_table(result))
        took = _minutes(result.timings.get("total", 0.0))
        if result.ok:
            console.print(f"[green]every check passed[/] in {took}", highlight=False)
        if result.kept_stack:
            console.print("the stack keeps running (--keep): `harborctl down` stops it")
    if not result.ok:
        took = _minutes(result.timings.get("total", 0.0))
        ordered = result.ordered_checks()
        failed = [c.name for c in ordered if c.checked and not c.ok]
        unrun = [c.name for c in ordered if not c.checked]
        state = "interrupted" if result.interrupted else "failed"
        parts = [f"failed checks: {', '.join(failed)}"] if failed else []
        parts += [f"not run: {', '.join(unrun)}"] if unrun else []
        err_console.print(
            f"[bold red]demo {state}[/] after {took}: {'; '.join(parts) or result.error}",
            highlight=False,
            soft_wrap=True,
        )
