"""Administration: tenants and their API keys, endpoints, subscriptions.

Every public method is one transaction. Times are passed in (UTC-aware) so the callers,
not the store, decide what "now" is. Another tenant's objects are not found, exactly like
missing ones.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select, true, update
from sqlalchemy.exc import IntegrityError

from harborctl.domain.models import DisabledReason, Endpoint, Subscription, Tenant, new_id
from harborctl.errors import Conflict, NotFound, ValidationError
from harborctl.store.database import Database
from harborctl.store.rows import endpoint_from_row, subscription_from_row, tenant_from_row
from harborctl.store.schema import api_keys, endpoints, subscriptions, tenants

#: What ``update_endpoint`` may change (the API's PATCH fields).
UPDATABLE = frozenset(
    {"url", "description", "rate_limit_rps", "max_attempts", "breaker_failure_threshold", "enabled"}
)


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
            updated_at=now,
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
                    enabled=True,
                    updated_at=now,
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

    def update_endpoint(
        self, tenant_id: str, endpoint_id: str, changes: Mapping[str, Any], now: datetime
    ) -> tuple[Endpoint, Endpoint]:
        """Change some of ``UPDATABLE`` (validated by the caller); (before, after).

        ``enabled`` False disables a live endpoint with reason ``manual`` (one disabled
        already keeps its reason and time); True enables it again and clears its reason and
        its failing period, so it starts afresh. Raises NotFound like ``get_endpoint``.
        """
        unknown = set(changes) - UPDATABLE
        if unknown:
            raise ValidationError(sorted(unknown)[0], "this field cannot be changed")
        with self.db.write() as conn:
            row = _live_endpoint_row(conn, tenant_id, endpoint_id)
            values: dict[str, Any] = {k: v for k, v in changes.items() if k != "enabled"}
            enabled = changes.get("enabled")
            if enabled is False and row.enabled:
                values.update(
                    enabled=False, disabled_reason=DisabledReason.MANUAL.value, disabled_at=now
                )
            elif enabled is True and not row.enabled:
                values.update(enabled=True, disabled_reason=None, disabled_at=None)
                values.update(failing_since=None)
            if values:
                values["updated_at"] = now
                conn.execute(
                    update(endpoints).where(endpoints.c.id == endpoint_id).values(**values)
                )
            after = _live_endpoint_row(conn, tenant_id, endpoint_id)
        return endpoint_from_row(row), endpoint_from_row(after)

    def rotate_secret(
        self,
        tenant_id: str,
        endpoint_id: str,
        new_secret: str,
        overlap: timedelta,
        now: datetime,
    ) -> Endpoint:
        """``new_secret`` signs from now on; the current one keeps signing beside it until
        ``now + overlap`` (not at all when ``overlap`` is 0). A previous secret still in its
        overlap is dropped (``domain.lifecycle``). Raises NotFound like ``get_endpoint``."""
        with self.db.write() as conn:
            row = _live_endpoint_row(conn, tenant_id, endpoint_id)
            keep = overlap > timedelta(0)
            conn.execute(
                update(endpoints)
                .where(endpoints.c.id == endpoint_id)
                .values(
                    secret=new_secret,
                    previous_secret=row.secret if keep else None,
                    previous_secret_until=now + overlap if keep else None,
                    updated_at=now,
                )
            )
            return endpoint_from_row(_live_endpoint_row(conn, tenant_id, endpoint_id))

    # the worker's view of an endpoint's health (domain.lifecycle) ------------------

    def mark_failing(self, endpoint_id: str, now: datetime) -> None:
        """The endpoint failed after a success: failing since ``now``, unless already."""
        with self.db.write() as conn:
            conn.execute(
                update(endpoints)
                .where(endpoints.c.id == endpoint_id, endpoints.c.failing_since.is_(None))
                .values(failing_since=now)
            )

    def mark_recovered(self, endpoint_id: str) -> None:
        """A success: the endpoint is not failing any more."""
        with self.db.write() as conn:
            conn.execute(
                update(endpoints)
                .where(endpoints.c.id == endpoint_id, endpoints.c.failing_since.is_not(None))
                .values(failing_since=None)
            )

    def disable_endpoint(
        self,
        endpoint_id: str,
        reason: DisabledReason,
        now: datetime,
        failing_since_by: datetime | None = None,
    ) -> bool:
        """Disable an enabled endpoint; whether this call did (False: it was disabled or
        deleted already). With ``failing_since_by`` only one failing since then or earlier
        is disabled, so a success recorded meanwhile by another worker wins."""
        condition = [
            endpoints.c.id == endpoint_id,
            endpoints.c.enabled == true(),
            endpoints.c.deleted_at.is_(None),
        ]
        if failing_since_by is not None:
            condition.append(endpoints.c.failing_since <= failing_since_by)
        with self.db.write() as conn:
            done = conn.execute(
                update(endpoints)
                .where(*condition)
                .values(
                    enabled=False, disabled_reason=reason.value, disabled_at=now, updated_at=now
                )
            )
        return done.rowcount == 1

    def drop_previous_secret(self, endpoint_id: str, now: datetime) -> None:
        """Erase a previous secret whose overlap has ended."""
        with self.db.write() as conn:
            conn.execute(
                update(endpoints)
                .where(endpoints.c.id == endpoint_id, endpoints.c.previous_secret_until <= now)
                .values(previous_secret=None, previous_secret_until=None)
            )

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
