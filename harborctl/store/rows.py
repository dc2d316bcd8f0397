"""Rows to domain models, and the one row every new delivery starts as."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from harborctl.domain.models import (
    Attempt,
    Delivery,
    DeliveryStatus,
    DisabledReason,
    Endpoint,
    Event,
    Subscription,
    Tenant,
    new_id,
)

#: Statuses of a delivery waiting for an attempt that is not under way.
RETRYABLE = (DeliveryStatus.QUEUED.value, DeliveryStatus.FAILED.value)


def tenant_from_row(row: Any) -> Tenant:
    return Tenant(id=row.id, name=row.name, created_at=row.created_at)


def endpoint_from_row(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        tenant_id=row.tenant_id,
        url=row.url,
        description=row.description,
        rate_limit_rps=row.rate_limit_rps,
        max_attempts=row.max_attempts,
        created_at=row.created_at,
        secret=row.secret,
        enabled=bool(row.enabled),
        disabled_reason=DisabledReason(row.disabled_reason) if row.disabled_reason else None,
        disabled_at=row.disabled_at,
        failing_since=row.failing_since,
        previous_secret=row.previous_secret,
        previous_secret_until=row.previous_secret_until,
        updated_at=row.updated_at or row.created_at,
        breaker_failure_threshold=row.breaker_failure_threshold,
    )


def subscription_from_row(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        tenant_id=row.tenant_id,
        endpoint_id=row.endpoint_id,
        event_type=row.event_type,
        created_at=row.created_at,
    )


def event_from_row(row: Any) -> Event:
    return Event(
        id=row.id,
        tenant_id=row.tenant_id,
        event_type=row.event_type,
        payload=bytes(row.payload),
        idempotency_key=row.idempotency_key,
        created_at=row.created_at,
    )


def delivery_from_row(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        event_id=row.event_id,
        tenant_id=row.tenant_id,
        endpoint_id=row.endpoint_id,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_http_status=row.last_http_status,
        last_error=row.last_error,
        dead_reason=row.dead_reason,
        replay_of=row.replay_of,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
        trace_context=row.trace_context,
    )


def attempt_from_row(row: Any) -> Attempt:
    return Attempt(
        delivery_id=row.delivery_id,
        attempt_no=row.attempt_no,
        started_at=row.started_at,
        duration_ms=row.duration_ms,
        http_status=row.http_status,
        error=row.error,
        reason=row.reason,
        outcome=row.outcome,
        response_excerpt=row.response_excerpt,
    )


def queued_delivery_row(
    event_id: str,
    tenant_id: str,
    endpoint_id: str,
    now: datetime,
    trace_context: dict[str, str] | None,
    replay_of: str | None = None,
) -> dict[str, Any]:
    """A new delivery, due now: from a publish, or a replay of a dead one."""
    return {
        "id": new_id("dlv"),
        "event_id": event_id,
        "tenant_id": tenant_id,
        "endpoint_id": endpoint_id,
        "status": DeliveryStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": now,
        "trace_context": trace_context,
        "created_at": now,
        "updated_at": now,
        "last_http_status": None,
        "last_error": None,
        "dead_reason": None,
        "replay_of": replay_of,
        "delivered_at": None,
    }


def delivery_from_values(values: dict[str, Any]) -> Delivery:
    """A delivery just inserted from ``values`` (a ``queued_delivery_row``), as if fetched."""
    return delivery_from_row(_Row(values))


class _Row:
    """Attribute access over a dict, so freshly inserted rows map like fetched ones."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
