"""The ingest API's routes (DESIGN.md "HTTP API"): thin, over the store and the services."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from harborctl.domain.address_policy import blocked_literal
from harborctl.domain.models import DeliveryStatus, DisabledReason
from harborctl.domain.signing import generate_secret
from harborctl.errors import ValidationError
from harborctl.ingest.admission import admitted_at
from harborctl.ingest.body import parse_publish, read_limited
from harborctl.ingest.publish_route import PUBLISH_ROUTE
from harborctl.ingest.responses import (
    AUTHENTICATED,
    TENANT,
    TENANT_BODY,
    DeliveryDetail,
    DeliveryList,
    DlqReplayDone,
    EndpointCreated,
    EndpointList,
    EndpointOne,
    EventDeliveries,
    Health,
    PublishAccepted,
    Ready,
    ReplayAccepted,
    SubscriptionList,
    SubscriptionOne,
    TenantCreated,
    TenantList,
    answers,
    errors_for,
)
from harborctl.ingest.runtime import PrincipalDep, RuntimeDep, check_tenant, runtime, utcnow
from harborctl.ingest.schemas import (
    DlqReplayRequest,
    EndpointCreate,
    EndpointUpdate,
    Instant,
    PublishRequest,
    SecretRotation,
    SubscriptionCreate,
    TenantCreate,
    delivery_view,
    endpoint_view,
    subscription_view,
    tenant_view,
)
from harborctl.ingest.tracing import publish_span
from harborctl.observability.logging import log_context
from harborctl.observability.metrics import exposition
from harborctl.observability.tracing import current_trace_id
from harborctl.settings import Settings

router = APIRouter()


@router.get("/healthz", tags=["ops"], response_model=None, responses=answers(200, Health))
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"], response_model=None, responses=answers(200, Ready, 503))
def readyz(rt: RuntimeDep) -> dict[str, str]:
    rt.store.ping()
    return {"status": "ready", "transport": rt.settings.transport}


@router.get("/metrics", tags=["ops"], include_in_schema=False)
def metrics(rt: RuntimeDep, request: Request) -> Response:
    body, content_type = exposition(rt.metrics.registry, request.headers.get("accept"))
    return Response(body, media_type=content_type)


# tenants -----------------------------------------------------------------------


@router.post(
    "/v1/tenants",
    status_code=201,
    tags=["tenants"],
    response_model=None,
    responses=answers(201, TenantCreated, *AUTHENTICATED, 400, 422),
)
def create_tenant(body: TenantCreate, rt: RuntimeDep, who: PrincipalDep) -> dict[str, Any]:
    who.require_admin()
    tenant, key = rt.store.admin.create_tenant(body.name, utcnow())
    return {**tenant_view(tenant), "api_key": key}


@router.get(
    "/v1/tenants",
    tags=["tenants"],
    response_model=None,
    responses=answers(200, TenantList, *AUTHENTICATED),
)
def list_tenants(rt: RuntimeDep, who: PrincipalDep) -> dict[str, Any]:
    who.require_admin()
    return {"tenants": [tenant_view(t) for t in rt.store.admin.list_tenants()]}


# endpoints ---------------------------------------------------------------------


def refuse_blocked_address(url: str, settings: Settings) -> None:
    """422 naming ``url`` when its host is an address the outbound request guard refuses
    (a name is judged when the worker connects)."""
    verdict = blocked_literal(url, settings.outbound_allow)
    if verdict is not None:
        raise ValidationError(
            "url",
            f"url: {verdict.reason}: the outbound request guard refuses deliveries there "
            "(outbound_allow_cidrs opens a range deliberately)",
        )


@router.post(
    "/v1/tenants/{tenant_id}/endpoints",
    status_code=201,
    tags=["endpoints"],
    response_model=None,
    responses=answers(201, EndpointCreated, *TENANT_BODY),
)
def create_endpoint(
    tenant_id: str, body: EndpointCreate, rt: RuntimeDep, who: PrincipalDep
) -> dict[str, Any]:
    check_tenant(rt, who, tenant_id)
    refuse_blocked_address(body.url, rt.settings)
    secret = body.secret or generate_secret()
    endpoint = rt.store.admin.create_endpoint(
        tenant_id,
        url=body.url,
        secret=secret,
        description=body.description,
        rate_limit_rps=body.rate_limit_rps,
        max_attempts=body.max_attempts,
        breaker_failure_threshold=body.breaker_failure_threshold,
        now=utcnow(),
    )
    return {"endpoint": endpoint_view(endpoint), "secret": secret}


@router.get(
    "/v1/tenants/{tenant_id}/endpoints",
    tags=["endpoints"],
    response_model=None,
    responses=answers(200, EndpointList, *TENANT),
)
def list_endpoints(tenant_id: str, rt: RuntimeDep, who: PrincipalDep) -> dict[str, Any]:
    check_tenant(rt, who, tenant_id)
    return {"endpoints": [endpoint_view(e) for e in rt.store.admin.list_endpoints(tenant_id)]}


@router.get(
    "/v1/tenants/{tenant_id}/endpoints/{endpoint_id}",
    tags=["endpoints"],
    response_model=None,
    responses=answers(200, EndpointOne, *TENANT),
)
def get_endpoint(
    tenant_id: str, endpoint_id: str, rt: RuntimeDep, who: PrincipalDep
) -> dict[str, Any]:
    check_tenant(rt, who, tenant_id)
    return {"endpoint": endpoint_view(rt.store.admin.get_endpoint(tenant_id, endpoint_id))}


@router.patch(
    "/v1/tenants/{tenant_id}/endpoints/{endpoint_id}",
    tags=["endpoints"],
    response_model=None,
    responses=answers(200, EndpointOne, *TENANT_BODY),
)
def update_endpoint(
    tenant_id: str, endpoint_id: str, body: EndpointUpdate, rt: RuntimeDep, who: PrincipalDep
) -> dict[str, Any]:
    """Change the fields given (url, description, rate_limit_rps, max_attempts, enabled);
    a bad one answers 4xx naming it and changes nothing. ``enabled: false`` disables the
    endpoint (reason ``manual``), ``true`` enables it again."""
    check_tenant(rt, who, tenant_id)
    changes = body.changes()
    if not changes:
        raise ValidationError(
            "body",
            "nothing to change: give url, description, rate_limit_rps, max_attempts, "
            "breaker_failure_threshold or enabled",
        )
    if "url" in changes:
        refuse_blocked_address(changes["url"], rt.settings)
    before, after = rt.store.admin.update_endpoint(tenant_id, endpoint_id, changes, utcnow())
    if before.enabled and not after.enabled:
        rt.metrics.endpoint_disabled(DisabledReason.MANUAL.value)
    return {"endpoint": endpoint_view(after)}


@router.post(
    "/v1/tenants/{tenant_id}/endpoints/{endpoint_id}:rotate-secret",
    tags=["endpoints"],
    response_model=None,
    responses=answers(200, EndpointCreated, *TENANT_BODY),
)
def rotate_secret(
    tenant_id: str,
    endpoint_id: str,
    rt: RuntimeDep,
    who: PrincipalDep,
    body: SecretRotation,
) -> dict[str, Any]:
    """A new signing secret (given, or generated), shown only in this answer; the current
    one keeps signing beside it until ``previous_secret_until``, then it is dropped."""
    check_tenant(rt, who, tenant_id)
    secret = body.secret or generate_secret()
    overlap = (
        body.overlap_seconds
        if body.overlap_seconds is not None
        else rt.settings.secret_overlap_seconds
    )
    endpoint = rt.store.admin.rotate_secret(
        tenant_id, endpoint_id, secret, timedelta(seconds=overlap), utcnow()
    )
    return {"endpoint": endpoint_view(endpoint), "secret": secret}


@router.delete(
    "/v1/tenants/{tenant_id}/endpoints/{endpoint_id}",
    status_code=204,
    tags=["endpoints"],
    responses=errors_for(*TENANT),
)
def delete_endpoint(
    tenant_id: str, endpoint_id: str, rt: RuntimeDep, who: PrincipalDep
) -> Response:
    check_tenant(rt, who, tenant_id)
    rt.store.admin.delete_endpoint(tenant_id, endpoint_id, utcnow())
    return Response(status_code=204)


# subscriptions -----------------------------------------------------------------


@router.post(
    "/v1/tenants/{tenant_id}/subscriptions",
    status_code=201,
    tags=["subscriptions"],
    response_model=None,
    responses=answers(201, SubscriptionOne, *TENANT_BODY, 409),
)
def create_subscription(
    tenant_id: str, body: SubscriptionCreate, rt: RuntimeDep, who: PrincipalDep
) -> dict[str, Any]:
    check_tenant(rt, who, tenant_id)
    sub = rt.store.admin.create_subscription(tenant_id, body.endpoint_id, body.event_type, utcnow())
    return {"subscription": subscription_view(sub)}


@router.get(
    "/v1/tenants/{tenant_id}/subscriptions",
    tags=["subscriptions"],
    response_model=None,
    responses=answers(200, SubscriptionList, *TENANT),
)
def list_subscriptions(tenant_id: str, rt: RuntimeDep, who: PrincipalDep) -> dict[str, Any]:
    check_tenant(rt, who, tenant_id)
    subs = rt.store.admin.list_subscriptions(tenant_id)
    return {"subscriptions": [subscription_view(s) for s in subs]}


@router.delete(
    "/v1/tenants/{tenant_id}/subscriptions/{subscription_id}",
    status_code=204,
    tags=["subscriptions"],
    responses=errors_for(*TENANT),
)
def delete_subscription(
    tenant_id: str, subscription_id: str, rt: RuntimeDep, who: PrincipalDep
) -> Response:
    check_tenant(rt, who, tenant_id)
    rt.store.admin.delete_subscription(tenant_id, subscription_id)
    return Response(status_code=204)


# events ------------------------------------------------------------------------


@router.post(
    PUBLISH_ROUTE,
    status_code=202,
    tags=["events"],
    response_model=None,
    responses=answers(202, PublishAccepted, *TENANT_BODY, 413),
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
        if who.admin:  # only the admin's tenant check needs the database
            await run_in_threadpool(check_tenant, rt, who, tenant_id)
        else:
            who.require_tenant(tenant_id)
        body = await read_limited(request, rt.settings.max_payload_bytes)
        event = parse_publish(
            body,
            max_payload_bytes=rt.settings.max_payload_bytes,
            max_depth=rt.settings.max_payload_depth,
        )
        span.set_attribute("event_type", event.event_type)
        outcome = await rt.publishing.publish(
            tenant_id,
            event_type=event.event_type,
            payload=event.payload,
            idempotency_key=event.idempotency_key,
            admitted_at=admitted_at(request),
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


@router.get(
    "/v1/tenants/{tenant_id}/events/{event_id}/deliveries",
    tags=["deliveries"],
    response_model=None,
    responses=answers(200, EventDeliveries, *TENANT),
)
def event_deliveries(
    tenant_id: str, event_id: str, rt: RuntimeDep, who: PrincipalDep
) -> dict[str, Any]:
    check_tenant(rt, who, tenant_id)
    found = rt.store.events.deliveries_for_event(tenant_id, event_id)
    return {"event_id": event_id, "deliveries": [delivery_view(d) for d in found]}


# deliveries and the DLQ ----------------------------------------------------------


@router.get(
    "/v1/tenants/{tenant_id}/deliveries",
    tags=["deliveries"],
    response_model=None,
    responses=answers(200, DeliveryList, *TENANT),
)
def list_deliveries(
    tenant_id: str,
    rt: RuntimeDep,
    who: PrincipalDep,
    status: DeliveryStatus | None = None,
    endpoint_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    check_tenant(rt, who, tenant_id)
    found = rt.store.events.list_deliveries(
        tenant_id, status=status, endpoint_id=endpoint_id, limit=limit
    )
    return {"deliveries": [delivery_view(d) for d in found]}


@router.get(
    "/v1/tenants/{tenant_id}/deliveries/{delivery_id}",
    tags=["deliveries"],
    response_model=None,
    responses=answers(200, DeliveryDetail, *TENANT),
)
def get_delivery(
    tenant_id: str, delivery_id: str, rt: RuntimeDep, who: PrincipalDep
) -> dict[str, Any]:
    check_tenant(rt, who, tenant_id)
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
                "response_excerpt": a.response_excerpt,
            }
            for a in attempts
        ],
    }


@router.get(
    "/v1/tenants/{tenant_id}/dlq",
    tags=["dlq"],
    response_model=None,
    responses=answers(200, DeliveryList, *TENANT),
)
def list_dlq(
    tenant_id: str,
    rt: RuntimeDep,
    who: PrincipalDep,
    endpoint_id: str | None = None,
    since: Instant | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    check_tenant(rt, who, tenant_id)
    found = rt.store.events.list_deliveries(
        tenant_id,
        status=DeliveryStatus.DEAD,
        endpoint_id=endpoint_id,
        since=since,
        limit=limit,
        unreplayed_only=True,
    )
    return {"deliveries": [delivery_view(d) for d in found]}


@router.post(
    "/v1/tenants/{tenant_id}/deliveries/{delivery_id}:replay",
    status_code=202,
    tags=["dlq"],
    response_model=None,
    responses=answers(202, ReplayAccepted, *TENANT, 409),
)
async def replay_one(
    tenant_id: str, delivery_id: str, rt: RuntimeDep, who: PrincipalDep
) -> dict[str, Any]:
    await run_in_threadpool(check_tenant, rt, who, tenant_id)
    made = await rt.replays.replay_one(tenant_id, delivery_id)
    return {"delivery_id": made.id, "replay_of": made.replay_of}


@router.post(
    "/v1/tenants/{tenant_id}/dlq:replay",
    status_code=202,
    tags=["dlq"],
    response_model=None,
    responses=answers(202, DlqReplayDone, *TENANT_BODY, 409),
)
async def replay_many(
    tenant_id: str, body: DlqReplayRequest, rt: RuntimeDep, who: PrincipalDep
) -> dict[str, Any]:
    await run_in_threadpool(check_tenant, rt, who, tenant_id)
    done = await rt.replays.replay_dead(
        tenant_id, endpoint_id=body.endpoint_id, since=body.since, dry_run=body.dry_run
    )
    return {
        "dry_run": done.dry_run,
        "replayed": done.replayed,
        "deliveries": [{"delivery_id": new, "replay_of": old} for new, old in done.pairs],
    }
