"""Tenants, endpoints, subscriptions, events, deliveries and their states."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class DeliveryStatus(StrEnum):
    QUEUED = "queued"  # waiting for its first (or replayed) attempt
    INFLIGHT = "inflight"  # claimed by a worker, attempt under way
    DELIVERED = "delivered"  # a 2xx came back
    FAILED = "failed"  # last attempt failed, another is scheduled
    DEAD = "dead"  # attempts exhausted: in the dead-letter queue

    @property
    def is_final(self) -> bool:
        return self in (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD)


class FailureReason(StrEnum):
    """The closed set of reasons used in metrics labels and delivery records."""

    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    HTTP_429 = "http_429"
    HTTP_OTHER = "http_other"
    CIRCUIT_OPEN = "circuit_open"
    RATE_LIMITED = "rate_limited"
    ENDPOINT_DELETED = "endpoint_deleted"
    ENDPOINT_DISABLED = "endpoint_disabled"  # disabled (410 Gone, failing too long, by hand)
    BLOCKED_ADDRESS = "blocked_address"  # the outbound request guard refused the address
    ERROR = "error"

    @property
    def retryable(self) -> bool:
        """False when trying again cannot help: the attempt is final for the delivery."""
        return self is not FailureReason.BLOCKED_ADDRESS

    @classmethod
    def for_status(cls, status: int) -> FailureReason:
        if status == 429:
            return cls.HTTP_429
        if 400 <= status < 500:
            return cls.HTTP_4XX
        if 500 <= status < 600:
            return cls.HTTP_5XX
        return cls.HTTP_OTHER


def new_id(prefix: str) -> str:
    """A time-ordered, URL-safe id such as ``evt_0192f3a1b2c4d5e6f708``."""
    millis = time.time_ns() // 1_000_000
    return f"{prefix}_{millis:012x}{os.urandom(6).hex()}"


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    created_at: datetime


class DisabledReason(StrEnum):
    """Why an endpoint is disabled: a closed set (metric label, API field, CLI column)."""

    MANUAL = "manual"  # PATCH enabled=false, `harborctl endpoints disable`
    GONE = "gone"  # the receiver answered 410 Gone
    FAILING = "failing"  # no success for the whole failing period (domain.lifecycle)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A URL a tenant's events are POSTed to, and where it is in its lifecycle.

    ``enabled`` False: no new deliveries fan out to it and the pending ones go to the DLQ
    (reason ``endpoint_disabled``) as workers pick them; ``disabled_reason`` says why.
    ``failing_since``: the first failed attempt after its last success (None while healthy).
    ``previous_secret`` signs beside ``secret`` until ``previous_secret_until`` (rotation).
    """

    id: str
    tenant_id: str
    url: str
    description: str | None
    rate_limit_rps: float | None
    max_attempts: int | None
    created_at: datetime
    secret: str = field(repr=False, default="")  # write-only: never serialised to clients
    enabled: bool = True
    disabled_reason: DisabledReason | None = None
    disabled_at: datetime | None = None
    failing_since: datetime | None = None
    previous_secret: str | None = field(repr=False, default=None)  # write-only too
    previous_secret_until: datetime | None = None
    updated_at: datetime | None = None  # None only for an endpoint not yet stored
    # consecutive failures that open this endpoint's circuit breaker (None: the worker's
    # breaker_failure_threshold)
    breaker_failure_threshold: int | None = None


@dataclass(frozen=True, slots=True)
class Subscription:
    id: str
    tenant_id: str
    endpoint_id: str
    event_type: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    tenant_id: str
    event_type: str
    payload: bytes  # the exact JSON body POSTed to endpoints
    idempotency_key: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    id: str
    event_id: str
    tenant_id: str
    endpoint_id: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    last_http_status: int | None
    last_error: str | None
    dead_reason: str | None
    replay_of: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None
    trace_context: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: str
    attempt_no: int
    started_at: datetime
    duration_ms: float
    http_status: int | None
    error: str | None
    reason: str | None
    outcome: str  # delivered | retry | dead
    response_excerpt: str | None = None  # start of an error answer's body
