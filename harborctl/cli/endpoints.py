"""harborctl endpoints: the URLs a tenant's events are delivered to."""

from __future__ import annotations

import typer

from harborctl.cli.options import ApiKey, ApiUrl, JsonFlag, TenantId
from harborctl.cli.output import (
    console,
    emit,
    fail,
    note,
    print_fields,
    print_json,
    print_table,
    require_tenant,
)

app = typer.Typer(
    help="Create, list, show and delete a tenant's webhook endpoints.", no_args_is_help=True
)

COLUMNS = ["endpoint_id", "url", "description", "rate_limit_rps", "max_attempts", "created_at"]


@app.command("create")
def create(
    url: str = typer.Option(..., "--url", help="Where to POST events (http:// or https://)."),
    secret: str | None = typer.Option(
        None, "--secret", help="Signing secret (whsec_<base64>); generated when omitted."
    ),
    description: str | None = typer.Option(None, "--description", help="Free text for people."),
    rate_limit_rps: float | None = typer.Option(
        None, "--rate-limit-rps", help="Max requests per second to this endpoint."
    ),
    max_attempts: int | None = typer.Option(
        None, "--max-attempts", help="Attempts before a delivery goes to the DLQ."
    ),
    breaker_failure_threshold: int | None = typer.Option(
        None,
        "--breaker-failure-threshold",
        min=1,
        help="Consecutive failures that open this endpoint's circuit breaker (default: the "
        "worker's breaker_failure_threshold).",
    ),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Register an endpoint; prints its id and signing secret (shown only here)."""
    tenant_id = require_tenant(tenant)
    if not url.startswith(("http://", "https://")):
        fail(f"--url: {url!r} must start with http:// or https://", 2)
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.create_endpoint(
            tenant_id,
            url,
            secret=secret,
            description=description,
            rate_limit_rps=rate_limit_rps,
            max_attempts=max_attempts,
            breaker_failure_threshold=breaker_failure_threshold,
        )

    def human() -> None:
        endpoint = data.get("endpoint", {})
        print_fields({column: endpoint.get(column) for column in COLUMNS})
        if endpoint.get("breaker_failure_threshold") is not None:
            print_fields({"breaker_failure_threshold": endpoint["breaker_failure_threshold"]})
        print_fields({"secret": data.get("secret")})
        note("The secret is shown only now: give it to the receiver to verify signatures.")

    emit(data, as_json, human)


@app.command("list")
def list_(
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """List the tenant's endpoints (secrets are never shown)."""
    tenant_id = require_tenant(tenant)
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.list_endpoints(tenant_id)
    emit(data, as_json, lambda: print_table(data.get("endpoints", []), COLUMNS, "endpoints"))


@app.command("get")
def get(
    endpoint_id: str = typer.Argument(..., metavar="ENDPOINT_ID", help="The endpoint's id."),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Show one endpoint."""
    tenant_id = require_tenant(tenant)
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.get_endpoint(tenant_id, endpoint_id)
    endpoint = data.get("endpoint", {})
    emit(data, as_json, lambda: print_fields({c: endpoint.get(c) for c in COLUMNS}))


@app.command("delete")
def delete(
    endpoint_id: str = typer.Argument(..., metavar="ENDPOINT_ID", help="The endpoint's id."),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Delete an endpoint; its pending deliveries stop being attempted."""
    tenant_id = require_tenant(tenant)
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        client.delete_endpoint(tenant_id, endpoint_id)
    if as_json:
        print_json({"endpoint_id": endpoint_id, "deleted": True})
    else:
        console.print(f"deleted endpoint {endpoint_id}", highlight=False, markup=False)
