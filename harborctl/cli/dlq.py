"""harborctl dlq: list dead deliveries and replay them (one by id, or all matching a filter)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from harborctl.cli.options import ApiKey, ApiUrl, JsonFlag, TenantId
from harborctl.cli.output import (
    console,
    emit,
    fail,
    note,
    print_table,
    require_tenant,
)
from harborctl.errors import ValidationError

if TYPE_CHECKING:
    from harborctl.client import ApiClient, JsonObject

app = typer.Typer(
    help="The dead-letter queue: deliveries that used up their attempts. List and replay them.",
    no_args_is_help=True,
)

DLQ_COLUMNS = [
    "delivery_id",
    "event_id",
    "endpoint_id",
    "attempts",
    "http_status",
    "error_reason",
    "last_error",
    "updated_at",
]

Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only deliveries dead since then: ISO-8601 (2024-05-01T12:00:00Z; no zone = local "
        "time) or a duration back from now (90s, 30m, 2h, 7d, 1w).",
    ),
]
EndpointId = Annotated[
    str | None, typer.Option("--endpoint-id", help="Only deliveries to this endpoint.")
]

_DURATION = re.compile(r"^(\d+)\s*([smhdw])$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime | None = None) -> str:
    """--since as the ISO-8601 UTC instant the API expects (``...Z``)."""
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2).lower()]
        instant = (now or datetime.now(UTC)) - timedelta(**{unit: amount})
    else:
        try:
            instant = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError(
                "--since",
                f"--since: {value!r} is neither an ISO-8601 time (2024-05-01T12:00:00Z) "
                "nor a duration (30m, 2h, 7d)",
            ) from None
        instant = instant.astimezone()  # a naive time is local time
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


@app.command("list")
def list_(
    endpoint_id: EndpointId = None,
    since: Since = None,
    limit: int | None = typer.Option(None, "--limit", min=1, help="At most this many."),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """List dead deliveries with why they died."""
    tenant_id = require_tenant(tenant)
    since_iso = parse_since(since) if since is not None else None

    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.list_dlq(tenant_id, endpoint_id=endpoint_id, since=since_iso, limit=limit)
    rows = data.get("deliveries", [])
    emit(data, as_json, lambda: print_table(rows, DLQ_COLUMNS, f"DLQ: {len(rows)} deliveries"))


@app.command("replay")
def replay(
    delivery_id: str | None = typer.Argument(
        None,
        metavar="DELIVERY_ID",
        help="Replay this one delivery. Or leave it out and give a filter.",
    ),
    endpoint_id: EndpointId = None,
    since: Since = None,
    all_: bool = typer.Option(False, "--all", help="Replay the whole DLQ (no filter)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would be replayed, change nothing."
    ),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue dead deliveries again: each replay is a new delivery with replay_of = the old id.

    Give one DELIVERY_ID, or a filter (--endpoint-id and/or --since), or --all.
    """
    tenant_id = require_tenant(tenant)
    filtered = endpoint_id is not None or since is not None
    if delivery_id is not None and (filtered or all_):
        fail("give either a DELIVERY_ID or a filter (--endpoint-id/--since/--all), not both", 2)
    if all_ and filtered:
        fail("--all replays the whole DLQ: drop --endpoint-id/--since, or drop --all", 2)
    if delivery_id is None and not (filtered or all_):
        fail(
            "nothing to replay: give a DELIVERY_ID, a filter (--endpoint-id/--since), "
            "or --all for the whole DLQ",
            2,
        )
    since_iso = parse_since(since) if since is not None else None

    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        if delivery_id is None:
            data = client.replay_dlq(
                tenant_id, endpoint_id=endpoint_id, since=since_iso, dry_run=dry_run
            )
        elif dry_run:
            data = _dry_run_one(client, tenant_id, delivery_id)
        else:
            data = client.replay_delivery(tenant_id, delivery_id)

    def human() -> None:
        if delivery_id is not None and not dry_run:
            console.print(
                f"replayed {data.get('replay_of', delivery_id)} as new delivery "
                f"{data.get('delivery_id')} (queued)",
                highlight=False,
                markup=False,
            )
            return
        rows = data.get("deliveries", [])
        if data.get("dry_run"):
            title = f"would replay {len(rows)} deliveries (dry run: nothing changed)"
            print_table(rows, ["replay_of"], title=title)
        else:
            title = f"replayed {data.get('replayed', len(rows))} deliveries"
            print_table(rows, ["replay_of", "delivery_id"], title=title)

    emit(data, as_json, human)


def _dry_run_one(client: ApiClient, tenant_id: str, delivery_id: str) -> JsonObject:
    """The single-replay route has no dry run: check the delivery exists, answer like dlq:replay."""
    found = client.get_delivery(tenant_id, delivery_id).get("delivery", {})
    if found.get("status") != "dead":
        note(f"delivery {delivery_id} is {found.get('status')}, not dead (not in the DLQ)")
    return {
        "dry_run": True,
        "replayed": 0,
        "deliveries": [{"delivery_id": None, "replay_of": delivery_id}],
    }
