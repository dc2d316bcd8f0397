"""Administration: tenants and their API keys, endpoints, subscriptions.

Every public method is one transaction. Times are passed in (UTC-aware) so the callers,
not the store, decide what "now" is. Another tenant's objects are not found, exactly like
missing ones.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError

from harborctl.domain.models import Endpoint, Subscription, Tenant, new_id
from harborctl.errors import Conflict, NotFound, ValidationError
from harborctl.store.database import Database
from harborctl.store.rows import endpoint_from_row, subscription_from_row, tenant_from_row
from harborctl.store.schema import api_keys, endpoints, subscriptions, tenants


def hash_api_key(key: str) -> str:
    """How a key is kept: sha256 hex (the key itself is shown once, at creation)."""
    return hashlib.sha256(key.encode()).hexdigest()


class AdminRepository:
    def __init__(self, database: Database) -> None:
        self.db = database

    # tenants and keys -------------------------------------------------------------

    def create_tenant(self, name: str, now: datetime) -> tuple[Tenant, str]:
        """The new tenant and its API key (``hh_`` + 43 url-safe characters)."""
        tenant = Tenant(id=new_id("ten"), name=name, created_at=now)
        key = "hh_" + secrets.token_urlsafe(32)
        with self.db.write() as conn:
            conn.execute(insert(tenants).values(id=tenant.id, name=name, created_at=now))
            conn.execute(
                insert(api_keys).values(
                    id=new_id("key"),
                    tenant_id=tenant.id,
                    key_hash=hash_api_key(key),
                    prefix=key[:10],
                    created_at=now,
                )
            )
        return tenant, key

    def list_tenants(self) -> list[Tenant]:
        with self.db.read() as conn:
            rows = conn.execute(select(tenants).order_by(tenants.c.created_at)).all()
        return [tenant_from_row(r) for r in rows]

    def tenant_for_key(self, key: str) -> str | None:
        with self.db.read() as conn:
            return conn.execute(
                select(api_keys.c.tenant_id).where(api_keys.c.key_hash == hash_api_key(key))
            ).scalar_one_or_none()

    def tenant_exists(self, tenant_id: str) -> bool:
        with self.db.read() as conn:
            found = conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first()
        return found is not None

    # endpoints --------------------------------------------------------------------

    def create_endpoint(
        self,
        tenant_id: str,
        *,
        url: str,
        secret: str,
        description: str | None,
        rate_limit_rps: float | None,
        max_attempts: int | None,
        now: datetime,
        breaker_failure_threshold: int | None = None,
    ) -> Endpoint:
        endpoint = Endpoint(
            id=new_id("ep"),
            tenant_id=tenant_id,
            url=url,
            description=description,
            rate_limit_rps=rate_limit_rps,
            max_attempts=max_attempts,
            created_at=now,
            secret=secret,
            breaker_failure_threshold=breaker_failure_threshold,
        )
        with self.db.write() as conn:
            conn.execute(
                insert(endpoints).values(
                    id=endpoint.id,
                    tenant_id=tenant_id,
                    url=url,
                    secret=secret,
                    description=description,
                    rate_limit_rps=rate_limit_rps,
                    max_attempts=max_attempts,
                    breaker_failure_threshold=breaker_failure_threshold,
                    created_at=now,
                )
            )
        return endpoint

    def list_endpoints(self, tenant_id: str) -> list[Endpoint]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(endpoints)
                .where(endpoints.c.tenant_id == tenant_id, endpoints.c.deleted_at.is_(None))
                .order_by(endpoints.c.created_at)
            ).all()
        return [endpoint_from_row(r) for r in rows]

    def get_endpoint(self, tenant_id: str, endpoint_id: str) -> Endpoint:
        """Raises NotFound for a deleted endpoint or another tenant's."""
        with self.db.read() as conn:
            return endpoint_from_row(_live_endpoint_row(conn, tenant_id, endpoint_id))

    def delete_endpoint(self, tenant_id: str, endpoint_id: str, now: datetime) -> None:
        """Soft delete: history keeps pointing at it; its subscriptions go."""
        with self.db.write() as conn:
            _live_endpoint_row(conn, tenant_id, endpoint_id)
            conn.execute(
                update(endpoints).where(endpoints.c.id == endpoint_id).values(deleted_at=now)
            )
            conn.execute(subscriptions.delete().where(subscriptions.c.endpoint_id == endpoint_id))

    # subscriptions ----------------------------------------------------------------

    def create_subscription(
        self, tenant_id: str, endpoint_id: str, event_type: str, now: datetime
    ) -> Subscription:
        """Raises ValidationError for an unknown endpoint, Conflict for a duplicate."""
        sub = Subscription(
            id=new_id("sub"),
            tenant_id=tenant_id,
            endpoint_id=endpoint_id,
            event_type=event_type,
            created_at=now,
        )
        try:
            with self.db.write() as conn:
                try:
                    _live_endpoint_row(conn, tenant_id, endpoint_id)
                except NotFound as exc:
                    raise ValidationError("endpoint_id", f"unknown endpoint {endpoint_id}") from exc
                conn.execute(
                    insert(subscriptions).values(
                        id=sub.id,
                        tenant_id=tenant_id,
                        endpoint_id=endpoint_id,
                        event_type=event_type,
                        created_at=now,
                    )
                )
        except IntegrityError as exc:
            raise Conflict(
                f"endpoint {endpoint_id} is already subscribed to {event_type!r}"
            ) from exc
        return sub

    def list_subscriptions(self, tenant_id: str) -> list[Subscription]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(subscriptions)
                .where(subscriptions.c.tenant_id == tenant_id)
                .order_by(subscriptions.c.created_at)
            ).all()
        return [subscription_from_row(r) for r in rows]

    def delete_subscription(self, tenant_id: str, subscription_id: str) -> None:
        with self.db.write() as conn:
            result = conn.execute(
                subscriptions.delete().where(
                    subscriptions.c.id == subscription_id,
                    subscriptions.c.tenant_id == tenant_id,
                )
            )
            if result.rowcount == 0:
                raise NotFound("subscription", subscription_id)


def _live_endpoint_row(conn: Connection, tenant_id: str, endpoint_id: str) -> Any:
    row = conn.execute(
        select(endpoints).where(
            endpoints.c.id == endpoint_id,
            endpoints.c.tenant_id == tenant_id,
            endpoints.c.deleted_at.is_(None),
        )
    ).first()
    if row is None:
        raise NotFound("endpoint", endpoint_id)
    return row
