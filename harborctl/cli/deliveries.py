"""harborctl deliveries: where each event went, and every attempt made."""

from __future__ import annotations

import typer

from harborctl.cli.options import ApiKey, ApiUrl, JsonFlag, TenantId
from harborctl.cli.output import (
    console,
    emit,
    print_fields,
    print_table,
    require_tenant,
)
from harborctl.domain.models import DeliveryStatus

app = typer.Typer(
    help="Follow deliveries: per event, filtered lists, and one delivery's attempts.",
    no_args_is_help=True,
)

EVENT_COLUMNS = [
    "delivery_id",
    "endpoint_id",
    "status",
    "attempts",
    "http_status",
    "error_reason",
    "next_attempt_at",
    "replay_of",
]
LIST_COLUMNS = [
    "delivery_id",
    "event_id",
    "endpoint_id",
    "status",
    "attempts",
    "http_status",
    "error_reason",
    "updated_at",
]
DELIVERY_FIELDS = [
    "delivery_id",
    "event_id",
    "endpoint_id",
    "status",
    "attempts",
    "next_attempt_at",
    "http_status",
    "error_reason",
    "last_error",
    "replay_of",
    "created_at",
    "updated_at",
    "delivered_at",
]
ATTEMPT_COLUMNS = [
    "attempt_no",
    "started_at",
    "duration_ms",
    "http_status",
    "outcome",
    "reason",
    "error",
]


@app.command("status")
def status(
    event_id: str = typer.Argument(
        ..., metavar="EVENT_ID", help="The event id printed by `events publish`."
    ),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Show every delivery of one event: endpoint, status, attempts, last error."""
    tenant_id = require_tenant(tenant)
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.event_deliveries(tenant_id, event_id)
    rows = data.get("deliveries", [])
    title = f"event {data.get('event_id', event_id)}: {len(rows)} deliveries"
    emit(data, as_json, lambda: print_table(rows, EVENT_COLUMNS, title))


@app.command("list")
def list_(
    status: DeliveryStatus | None = typer.Option(
        None, "--status", case_sensitive=False, help="Only deliveries in this state."
    ),
    endpoint_id: str | None = typer.Option(
        None, "--endpoint-id", help="Only deliveries to this endpoint."
    ),
    limit: int | None = typer.Option(
        None, "--limit", min=1, help="At most this many, newest first."
    ),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """List the tenant's deliveries, optionally filtered by state and endpoint."""
    tenant_id = require_tenant(tenant)
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.list_deliveries(
            tenant_id,
            status=status.value if status is not None else None,
            endpoint_id=endpoint_id,
            limit=limit,
        )
    rows = data.get("deliveries", [])
    emit(data, as_json, lambda: print_table(rows, LIST_COLUMNS, f"{len(rows)} deliveries"))


@app.command("show")
def show(
    delivery_id: str = typer.Argument(..., metavar="DELIVERY_ID", help="The delivery's id."),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Show one delivery and the history of its attempts."""
    tenant_id = require_tenant(tenant)
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.get_delivery(tenant_id, delivery_id)

    def human() -> None:
        delivery = data.get("delivery", {})
        print_fields({name: delivery.get(name) for name in DELIVERY_FIELDS})
        attempts = data.get("attempts", [])
        if attempts:
            print_table(attempts, ATTEMPT_COLUMNS, title="attempts")
            for attempt in attempts:
                if attempt.get("response_excerpt"):
                    body = " ".join(str(attempt["response_excerpt"]).split())[:200]
                    console.print(
                        f"attempt {attempt.get('attempt_no')} answered: {body}",
                        highlight=False,
                        markup=False,
                    )
        else:
            console.print("\nno attempts yet", highlight=False)

    emit(data, as_json, human)
