"""harborctl logs tail: JSON logs from Loki when loki_url is set, else the local files."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from rich.text import Text

from harborctl.cli.options import JsonFlag
from harborctl.cli.output import console, fail
from harborctl.telemetry.log_query import LEVELS, LogEntry, LogQuery
from harborctl.telemetry.log_tail import LogSource, LogTailOptions, tail_logs

app = typer.Typer(
    help="Read the services' JSON logs (Loki when loki_url is set, else the local files).",
    no_args_is_help=True,
)

LEVEL_STYLES = {"debug": "dim", "info": "green", "warning": "yellow", "error": "red"}
SHOWN_FIELDS = ("tenant_id", "event_id", "delivery_id", "attempt", "trace_id")


@contextmanager
def _source() -> Iterator[LogSource]:
    from harborctl.settings import load_settings

    settings = load_settings()
    if settings.loki_url:
        from harborctl.telemetry.loki import LokiClient, LokiLogSource

        client = LokiClient(settings.loki_url)
        try:
            yield LokiLogSource(client)
        finally:
            client.close()
    else:
        from harborctl.telemetry.log_files import FileLogSource

        yield FileLogSource(settings.layout.json_logs_dir)


def log_line(entry: LogEntry) -> Text:
    """One log line as ``logs tail`` prints it: time, level, service, message, the ids."""
    record = entry.record
    when = datetime.fromtimestamp(entry.timestamp_ns / 1e9, UTC).strftime("%H:%M:%S.%f")[:-3]
    level = str(record.get("level", "")).lower()
    text = Text(f"{when} ")
    text.append(f"{level:<7}", style=LEVEL_STYLES.get(level, ""))
    text.append(f" {record.get('service', '-')}: ", style="dim")
    text.append(str(record.get("message", "")))
    extra = [f"{k}={record[k]}" for k in SHOWN_FIELDS if record.get(k) is not None]
    if extra:
        text.append("  " + " ".join(extra), style="dim")
    if record.get("exception"):
        text.append("\n" + str(record["exception"]), style="red")
    return text


@app.command()
def tail(
    trace_id: str | None = typer.Option(None, "--trace-id", help="Only lines of this trace."),
    tenant: str | None = typer.Option(None, "--tenant", help="Only lines of this tenant."),
    level: str | None = typer.Option(None, "--level", help=f"Minimum level: {', '.join(LEVELS)}."),
    service: str | None = typer.Option(None, "--service", help="e.g. harborhook-worker."),
    since: float = typer.Option(3600.0, "--since", help="Look back this many seconds."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many lines at first."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
    max_lines: int | None = typer.Option(None, "--max", help="Stop after this many lines."),
    as_json: JsonFlag = False,
) -> None:
    """The latest log lines matching the filters, oldest first; --follow keeps going.

    With --json, each line is the original JSON object, one per line.
    """
    if level and level.lower() not in LEVELS:
        fail(f"--level must be one of {', '.join(LEVELS)}", 2)
    query = LogQuery(trace_id=trace_id, tenant_id=tenant, level=level, service=service)
    options = LogTailOptions(since_seconds=since, limit=limit, follow=follow, max_lines=max_lines)
    with _source() as source:
        try:
            for entry in tail_logs(source, query, options):
                if as_json:
                    sys.stdout.write(json.dumps(dict(entry.record), default=str) + "\n")
                    sys.stdout.flush()
                else:
                    console.print(log_line(entry), highlight=False, soft_wrap=True)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None
