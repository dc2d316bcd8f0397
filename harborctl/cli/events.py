"""harborctl events publish: publish one event to every endpoint subscribed to its type."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from harborctl.cli.options import ApiKey, ApiUrl, JsonFlag, TenantId
from harborctl.cli.output import (
    emit,
    note,
    print_fields,
    require_tenant,
)
from harborctl.domain.strict_json import parse_strict
from harborctl.errors import ValidationError

app = typer.Typer(help="Publish events.", no_args_is_help=True)


def read_payload(data: str | None, data_file: str | None) -> bytes:
    """The event payload's JSON text from exactly one of --data JSON / --data-file PATH
    (``-``: stdin), checked as strict JSON (``harborctl.domain.strict_json``) and kept as
    given: what the receivers get is these bytes.

    Raises ``ValidationError`` (exit code 2) naming the option on any local problem, so a bad
    payload never reaches the API.
    """
    if data is not None and data_file is not None:
        raise ValidationError("--data", "--data and --data-file: give the payload only once")
    if data is not None:
        option, raw = "--data", _utf8(data, "--data")
    elif data_file is not None:
        option, raw = "--data-file", _read_file(data_file)
    else:
        raise ValidationError(
            "--data", "--data: no payload given (use --data JSON or --data-file PATH, - for stdin)"
        )
    parse_strict(raw, field=option)
    return raw.strip(b" \t\r\n")


def _utf8(text: str, option: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # an undecodable byte in argv, kept as a surrogate
        raise ValidationError(option, f"{option}: not UTF-8 text") from exc


def _read_file(path: str) -> bytes:
    """The file's bytes (UTF-8 is checked by the strict parser, naming --data-file)."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValidationError("--data-file", f"--data-file: cannot read {path}: {reason}") from exc


@app.command("publish")
def publish(
    event_type: str = typer.Option(
        ..., "--type", "-t", "--event-type", help="The event type, e.g. order.created."
    ),
    data: str | None = typer.Option(
        None, "--data", "-d", help="The payload as JSON, e.g. '{\"order_id\": 42}'."
    ),
    data_file: str | None = typer.Option(
        None, "--data-file", "-f", help="Read the JSON payload from a file; - reads stdin."
    ),
    idempotency_key: str | None = typer.Option(
        None,
        "--idempotency-key",
        help="Publishing again with the same key returns the first event (duplicate: true).",
    ),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Publish an event; prints its id and how many deliveries it fanned out to."""
    tenant_id = require_tenant(tenant)
    payload = read_payload(data, data_file)  # before any request

    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        result = client.publish_event(
            tenant_id, event_type, payload, idempotency_key=idempotency_key
        )

    def human() -> None:
        print_fields(
            {
                "event_id": result.get("event_id"),
                "fanout_count": result.get("fanout_count"),
                "duplicate": result.get("duplicate"),
                "trace_id": result.get("trace_id"),
            }
        )
        if result.get("duplicate"):
            note("duplicate idempotency key: this is the earlier event, nothing new was sent")
        elif result.get("fanout_count") == 0:
            note(f"no subscription matches {event_type!r}: nothing will be delivered")
        else:
            note(f"follow it with: harborctl deliveries status {result.get('event_id')}")

    emit(result, as_json, human)
