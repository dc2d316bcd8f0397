"""What the OpenAPI document declares each route answers, success and error alike.

Every error answers ``{"error": {"code", "message", "field"?}}`` (``errors.py``); each route
declares the error statuses it can give (``errors_for``), so a client and a schema checker
know every status code and body shape the API can send. 503 carries ``Retry-After``
(seconds) and 401 ``WWW-Authenticate: Bearer``.

The success models only document the bodies the routes build (``schemas.py`` views); they are
not used to filter the answers, so a route and its model can only agree by being checked
against each other (tests/integration/test_api_schema.py runs schemathesis over the served
document).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from harborctl.domain.models import DeliveryStatus
from harborctl.ingest.errors import UNAVAILABLE_RETRY_AFTER_SECONDS


class _Answer(BaseModel):
    # additionalProperties: false, so a stray key in an answer is a schema violation
    model_config = ConfigDict(extra="forbid")


# errors --------------------------------------------------------------------------------


class ErrorDetail(_Answer):
    code: str = Field(description="machine-readable kind, e.g. invalid, not_found")
    message: str = Field(description="one line for a person")
    field: str | None = Field(
        default=None, description="the request field at fault (dotted path), when one is"
    )


class ErrorBody(_Answer):
    error: ErrorDetail


_ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "The request body is not valid JSON (strict RFC 8259); `error.field` names it.",
    401: "Missing or unknown API key, or a tenant key on an admin-only call.",
    404: "No such tenant or object for this key (another tenant's ids answer 404 too).",
    409: "The request collides with the current state (duplicate, or not replayable).",
    413: "The payload is over `max_payload_bytes`.",
    422: "A field is invalid; `error.field` names it.",
    503: (
        "The database or the queue does not answer (down or overloaded). Send the request "
        "again after `Retry-After` seconds (a publish with the same `idempotency_key`)."
    ),
}

_ERROR_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: send `Authorization: Bearer <key>`",
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": (
                "seconds to wait before retrying"
                f" ({UNAVAILABLE_RETRY_AFTER_SECONDS} when a part is down, less when overloaded)"
            ),
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}

#: What every call with a key can answer: a bad key, and a database that does not answer
#: (the key is looked up there).
AUTHENTICATED = (401, 503)
#: ... and, under /v1/tenants/{tenant_id}, a tenant or object this key may not see, and
#: parameters validated field by field (422, which FastAPI would otherwise declare with its
#: own body shape for every route with parameters).
TENANT = (*AUTHENTICATED, 404, 422)
#: ... and a JSON body, which may not parse.
TENANT_BODY = (*TENANT, 400)


def errors_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` declaring ``statuses`` with the error body (and headers)."""
    declared: dict[int | str, dict[str, Any]] = {}
    for status in sorted(set(statuses)):
        answer: dict[str, Any] = {"model": ErrorBody, "description": _ERROR_DESCRIPTIONS[status]}
        if status in _ERROR_HEADERS:
            answer["headers"] = _ERROR_HEADERS[status]
        declared[status] = answer
    return declared


def answers(status: int, model: type[BaseModel], *errors: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route answering ``model`` with ``status`` and ``errors``."""
    return {status: {"model": model}, **errors_for(*errors)}


# success bodies ----------------------------------------------------------------------------


class Health(_Answer):
    status: str


class Ready(_Answer):
    status: str
    transport: str


class TenantView(_Answer):
    tenant_id: str
    name: str
    created_at: AwareDatetime


class TenantCreated(TenantView):
    api_key: str = Field(description="the tenant's key, shown only here")


class TenantList(_Answer):
    tenants: list[TenantView]


class EndpointView(_Answer):
    endpoint_id: str
    url: str
    description: str | None
    rate_limit_rps: float | None
    max_attempts: int | None
    breaker_failure_threshold: int | None = Field(
        description="consecutive failures that open this endpoint's circuit breaker "
        "(null: the worker's setting)"
    )
    enabled: bool
    disabled_reason: Literal["manual", "gone", "failing"] | None = Field(
        description="why the endpoint is disabled (null while enabled)"
    )
    disabled_at: AwareDatetime | None
    failing_since: AwareDatetime | None = Field(
        description="start of the current run of failed attempts (null after a success)"
    )
    previous_secret_until: AwareDatetime | None = Field(
        description="until when the secret before the last rotation still signs beside it"
    )
    created_at: AwareDatetime
    updated_at: AwareDatetime | None


class EndpointCreated(_Answer):
    endpoint: EndpointView
    secret: str = Field(description="the signing secret, shown only here")


class EndpointOne(_Answer):
    endpoint: EndpointView


class EndpointList(_Answer):
    endpoints: list[EndpointView]


class SubscriptionView(_Answer):
    subscription_id: str
    endpoint_id: str
    event_type: str
    created_at: AwareDatetime


class SubscriptionOne(_Answer):
    subscription: SubscriptionView


class SubscriptionList(_Answer):
    subscriptions: list[SubscriptionView]


class PublishAccepted(_Answer):
    event_id: str
    fanout_count: int = Field(ge=0, description="deliveries made (0 when none subscribed)")
    duplicate: bool = Field(description="the idempotency key was seen: the first event's id")
    trace_id: str | None


class DeliveryView(_Answer):
    delivery_id: str
    event_id: str
    endpoint_id: str
    status: DeliveryStatus
    attempts: int = Field(ge=0)
    next_attempt_at: AwareDatetime
    http_status: int | None
    error_reason: str | None
    last_error: str | None
    replay_of: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime
    delivered_at: AwareDatetime | None


class EventDeliveries(_Answer):
    event_id: str
    deliveries: list[DeliveryView]


class DeliveryList(_Answer):
    deliveries: list[DeliveryView]


class AttemptView(_Answer):
    attempt_no: int
    started_at: AwareDatetime
    duration_ms: float
    http_status: int | None
    error: str | None
    reason: str | None
    outcome: str = Field(description="delivered, retry or dead")
    response_excerpt: str | None


class DeliveryDetail(_Answer):
    delivery: DeliveryView
    attempts: list[AttemptView]


class ReplayAccepted(_Answer):
    delivery_id: str = Field(description="the new delivery")
    replay_of: str | None = Field(description="the dead delivery it replays")


class ReplayPair(_Answer):
    delivery_id: str | None = Field(description="the new delivery (null on a dry run)")
    replay_of: str


class DlqReplayDone(_Answer):
    dry_run: bool
    replayed: int = Field(ge=0)
    deliveries: list[ReplayPair]
