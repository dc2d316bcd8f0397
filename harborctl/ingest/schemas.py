"""Request bodies (validated, fields named in errors) and response views."""

from __future__ import annotations

from datetime import datetime
from ipaddress import IPv4Address
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harborctl.domain.address_policy import literal_address
from harborctl.domain.models import Delivery, Endpoint, Subscription, Tenant
from harborctl.domain.signing import validate_secret

EVENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-/]{0,199}$"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(_Body):
    name: str = Field(min_length=1, max_length=200)


class EndpointCreate(_Body):
    url: str = Field(max_length=2048)
    secret: str | None = None
    description: str | None = Field(default=None, max_length=1000)
    rate_limit_rps: float | None = Field(default=None, gt=0, le=10_000)
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    # consecutive failures that open the endpoint's circuit breaker; default: the worker's
    breaker_failure_threshold: int | None = Field(default=None, ge=1, le=1_000_000)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https"):
            raise ValueError("must be an http:// or https:// URL")
        if not parts.hostname:
            raise ValueError("must name a host")
        address = literal_address(parts.hostname)
        if isinstance(address, IPv4Address) and parts.hostname != str(address):
            raise ValueError(f"write the IPv4 address {parts.hostname} as {address}")
        return value

    @field_validator("secret")
    @classmethod
    def _whsec(cls, value: str | None) -> str | None:
        if value is not None:
            validate_secret(value)  # raises a ValidationError naming the field
        return value


class SubscriptionCreate(_Body):
    endpoint_id: str = Field(min_length=1, max_length=40)
    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)


class PublishRequest(_Body):
    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)
    payload: Any
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class DlqReplayRequest(_Body):
    endpoint_id: str | None = None
    since: datetime | None = None
    dry_run: bool = False


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def tenant_view(tenant: Tenant) -> dict[str, Any]:
    return {"tenant_id": tenant.id, "name": tenant.name, "created_at": _iso(tenant.created_at)}


def endpoint_view(endpoint: Endpoint) -> dict[str, Any]:
    """Never includes the secret."""
    return {
        "endpoint_id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "rate_limit_rps": endpoint.rate_limit_rps,
        "max_attempts": endpoint.max_attempts,
        "breaker_failure_threshold": endpoint.breaker_failure_threshold,
        "created_at": _iso(endpoint.created_at),
    }


def subscription_view(sub: Subscription) -> dict[str, Any]:
    return {
        "subscription_id": sub.id,
        "endpoint_id": sub.endpoint_id,
        "event_type": sub.event_type,
        "created_at": _iso(sub.created_at),
    }


def delivery_view(d: Delivery) -> dict[str, Any]:
    return {
        "delivery_id": d.id,
        "event_id": d.event_id,
        "endpoint_id": d.endpoint_id,
        "status": d.status.value,
        "attempts": d.attempts,
        "next_attempt_at": _iso(d.next_attempt_at),
        "http_status": d.last_http_status,
        "error_reason": d.dead_reason,
        "last_error": d.last_error,
        "replay_of": d.replay_of,
        "created_at": _iso(d.created_at),
        "updated_at": _iso(d.updated_at),
        "delivered_at": _iso(d.delivered_at),
    }
