"""harborctl traces tail|show: one trace model behind three readers.

Where traces are read from, first match wins: Tempo when ``tempo_url`` is set, Jaeger when
``jaeger_url`` is set (``harborctl up`` shares its Jaeger's query URL as ``jaeger_url`` in the
running stack's settings), else the local span file (``<state_dir>/traces/spans.jsonl``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from rich.text import Text
from rich.tree import Tree

from harborctl.cli.options import JsonFlag
from harborctl.cli.output import console, emit
from harborctl.telemetry.trace_model import (
    SpanView,
    TraceSummary,
    children_of,
    span_dict,
    summarize,
)
from harborctl.telemetry.trace_tail import TailOptions, TraceSource, tail_traces

app = typer.Typer(
    help="Follow and inspect traces: from Tempo when tempo_url is set, else from Jaeger when "
    "jaeger_url is set (the native stack sets it while it runs Jaeger), else from the local "
    "span file.",
    no_args_is_help=True,
)

BAR_WIDTH = 24
HIDDEN_ATTRIBUTES = {"messaging.operation.type", "url.path"}


@contextmanager
def _source() -> Iterator[TraceSource]:
    from harborctl.settings import load_settings

    settings = load_settings()
    if settings.tempo_url:
        from harborctl.telemetry.tempo import TempoClient, TempoTraceSource

        client = TempoClient(settings.tempo_url)
        try:
            yield TempoTraceSource(client)
        finally:
            client.close()
    elif settings.jaeger_url:
        from harborctl.telemetry.jaeger import JaegerClient, JaegerTraceSource

        jaeger = JaegerClient(settings.jaeger_url)
        try:
            yield JaegerTraceSource(jaeger)
        finally:
            jaeger.close()
    else:
        from harborctl.telemetry.span_file import FileTraceSource

        yield FileTraceSource(settings.layout.spans_file)


def _line(summary: TraceSummary) -> Text:
    when = datetime.fromtimestamp(summary.start_ns / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3]
    style = "red" if summary.status == "ERROR" else "green"
    text = Text(f"{when}  {summary.trace_id}  ")
    text.append(f"{summary.status:<5}", style=style)
    text.append(f"  {summary.duration_ms:9.1f} ms  {summary.span_count:3d} spans  ")
    text.append(summary.root_name, style="bold")
    text.append(f"  {summary.service}  tenant={summary.tenant_id or '-'}")
    return text


@app.command()
def tail(
    service: str | None = typer.Option(
        None, "--service", help="Only traces with spans of this service (harborhook-worker)."
    ),
    errors_only: bool = typer.Option(False, "--errors-only", help="Only traces with an error."),
    since: float = typer.Option(300.0, "--since", help="Look back this many seconds first."),
    follow: bool = typer.Option(True, "--follow/--no-follow", help="Keep waiting for more."),
    settle: float = typer.Option(
        2.0, "--settle", help="A trace is complete when it has not grown for this long."
    ),
    max_traces: int | None = typer.Option(None, "--max", help="Stop after this many traces."),
    as_json: JsonFlag = False,
) -> None:
    """New traces as they complete, one line each: root, status, duration, spans, tenant.

    With --json, one JSON object per line.
    """
    options = TailOptions(
        service=service,
        errors_only=errors_only,
        since_seconds=since,
        follow=follow,
        settle_seconds=settle,
        max_traces=max_traces,
    )
    with _source() as source:
        try:
            for summary in tail_traces(source, options):
                if as_json:
                    sys.stdout.write(json.dumps(summary.as_dict()) + "\n")
                    sys.stdout.flush()
                else:
                    console.print(_line(summary), highlight=False, soft_wrap=True)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None


def _bar(span: SpanView, start: int, total: int) -> str:
    total = max(total, 1)
    left = int((span.start_ns - start) / total * BAR_WIDTH)
    width = max(1, round((span.end_ns - span.start_ns) / total * BAR_WIDTH))
    left = min(left, BAR_WIDTH - 1)
    width = min(width, BAR_WIDTH - left)
    return "·" * left + "█" * width + "·" * (BAR_WIDTH - left - width)


def _label(span: SpanView, start: int, total: int, parent: SpanView | None) -> Text:
    style = "red" if span.status == "ERROR" else "cyan"
    text = Text(_bar(span, start, total) + " ", style=style)
    text.append(span.name, style="bold")
    text.append(f"  {span.kind.lower()}  {span.service}  ", style="dim")
    text.append(f"{span.duration_ms:.1f} ms")
    text.append(f"  +{(span.start_ns - start) / 1e6:.1f} ms", style="dim")
    if span.status == "ERROR":
        text.append(f"  ERROR {span.status_message or ''}".rstrip(), style="red")
    inherited = parent.attributes if parent else {}
    shown = [
        f"{key}={value}"
        for key, value in span.attributes.items()
        if key not in HIDDEN_ATTRIBUTES and inherited.get(key) != value
    ]
    if shown:
        text.append("\n" + "  ".join(shown), style="dim")
    return text


def trace_tree(spans: list[SpanView]) -> Tree:
    """One trace as ``traces show`` draws it: the summary line, then each span under its
    parent with a waterfall bar, kind, service, duration and attributes."""
    roots, children = children_of(spans)
    start = min(s.start_ns for s in spans)
    total = max(s.end_ns for s in spans) - start
    tree = Tree(_line(summarize(spans)), guide_style="dim")

    def add(node: Tree, span: SpanView, parent: SpanView | None) -> None:
        branch = node.add(_label(span, start, total, parent))
        for child in children.get(span.span_id, []):
            add(branch, child, span)

    for root in roots:
        add(tree, root, None)
    return tree


@app.command()
def show(
    trace_id: str = typer.Argument(..., help="The trace id (32 hex), e.g. from events publish."),
    as_json: JsonFlag = False,
) -> None:
    """One trace as a tree of spans: waterfall bar, kind, service, duration, attributes."""
    with _source() as source:
        spans = source.get(trace_id.strip().lower())
    summary = summarize(spans)

    def human() -> None:
        console.print(trace_tree(spans), highlight=False)

    emit(
        {"trace": summary.as_dict(), "spans": [span_dict(s) for s in spans]},
        as_json,
        human,
    )
