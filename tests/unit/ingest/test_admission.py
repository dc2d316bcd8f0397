"""PublishAdmission: past ``max_in_flight`` publishes in progress, the next is answered 503
with Retry-After at once, counted by reason; other requests are never refused."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from harborctl.ingest.admission import ADMITTED_AT, PublishAdmission
from harborctl.observability.metrics import Metrics

PUBLISH = "/v1/tenants/t1/events:publish"


class HeldApp:
    """An ASGI app that answers 202 once released, noting each request's admission time."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.admitted_at: list[float | None] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += 1
        self.admitted_at.append(scope.get("state", {}).get(ADMITTED_AT))
        await self.release.wait()
        await send({"type": "http.response.start", "status": 202, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def _refused(metrics: Metrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "harborhook_publish_refused_total", {"reason": reason}
    )
    assert value is not None
    return value


def test_past_max_in_flight_a_publish_is_refused_at_once_and_counted() -> None:
    inner, metrics = HeldApp(), Metrics()
    app = PublishAdmission(inner, max_in_flight=2, metrics=metrics, monotonic=lambda: 42.0)

    async def main() -> tuple[list[httpx.Response], httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            held = [asyncio.create_task(client.post(PUBLISH, json={})) for _ in range(2)]
            while inner.entered < 2:  # both admitted and waiting inside the app
                await asyncio.sleep(0)
            refused = await asyncio.wait_for(client.post(PUBLISH, json={}), timeout=5)
            inner.release.set()
            accepted = await asyncio.gather(*held)
            after = await client.post(PUBLISH, json={})  # room again: admitted
            return accepted, refused, after

    accepted, refused, after = asyncio.run(main())
    assert [r.status_code for r in accepted] == [202, 202]
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["error"]["code"] == "overloaded"
    assert after.status_code == 202
    assert inner.entered == 3  # the refused one never reached the app
    assert inner.admitted_at == [42.0, 42.0, 42.0]
    assert _refused(metrics, "in_flight") == 1
    assert _refused(metrics, "deadline") == 0
    assert app.in_flight == 0


def test_other_requests_pass_however_many_publishes_are_in_progress() -> None:
    inner, metrics = HeldApp(), Metrics()
    app = PublishAdmission(inner, max_in_flight=1, metrics=metrics)
    app.in_flight = 1  # as if one publish were in progress
    inner.release.set()

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as client:
            return [
                (await client.get(PUBLISH)).status_code,  # not a publish: wrong method
                (await client.post("/v1/tenants/t1/endpoints", json={})).status_code,
                (await client.get("/healthz")).status_code,
            ]

    assert asyncio.run(main()) == [202, 202, 202]
    assert _refused(metrics, "in_flight") == 0


def test_max_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError):
        PublishAdmission(HeldApp(), max_in_flight=0, metrics=Metrics())
