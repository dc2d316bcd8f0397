"""The publish fast path answers exactly as the FastAPI route does: the same request sent
to the app with and without ``PublishFastPath`` gets the same status, body and headers,
for good publishes and for every kind of refusal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.types import ASGIApp

from harborctl.ingest.app import create_api
from harborctl.ingest.fast_publish import PublishFastPath
from harborctl.observability.metrics import Metrics
from harborctl.settings import Settings

ADMIN_KEY = "hh_admin_" + "k" * 32
MAX_PAYLOAD = 2048
HEADERS_COMPARED = ("content-type", "www-authenticate", "retry-after", "allow")
VOLATILE = ("event_id", "trace_id")  # new on every publish


@asynccontextmanager
async def _running_api(tmp_path: Path) -> AsyncIterator[FastAPI]:
    settings = Settings(
        state_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path}/hh.db",
        transport="db",
        admin_key=ADMIN_KEY,
        max_payload_bytes=MAX_PAYLOAD,
    )
    api = create_api(settings, Metrics())
    async with api.router.lifespan_context(api):
        yield api


def _answer(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        body = {k: ("<new>" if k in VOLATILE else v) for k, v in body.items()}
    headers = {h: response.headers[h] for h in HEADERS_COMPARED if h in response.headers}
    return response.status_code, body, headers


Request = Callable[[str, str], tuple[str, str, dict[str, str], bytes]]


def _cases() -> dict[str, Request]:
    """name → (tenant id, tenant key) → (method, path, headers, body)."""
    good = json.dumps({"event_type": "order.created", "payload": {"n": 1}}).encode()

    def publish(
        body: bytes = good, *, key: str | None = None, tenant: str | None = None
    ) -> Request:
        def build(tenant_id: str, tenant_key: str) -> tuple[str, str, dict[str, str], bytes]:
            headers = {"Content-Type": "application/json"}
            used = tenant_key if key is None else key
            if used:
                headers["Authorization"] = f"Bearer {used}"
            path = f"/v1/tenants/{tenant or tenant_id}/events:publish"
            return "POST", path, headers, body

        return build

    keyed = json.dumps(
        {"event_type": "order.created", "payload": {"n": 2}, "idempotency_key": "k-1"}
    ).encode()
    return {
        "accepted": publish(),
        "accepted with an idempotency key": publish(keyed),
        "the same key again: a duplicate": publish(keyed),
        "admin key": publish(key=ADMIN_KEY),
        "no key": publish(key=""),
        "unknown key": publish(key="hh_nobody"),
        "another tenant": publish(tenant="ten_other"),
        "admin, unknown tenant": publish(key=ADMIN_KEY, tenant="ten_missing"),
        "not JSON": publish(b"{not json"),
        "empty body": publish(b""),
        "not an object": publish(b"[1, 2]"),
        "no event type": publish(b'{"payload": {}}'),
        "event type not a string": publish(b'{"event_type": 7, "payload": {}}'),
        "no payload": publish(b'{"event_type": "order.created"}'),
        "payload too large": publish(
            json.dumps({"event_type": "a", "payload": {"s": "x" * (MAX_PAYLOAD * 4)}}).encode()
        ),
        "duplicate member": publish(b'{"event_type": "a", "event_type": "b", "payload": {}}'),
        "invalid UTF-8": publish(b'{"event_type": "a\xff", "payload": {}}'),
    }


def test_the_fast_path_answers_as_the_route_does(tmp_path: Path) -> None:
    async def main() -> dict[str, tuple[Any, Any]]:
        async with _running_api(tmp_path) as api:
            admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
            both: dict[str, ASGIApp] = {"route": api, "fast path": PublishFastPath(api)}
            clients = {
                name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
                for name, app in both.items()
            }
            answers: dict[str, tuple[Any, Any]] = {}
            try:
                tenants = {}
                for name, client in clients.items():  # a tenant of its own per way
                    made = await client.post("/v1/tenants", json={"name": name}, headers=admin)
                    tenants[name] = (made.json()["tenant_id"], made.json()["api_key"])
                for case, build in _cases().items():
                    got = []
                    for name, client in clients.items():
                        method, path, headers, body = build(*tenants[name])
                        response = await client.request(method, path, headers=headers, content=body)
                        got.append(_answer(response))
                    answers[case] = (got[0], got[1])
            finally:
                for client in clients.values():
                    await client.aclose()
            return answers

    answers = asyncio.run(main())
    differ = {case: pair for case, pair in answers.items() if pair[0] != pair[1]}
    assert not differ, json.dumps(differ, indent=1, default=str)
    statuses = {case: route[0] for case, (route, _) in answers.items()}
    assert statuses["accepted"] == 202 and statuses["no key"] == 401  # the cases do differ
    assert statuses["payload too large"] == 413 and statuses["another tenant"] == 404
