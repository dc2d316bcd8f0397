"""Request bodies (validated, fields named in errors) and response views."""

from __future__ import annotations

import re
from datetime import datetime
from ipaddress import IPv4Address
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from harborctl.domain.address_policy import literal_address
from harborctl.domain.lifecycle import MAX_SECRET_OVERLAP
from harborctl.domain.models import Delivery, Endpoint, Subscription, Tenant
from harborctl.domain.signing import validate_secret
from harborctl.errors import ValidationError

EVENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-/]{0,199}$"
MAX_SECRET_OVERLAP_SECONDS = MAX_SECRET_OVERLAP.total_seconds()

# RFC 3339 §5.6 date-time: a date, a time and a zone (Z or an offset)
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def _rfc3339(value: Any) -> Any:
    """Only an RFC 3339 date-time string (what the document declares): not a number, which
    pydantic would read as Unix time, nor a time without a zone."""
    if isinstance(value, datetime) or (isinstance(value, str) and _RFC3339.fullmatch(value)):
        return value
    raise ValueError("must be an RFC 3339 date-time with a zone, e.g. 2024-05-01T12:00:00Z")


#: An instant as the API takes it: ``format: date-time`` (RFC 3339, with a zone).
Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


# RFC 3986 §2: the characters a URI may hold (unreserved, reserved, %-escapes)
_URI_TEXT = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
# RFC 1123 §2.1 host name: dot-separated labels of letters, digits and inner hyphens, and
# underscores too (container and service names use them; resolvers take them)
_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?"
)

#: A JSON number (an integer is one too), never a string holding one.
StrictNumber = Annotated[float, Strict()]


class _Body(BaseModel):
    """A JSON request body: unknown fields are refused, and so is a value of another JSON
    type than the field's (no ``"5"`` for 5, no ``0`` for false: pydantic would convert)."""

    model_config = ConfigDict(extra="forbid")


class TenantCreate(_Body):
    name: str = Field(min_length=1, max_length=200)


def _check_url(value: str) -> str:
    if not _URI_TEXT.fullmatch(value):
        raise ValueError(
            "must be a URI (RFC 3986): ASCII without spaces or control characters, "
            "other characters %-encoded, a non-ASCII host name in punycode (xn--...)"
        )
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("must name a host")
    address = literal_address(parts.hostname)
    if address is None and not _HOST_NAME.fullmatch(parts.hostname):
        raise ValueError(f"{parts.hostname!r} is neither a host name nor an address")
    if isinstance(address, IPv4Address) and parts.hostname != str(address):
        raise ValueError(f"write the IPv4 address {parts.hostname} as {address}")
    _ = parts.port  # raises ValueError for a port that is not 0-65535
    return value


def _check_secret(value: str | None) -> str | None:
    if value is not None:
        validate_secret(value)  # raises a ValidationError naming the field
    return value


class EndpointCreate(_Body):
    url: str = Field(
        max_length=2048,
        description="http:// or https:// URL naming a host; an address literal the outbound "
        "request guard blocks (loopback, private, link-local, ...) is refused",
        json_schema_extra={"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
    )
    secret: str | None = Field(
        default=None,
        description="whsec_ + base64 of 24 to 64 random bytes (Standard Webhooks); "
        "generated when absent",
        json_schema_extra={"pattern": "^(whsec_)?[A-Za-z0-9+/]{32,88}={0,2}$"},
    )
    description: str | None = Field(default=None, max_length=1000)
    rate_limit_rps: StrictNumber | None = Field(default=None, gt=0, le=10_000)
    max_attempts: StrictInt | None = Field(default=None, ge=1, le=100)
    # consecutive failures that open the endpoint's circuit breaker; default: the worker's
    breaker_failure_threshold: StrictInt | None = Field(default=None, ge=1, le=1_000_000)

    _http_url = field_validator("url")(_check_url)
    _whsec = field_validator("secret")(_check_secret)


class EndpointUpdate(_Body):
    """PATCH: only the fields given change. ``null`` clears description, rate_limit_rps,
    max_attempts and breaker_failure_threshold (back to the worker's defaults); url and
    enabled cannot be null. The secret changes through ``:rotate-secret``, never here."""

    url: str | None = Field(
        default=None,
        max_length=2048,
        json_schema_extra={"format": "uri", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
    )
    description: str | None = Field(default=None, max_length=1000)
    rate_limit_rps: StrictNumber | None = Field(default=None, gt=0, le=10_000)
    max_attempts: StrictInt | None = Field(default=None, ge=1, le=100)
    breaker_failure_threshold: StrictInt | None = Field(default=None, ge=1, le=1_000_000)
    enabled: StrictBool | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_secret(cls, data: Any) -> Any:
        if isinstance(data, dict) and "secret" in data:
            raise ValidationError(
                "secret",
                "the secret is changed by POST .../endpoints/{endpoint_id}:rotate-secret "
                "(harborctl endpoints rotate-secret), which lets old and new sign for a while",
            )
        return data

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str:
        if value is None:
            raise ValueError("cannot be null")
        return _check_url(value)

    @field_validator("enabled")
    @classmethod
    def _not_null(cls, value: bool | None) -> bool:
        if value is None:
            raise ValueError("cannot be null (true or false)")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the request gave, with their values."""
        return {name: getattr(self, name) for name in sorted(self.model_fields_set)}


class SecretRotation(_Body):
    """``secret`` (optional, generated when omitted) signs from now on; the current one
    keeps signing beside it for ``overlap_seconds`` (default: the ``secret_overlap_seconds``
    setting, 24 h; 0 drops it at once; at most 30 days)."""

    secret: str | None = None
    overlap_seconds: StrictNumber | None = Field(
        default=None, ge=0, le=MAX_SECRET_OVERLAP_SECONDS
    )

    _whsec = field_validator("secret")(_check_secret)


class SubscriptionCreate(_Body):
    endpoint_id: str = Field(min_length=1, max_length=40)
    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)


class PublishRequest(_Body):
    event_type: str = Field(pattern=EVENT_TYPE_PATTERN)
    payload: Any
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class DlqReplayRequest(_Body):
    endpoint_id: str | None = None
    since: Instant | None = None
    dry_run: StrictBool = False


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def tenant_view(tenant: Tenant) -> dict[str, Any]:
    return {"tenant_id": tenant.id, "name": tenant.name, "created_at": _iso(tenant.created_at)}


def endpoint_view(endpoint: Endpoint) -> dict[str, Any]:
    """Never includes a secret: only until when the previous one of a rotation signs."""
    reason = endpoint.disabled_reason
    return {
        "endpoint_id": endpoint.id,
        "url": endpoint.url,
        "description": endpoint.description,
        "rate_limit_rps": endpoint.rate_limit_rps,
        "max_attempts": endpoint.max_attempts,
        "enabled": endpoint.enabled,
        "disabled_reason": reason.value if reason is not None else None,
        "disabled_at": _iso(endpoint.disabled_at),
        "failing_since": _iso(endpoint.failing_since),
        "previous_secret_until": _iso(endpoint.previous_secret_until),
        "breaker_failure_threshold": endpoint.breaker_failure_threshold,
        "created_at": _iso(endpoint.created_at),
        "updated_at": _iso(endpoint.updated_at),
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
