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

    def resolve(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthorized("missing 'Authorization: Bearer <key>' header")
        key = authorization[7:].strip()
        if hmac.compare_digest(key.encode(), self.admin_key.encode()):
            return Principal(admin=True, tenant_id=None)
        tenant_id = self._cache.get(key) or self.admin.tenant_for_key(key)
        if tenant_id is None:
            raise Unauthorized("unknown API key")
        if len(self._cache) < 10_000:
            self._cache[key] = tenant_id
        return Principal(admin=False, tenant_id=tenant_id)
