"""Bearer keys: the admin key sees everything; a tenant key sees only its tenant."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from harborctl.errors import NotFound, Unauthorized
from harborctl.store.admin import AdminRepository


@dataclass(frozen=True, slots=True)
class Principal:
    admin: bool
    tenant_id: str | None

    def require_admin(self) -> None:
        if not self.admin:
            raise Unauthorized("this call needs the admin key")

    def require_tenant(self, tenant_id: str) -> None:
        """Another tenant's objects answer 404, exactly like missing ones."""
        if not self.admin and self.tenant_id != tenant_id:
            raise NotFound("tenant", tenant_id)


class KeyResolver:
    def __init__(self, admin: AdminRepository, admin_key: str) -> None:
        self.admin = admin
        self.admin_key = admin_key
        self._cache: dict[str, str] = {}  # keys are never revoked yet, so this cannot go stale

    def known(self, authorization: str | None) -> Principal | None:
        """The principal without touching the database (the admin key, a key seen before),
        or None when only the database can tell. Raises Unauthorized for a bad header."""
        key = _bearer(authorization)
        if hmac.compare_digest(key.encode(), self.admin_key.encode()):
            return Principal(admin=True, tenant_id=None)
        tenant_id = self._cache.get(key)
        return None if tenant_id is None else Principal(admin=False, tenant_id=tenant_id)

    def resolve(self, authorization: str | None) -> Principal:
        """The principal of a request (may query the database: call it from a thread)."""
        found = self.known(authorization)
        if found is not None:
            return found
        key = _bearer(authorization)
        tenant_id = self.admin.tenant_for_key(key)
        if tenant_id is None:
            raise Unauthorized("unknown API key")
        if len(self._cache) < 10_000:
            self._cache[key] = tenant_id
        return Principal(admin=False, tenant_id=tenant_id)


def _bearer(authorization: str | None) -> str:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("missing 'Authorization: Bearer <key>' header")
    return authorization[7:].strip()
