"""The ingest HTTP API (DESIGN.md "HTTP API"); OpenAPI at /docs."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError as PydanticValidationError

from harborctl.domain.models import DeliveryStatus
from harborctl.domain.signing import generate_secret
from harborctl.errors import NotFound, PayloadTooLarge, ValidationError
from harborctl.ingest.auth import KeyResolver, Principal
from harborctl.ingest.errors import install_error_handlers
from harborctl.ingest.schemas import (
    DlqReplayRequest,
    EndpointCreate,
    PublishRequest,
    SubscriptionCreate,
    TenantCreate,
    delivery_view,
    endpoint_view,
    subscription_view,
    tenant_view,
)
from harborctl.ingest.tracing import native_telemetry_excluded, publish_span
from harborctl.observability.logging import log_context
from harborctl.observability.metrics import Metrics
from harborctl.observability.tracing import current_trace_id
from harborctl.queue.base import Publisher
from harborctl.queue.factory import make_publisher
from harborctl.services.publish import PublishService
from harborctl.services.replay import ReplayService
from harborctl.settings import Settings, ensure_admin_key
from harborctl.store import Store
from harborctl.store.database import migrate, use_store_threads


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    settings: Settings
    store: Store
    publisher: Publisher
    metrics: Metrics
    keys: KeyResolver
    publishing: PublishService
    replays: ReplayService


def create_app(settings: Settings, metrics: Metrics | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        use_store_threads()
        store = Store.open(settings.resolved_database_url)
        await run_in_threadpool(migrate, store.engine)
        publisher = make_publisher(settings)
        await publisher.start()
        used_metrics = metrics or Metrics()
        app.state.runtime = Runtime(
            settings=settings,
            store=store,
            publisher=publisher,
            metrics=used_metrics,
            keys=KeyResolver(store.admin, ensure_admin_key(settings)),
            publishing=PublishService(store.events, publisher, used_metrics, utcnow),
            replays=ReplayService(store.events, publisher, utcnow),
        )
        try:
            yield
        finally:
            await publisher.close()
            store.dispose()

    app = FastAPI(
        title="HarborHook ingest API",
        version="1",
        description="Publish events; manage tenants, endpoints, subscriptions and the DLQ.",
        lifespan=lifespan,
        # FastAPI's request spans for the other routes; publish has its own server span
        telemetry={"exclude": native_telemetry_excluded, "operation_spans": False},
    )
    install_error_handlers(app)
    _add_routes(app)
    return app


def runtime(request: Request) -> Runtime:
    value: Runtime = request.app.state.runtime
    return value


def principal(request: Request, authorization: Annotated[str | None, Header()] = None) -> Principal:
    return runtime(request).keys.resolve(authorization)


RuntimeDep = Annotated[Runtime, Depends(runtime)]
PrincipalDep = Annotated[Principal, Depends(principal)]


def _tenant(rt: Runtime, who: Principal, tenant_id: str) -> None:
    who.require_tenant(tenant_id)
    if who.admin and not rt.store.admin.tenant_exists(tenant_id):
        raise NotFound("tenant", tenant_id)


def _add_routes(app: FastAPI) -> None:
    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    def readyz(rt: RuntimeDep) -> dict[str, str]:
        rt.store.ping()
        return {"status": "ready", "transport": rt.settings.transport}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    def metrics(rt: RuntimeDep) -> Response:
        return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # tenants -----------------------------------------------------------------------

    @app.post("/v1/tenants", status_code=201, tags=["tenants"])
    def create_tenant(body: TenantCreate, rt: RuntimeDep, who: PrincipalDep) -> dict[str, Any]:
        who.require_admin()
        tenant, key = rt.store.admin.create_tenant(body.name, utcnow())
        return {**tenant_view(tenant), "api_key": key}

    @app.get("/v1/tenants", tags=["tenants"])
    def list_tenants(rt: RuntimeDep, who: PrincipalDep) -> dict[str, Any]:
        who.require_admin()
        return {"tenants": [tenant_view(t) for t in rt.store.admin.list_tenants()]}

    # endpoints ---------------------------------------------------------------------

    @app.post("/v1/tenants/{tenant_id}/endpoints", status_code=201, tags=["endpoints"])
    def create_endpoint(
        tenant_id: str, body: EndpointCreate, rt: RuntimeDep, who: PrincipalDep
    ) -> dict[str, Any]:
        _tenant(rt, who, tenant_id)
        secret = body.secret or generate_secret()
        endpoint = rt.store.admin.create_endpoint(
            tenant_id,
            url=body.url,
            secret=secret,
            description=body.description,
            rate_limit_rps=body.rate_limit_rps,
            max_attempts=body.max_attempts,
            now=utcnow(),
        )
        return {"endpoint": endpoint_view(endpoint), "secret": secret}

    @app.get("/v1/tenants/{tenant_id}/endpoints", tags=["endpoints"])
    def list_endpoints(tenant_id: str, rt: RuntimeDep, who: PrincipalDep) -> dict[str, Any]:
        _tenant(rt, who, tenant_id)
        return {"endpoints": [endpoint_view(e) for e in rt.store.admin.list_endpoints(tenant_id)]}

    @app.get("/v1/tenants/{tenant_id}/endpoints/{endpoint_id}", tags=["endpoints"])
    def get_endpoint(
        tenant_id: str, endpoint_id: str, rt: RuntimeDep, who: PrincipalDep
    ) -> dict[str, Any]:
        _tenant(rt, who, tenant_id)
        return {"endpoint": endpoint_view(rt.store.admin.get_endpoint(tenant_id, endpoint_id))}

    @app.delete(
        "/v1/tenants/{tenant_id}/endpoints/{endpoint_id}", status_code=204, tags=["endpoints"]
    )
    def delete_endpoint(
        tenant_id: str, endpoint_id: str, rt: RuntimeDep, who: PrincipalDep
    ) -> Response:
        _tenant(rt, who, tenant_id)
        rt.store.admin.delete_endpoint(tenant_id, endpoint_id, utcnow())
        return Response(status_code=204)

    # subscriptions -----------------------------------------------------------------

    @app.post("/v1/tenants/{tenant_id}/subscriptions", status_code=201, tags=["subscriptions"])
    def create_subscription(
        tenant_id: str, body: SubscriptionCreate, rt: RuntimeDep, who: PrincipalDep
    ) -> dict[str, Any]:
        _tenant(rt, who, tenant_id)
        sub = rt.store.admin.create_subscription(
            tenant_id, body.endpoint_id, body.event_type, utcnow()
        )
        return {"subscription": subscription_view(sub)}

    @app.get("/v1/tenants/{tenant_id}/subscriptions", tags=["subscriptions"])
    def list_subscriptions(tenant_id: str, rt: RuntimeDep, who: PrincipalDep) -> dict[str, Any]:
        _tenant(rt, who, tenant_id)
        subs = rt.store.admin.list_subscriptions(tenant_id)
        return {"subscriptions": [subscription_view(s) for s in subs]}

    @app.delete(
        "/v1/tenants/{tenant_id}/subscriptions/{subscription_id}",
        status_code=204,
        tags=["subscriptions"],
    )
    def delete_subscription(
        tenant_id: str, subscription_id: str, rt: RuntimeDep, who: PrincipalDep
    ) -> Response:
        _tenant(rt, who, tenant_id)
        rt.store.admin.delete_subscription(tenant_id, subscription_id)
        return Response(status_code=204)

    # events ------------------------------------------------------------------------

    @app.post(
        "/v1/tenants/{tenant_id}/events:publish",
        status_code=202,
        tags=["events"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": PublishRequest.model_json_schema()}},
            }
        },
    )
    async def publish(tenant_id: str, request: Request, who: PrincipalDep) -> dict[str, Any]:
        with publish_span(request, tenant_id) as span, log_context(tenant_id=tenant_id):
            rt = runtime(request)
            await run_in_threadpool(_tenant, rt, who, tenant_id)
            body = await _read_limited(request, rt.settings.max_payload_bytes)
            event = _parse_publish(body)
            payload = json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False).encode()
            if len(payload) > rt.settings.max_payload_bytes:
                raise PayloadTooLarge("payload", "payload is larger than the limit")
            span.set_attribute("event_type", event.event_type)
            outcome = await rt.publishing.publish(
                tenant_id,
                event_type=event.event_type,
                payload=payload,
                idempotency_key=event.idempotency_key,
            )
            span.set_attributes(
                {
                    "event_id": outcome.event_id,
                    "fanout_count": outcome.fanout_count,
                    "duplicate": outcome.duplicate,
                }
            )
            return {
                "event_id": outcome.event_id,
                "fanout_count": outcome.fanout_count,
                "duplicate": outcome.duplicate,
                "trace_id": current_trace_id(),
            }

    @app.get("/v1/tenants/{tenant_id}/events/{event_id}/deliveries", tags=["deliveries"])
    def event_deliveries(
        tenant_id: str, event_id: str, rt: RuntimeDep, who: PrincipalDep
    ) -> dict[str, Any]:
        _tenant(rt, who, tenant_id)
        found = rt.store.events.deliveries_for_event(tenant_id, event_id)
        return {"event_id": event_id, "deliveries": [delivery_view(d) for d in found]}

    # deliveries and the DLQ ----------------------------------------------------------

    @app.get("/v1/tenants/{tenant_id}/deliveries", tags=["deliveries"])
    def list_deliveries(
        tenant_id: str,
        rt: RuntimeDep,
        who: PrincipalDep,
        status: DeliveryStatus | None = None,
        endpoint_id: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        _tenant(rt, who, tenant_id)
        found = rt.store.events.list_deliveries(
            tenant_id, status=status, endpoint_id=endpoint_id, limit=limit
        )
        return {"deliveries": [delivery_view(d) for d in found]}

    @app.get("/v1/tenants/{tenant_id}/deliveries/{delivery_id}", tags=["deliveries"])
    def get_delivery(
        tenant_id: str, delivery_id: str, rt: RuntimeDep, who: PrincipalDep
    ) -> dict[str, Any]:
        _tenant(rt, who, tenant_id)
        delivery, attempts = rt.store.events.get_delivery(tenant_id, delivery_id)
        return {
            "delivery": delivery_view(delivery),
            "attempts": [
                {
                    "attempt_no": a.attempt_no,
                    "started_at": a.started_at.isoformat(),
                    "duration_ms": round(a.duration_ms, 3),
                    "http_status": a.http_status,
                    "error": a.error,
                    "reason": a.reason,
                    "outcome": a.outcome,
                }
                for a in attempts
            ],
        }

    @app.get("/v1/tenants/{tenant_id}/dlq", tags=["dlq"])
    def list_dlq(
        tenant_id: str,
        rt: RuntimeDep,
        who: PrincipalDep,
        endpoint_id: str | None = None,
        since: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, Any]:
        _tenant(rt, who, tenant_id)
        found = rt.store.events.list_deliveries(
            tenant_id,
            status=DeliveryStatus.DEAD,
            endpoint_id=endpoint_id,
            since=_aware(since),
            limit=limit,
            unreplayed_only=True,
        )
        return {"deliveries": [delivery_view(d) for d in found]}

    @app.post(
        "/v1/tenants/{tenant_id}/deliveries/{delivery_id}:replay", status_code=202, tags=["dlq"]
    )
    async def replay_one(
        tenant_id: str, delivery_id: str, rt: RuntimeDep, who: PrincipalDep
    ) -> dict[str, Any]:
        await run_in_threadpool(_tenant, rt, who, tenant_id)
        made = await rt.replays.replay_one(tenant_id, delivery_id)
        return {"delivery_id": made.id, "replay_of": made.replay_of}

    @app.post("/v1/tenants/{tenant_id}/dlq:replay", status_code=202, tags=["dlq"])
    async def replay_many(
        tenant_id: str, body: DlqReplayRequest, rt: RuntimeDep, who: PrincipalDep
    ) -> dict[str, Any]:
        await run_in_threadpool(_tenant, rt, who, tenant_id)
        done = await rt.replays.replay_dead(
            tenant_id, endpoint_id=body.endpoint_id, since=_aware(body.since), dry_run=body.dry_run
        )
        return {
            "dry_run": done.dry_run,
            "replayed": done.replayed,
            "deliveries": [{"delivery_id": new, "replay_of": old} for new, old in done.pairs],
        }


def _aware(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


async def _read_limited(request: Request, limit: int) -> bytes:
    """Read the body, refusing (413) as soon as it is known to exceed the limit."""
    declared = request.headers.get("content-length")
    # the envelope ({"event_type", "idempotency_key"}) may add a little on top of the payload
    envelope_allowance = 4096
    if declared and declared.isdigit() and int(declared) > limit + envelope_allowance:
        raise PayloadTooLarge("payload", f"request body is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + envelope_allowance:
            raise PayloadTooLarge("payload", f"request body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_publish(body: bytes) -> PublishRequest:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _MalformedJson() from exc
    if not isinstance(data, dict):
        raise ValidationError("body", "the request body must be a JSON object")
    if "payload" not in data:
        raise ValidationError("payload", "payload is required")
    try:
        return PublishRequest.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise ValidationError(field, f"{field}: {first['msg']}") from exc


class _MalformedJson(ValidationError):
    status_code = 400
    code = "malformed_json"

    def __init__(self) -> None:
        super().__init__("body", "request body is not valid JSON")
