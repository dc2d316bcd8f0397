"""The tables. One schema for SQLite and PostgreSQL; changes go through migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import true
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(40)
TS = UTCDateTime()

tenants = Table(
    "tenants",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the key
    Column("prefix", String(16), nullable=False),  # first characters, to recognise a key
    Column("created_at", TS, nullable=False),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("secret", String(200), nullable=False),  # write-only through the API
    Column("description", Text),
    Column("rate_limit_rps", Float),
    Column("max_attempts", Integer),
    Column("created_at", TS, nullable=False),
    Column("deleted_at", TS),
    # the lifecycle (migration 0003): disabled (why, since when), failing since, rotation
    Column("enabled", Boolean, nullable=False, server_default=true()),
    Column("disabled_reason", String(16)),  # domain.models.DisabledReason
    Column("disabled_at", TS),
    Column("failing_since", TS),  # first failed attempt after the last success
    Column("previous_secret", String(200)),  # still signs until previous_secret_until
    Column("previous_secret_until", TS),
    Column("updated_at", TS),  # set on every change; created_at for rows older than 0003
    Column("breaker_failure_threshold", Integer),  # migration 0004
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("endpoint_id", ID, ForeignKey("endpoints.id"), nullable=False),
    Column("event_type", String(200), nullable=False),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("endpoint_id", "event_type"),
    Index("ix_subscriptions_tenant_event_type", "tenant_id", "event_type"),
)

events = Table(
    "events",
    metadata,
    Column("id", ID, primary_key=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False, index=True),
    Column("event_type", String(200), nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("idempotency_key", String(200)),
    Column("created_at", TS, nullable=False),
)

# One row per (tenant, key); a key older than 24 h may be taken again by a new event.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", ID, ForeignKey("tenants.id"), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("event_id", ID, ForeignKey("events.id"), nullable=False),
    Column("expires_at", TS, nullable=False),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", ID, primary_key=True),
    Column("event_id", ID, ForeignKey("events.id"), nullable=False, index=True),
    Column("tenant_id", ID, ForeignKey("tenants.id"), nullable=False),
    Column("endpoint_id", ID, ForeignKey("endpoints.id"), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", TS, nullable=False),
    Column("last_http_status", Integer),
    Column("last_error", Text),
    Column("dead_reason", String(32)),
    Column("replay_of", ID, ForeignKey("deliveries.id")),
    Column("claimed_by", String(100)),
    Column("claimed_until", TS),
    Column("trace_context", JSON),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("delivered_at", TS),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_tenant_status", "tenant_id", "status", "endpoint_id"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", ID, ForeignKey("deliveries.id"), nullable=False, index=True),
    Column("attempt_no", Integer, nullable=False),
    Column("started_at", TS, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("http_status", Integer),
    Column("error", Text),
    Column("reason", String(32)),
    Column("outcome", String(16), nullable=False),
    Column("response_excerpt", Text),  # start of an error answer's body (migration 0002)
)
