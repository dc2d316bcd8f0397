"""harborctl subscriptions: which event types go to which endpoint."""

from __future__ import annotations

import typer

from harborctl.cli.options import ApiKey, ApiUrl, JsonFlag, TenantId
from harborctl.cli.output import (
    console,
    emit,
    print_fields,
    print_json,
    print_table,
    require_tenant,
)

app = typer.Typer(
    help="Subscribe endpoints to event types; list and delete subscriptions.",
    no_args_is_help=True,
)

COLUMNS = ["subscription_id", "endpoint_id", "event_type", "created_at"]


@app.command("create")
def create(
    endpoint_id: str = typer.Option(..., "--endpoint-id", help="The endpoint to deliver to."),
    event_type: str = typer.Option(
        ..., "--event-type", help="The event type to deliver, e.g. order.created."
    ),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Deliver every event of EVENT_TYPE published from now on to the endpoint."""
    tenant_id = require_tenant(tenant)
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.create_subscription(tenant_id, endpoint_id, event_type)
    subscription = data.get("subscription", {})
    emit(data, as_json, lambda: print_fields({c: subscription.get(c) for c in COLUMNS}))


@app.command("list")
def list_(
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """List the tenant's subscriptions."""
    tenant_id = require_tenant(tenant)
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.list_subscriptions(tenant_id)
    rows = data.get("subscriptions", [])
    emit(data, as_json, lambda: print_table(rows, COLUMNS, "subscriptions"))


@app.command("delete")
def delete(
    subscription_id: str = typer.Argument(
        ..., metavar="SUBSCRIPTION_ID", help="The subscription's id."
    ),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete a subscription; events already published are still delivered."""
    tenant_id = require_tenant(tenant)
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        client.delete_subscription(tenant_id, subscription_id)
    if as_json:
        print_json({"subscription_id": subscription_id, "deleted": True})
    else:
        console.print(f"deleted subscription {subscription_id}", highlight=False, markup=False)
