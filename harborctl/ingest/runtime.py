"""What the ingest routes share: the process's runtime and the request's principal."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool

from harborctl.errors import NotFound
from harborctl.ingest.auth import KeyResolver, Principal
from harborctl.observability.metrics import Metrics
from harborctl.queue.base import Publisher
from harborctl.services.publish import PublishService
from harborctl.services.replay import ReplayService
from harborctl.settings import Settings
from harborctl.store import Store


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """The ingest process's services, made once in the app's lifespan."""

    settings: Settings
    store: Store
    publisher: Publisher
    metrics: Metrics
    keys: KeyResolver
    publishing: PublishService
    replays: ReplayService


def runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value


async def principal(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> Principal:
    """Who is calling: on the event loop for known keys, in a thread when the database
    must be asked (a FastAPI sync dependency would cost a thread hop on every request)."""
    keys = runtime(request).keys
    found = keys.known(authorization)
    if found is not None:
        return found
    return await run_in_threadpool(keys.resolve, authorization)


RuntimeDep = Annotated[Runtime, Depends(runtime)]
PrincipalDep = Annotated[Principal, Depends(principal)]


def check_tenant(rt: Runtime, who: Principal, tenant_id: str) -> None:
    """The caller may act for ``tenant_id`` and it exists; else NotFound (never 403, so
    another tenant's ids look exactly like missing ones)."""
    who.require_tenant(tenant_id)
    if who.admin and not rt.store.admin.tenant_exists(tenant_id):
        raise NotFound("tenant", tenant_id)
