"""harborctl endpoints: the URLs a tenant's events are delivered to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import typer

from harborctl.alerting_spec import duration_seconds, is_duration
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
    help="Create, list, show, change, disable/enable, rotate the secret of and delete a "
    "tenant's webhook endpoints.",
    no_args_is_help=True,
)

COLUMNS = [
    "endpoint_id",
    "url",
    "state",
    "description",
    "rate_limit_rps",
    "max_attempts",
    "created_at",
]
# what `update --clear` may reset (the worker's defaults apply again)
CLEARABLE = ("description", "rate_limit_rps", "max_attempts", "breaker_failure_threshold")


def state_of(endpoint: Mapping[str, Any]) -> str:
    """One line for people: ``enabled``, ``enabled, failing since ...`` or ``disabled: gone
    (since ...)``, from the API's view of an endpoint."""
    if endpoint.get("enabled", True):
        failing = endpoint.get("failing_since")
        return f"enabled, failing since {failing}" if failing else "enabled"
    since = endpoint.get("disabled_at")
    reason = endpoint.get("disabled_reason") or "manual"
    return f"disabled: {reason}" + (f" (since {since})" if since else "")


def _row(endpoint: Mapping[str, Any]) -> dict[str, Any]:
    return {**{c: endpoint.get(c) for c in COLUMNS}, "state": state_of(endpoint)}


def parse_overlap(value: str) -> float:
    """--overlap as seconds: a duration such as 90s, 30m, 24h, 7d, 1h30m, or 0."""
    text = value.strip()
    if text == "0":
        return 0.0
    if not is_duration(text):
        fail(f"--overlap: {value!r} is not a duration (0, 90s, 30m, 24h, 7d, 1h30m)", 2)
    return duration_seconds(text)


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
        print_fields(_row(endpoint))
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
    rows = [_row(endpoint) for endpoint in data.get("endpoints", [])]
    emit(data, as_json, lambda: print_table(rows, COLUMNS, "endpoints"))


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
    emit(data, as_json, lambda: _print_endpoint(data.get("endpoint", {})))


def _print_endpoint(endpoint: Mapping[str, Any]) -> None:
    fields = _row(endpoint)
    if endpoint.get("previous_secret_until"):
        fields["previous_secret_until"] = endpoint["previous_secret_until"]
    fields["updated_at"] = endpoint.get("updated_at")
    print_fields(fields)


@app.command("update")
def update(
    endpoint_id: str = typer.Argument(..., metavar="ENDPOINT_ID", help="The endpoint's id."),
    url: str | None = typer.Option(None, "--url", help="A new URL (http:// or https://)."),
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
        help="Consecutive failures that open this endpoint's circuit breaker.",
    ),
    enabled: bool | None = typer.Option(
        None, "--enable/--disable", help="Enable the endpoint again, or disable it."
    ),
    clear: list[str] = typer.Option(
        [],
        "--clear",
        help="Reset a field to the default (description, rate_limit_rps, max_attempts, "
        "breaker_failure_threshold); repeat for several.",
    ),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Change an endpoint's URL, description, rate limit, max attempts, breaker threshold or
    enabled state.

    Only the options given change; a bad value changes nothing. The secret changes with
    `rotate-secret`.
    """
    tenant_id = require_tenant(tenant)
    changes: dict[str, Any] = {
        name: value
        for name, value in (
            ("url", url),
            ("description", description),
            ("rate_limit_rps", rate_limit_rps),
            ("max_attempts", max_attempts),
            ("breaker_failure_threshold", breaker_failure_threshold),
            ("enabled", enabled),
        )
        if value is not None
    }
    for name in clear:
        field = name.strip().replace("-", "_")
        if field not in CLEARABLE:
            fail(f"--clear: {name!r} is not one of {', '.join(CLEARABLE)}", 2)
        if field in changes:
            fail(f"--clear {name} and --{field.replace('_', '-')} contradict each other", 2)
        changes[field] = None
    if not changes:
        fail(
            "nothing to change: give --url, --description, --rate-limit-rps, --max-attempts, "
            "--breaker-failure-threshold, --enable/--disable or --clear",
            2,
        )
    if url is not None and not url.startswith(("http://", "https://")):
        fail(f"--url: {url!r} must start with http:// or https://", 2)
    _update(tenant_id, endpoint_id, changes, api_url, api_key, as_json)


@app.command("disable")
def disable(
    endpoint_id: str = typer.Argument(..., metavar="ENDPOINT_ID", help="The endpoint's id."),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Disable an endpoint: no new deliveries; the pending ones go to the DLQ
    (reason endpoint_disabled) as workers pick them."""
    _update(require_tenant(tenant), endpoint_id, {"enabled": False}, api_url, api_key, as_json)


@app.command("enable")
def enable(
    endpoint_id: str = typer.Argument(..., metavar="ENDPOINT_ID", help="The endpoint's id."),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Enable an endpoint again (whatever disabled it). Deliveries dead meanwhile stay in
    the DLQ: bring them back with `harborctl dlq replay --endpoint-id ENDPOINT_ID`."""
    _update(require_tenant(tenant), endpoint_id, {"enabled": True}, api_url, api_key, as_json)
    if not as_json:
        note(f"replay what died meanwhile: harborctl dlq replay --endpoint-id {endpoint_id}")


def _update(
    tenant_id: str,
    endpoint_id: str,
    changes: Mapping[str, Any],
    api_url: str | None,
    api_key: str | None,
    as_json: bool,
) -> None:
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.update_endpoint(tenant_id, endpoint_id, changes)
    emit(data, as_json, lambda: _print_endpoint(data.get("endpoint", {})))


@app.command("rotate-secret")
def rotate_secret(
    endpoint_id: str = typer.Argument(..., metavar="ENDPOINT_ID", help="The endpoint's id."),
    secret: str | None = typer.Option(
        None, "--secret", help="The new secret (whsec_<base64>); generated when omitted."
    ),
    overlap: str | None = typer.Option(
        None,
        "--overlap",
        help="How long the old secret keeps signing beside the new one (e.g. 24h, 30m, 0); "
        "default: the secret_overlap_seconds setting of the ingest (24h).",
    ),
    tenant: TenantId = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Issue a new signing secret (shown only now). Until the overlap ends every request
    carries two signatures, old and new; then only the new secret signs."""
    tenant_id = require_tenant(tenant)
    overlap_seconds = parse_overlap(overlap) if overlap is not None else None
    from harborctl.client import open_client

    with open_client(api_url, api_key) as client:
        data = client.rotate_secret(
            tenant_id, endpoint_id, secret=secret, overlap_seconds=overlap_seconds
        )

    def human() -> None:
        endpoint = data.get("endpoint", {})
        print_fields({"endpoint_id": endpoint.get("endpoint_id"), "secret": data.get("secret")})
        until = endpoint.get("previous_secret_until")
        if until:
            note(f"The old secret signs too until {until}; then only the new one.")
        else:
            note("The old secret signs no more.")
        note("The secret is shown only now: give it to the receiver to verify signatures.")

    emit(data, as_json, human)


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
