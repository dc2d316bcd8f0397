"""Past what it can hold, the ingest refuses explicitly (503 + Retry-After), stores nothing
for a refused publish, loses nothing it accepted, and recovers by itself; a database that
is down answers 503 too, never 500 and never 202 for something not stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.pipeline import Pipeline, received
from tests.support.services import (
    PostgresServer,
    postgres_bin_dir,
    postgres_os_user,
    postgres_workdir,
)
from tests.support.wait import wait_until

pytestmark = pytest.mark.slow


async def _flood(url: str, key: str, tenant_id: str, count: int) -> list[tuple[int, str | None]]:
    """``count`` publishes at once: (status, Retry-After) of each."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as session:

        async def one(n: int) -> tuple[int, str | None]:
            async with session.post(
                f"{url}/v1/tenants/{tenant_id}/events:publish",
                json={"event_type": "order.created", "payload": {"n": n}},
            ) as answer:
                await answer.read()
                return answer.status, answer.headers.get("Retry-After")

        return await asyncio.gather(*(one(n) for n in range(count)))


def _refused_in_flight(api_url: str) -> float:
    """``harborhook_publish_refused_total{reason="in_flight"}`` from the ingest's /metrics."""
    text = httpx.get(f"{api_url}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "harborhook_publish_refused_total" and sample.labels == {
                "reason": "in_flight"
            }:
                return sample.value
    raise AssertionError(f"no harborhook_publish_refused_total in:\n{text}")


def test_a_flood_is_refused_explicitly_and_what_was_accepted_is_delivered(
    tmp_path: Path, receiver: str
) -> None:
    pipeline = Pipeline(
        tmp_path, f"sqlite:///{tmp_path}/hh.db", "db", {"HARBORHOOK_PUBLISH_MAX_IN_FLIGHT": "4"}
    )
    try:
        pipeline.start_ingest()
        pipeline.start_worker()
        tenant = pipeline.tenant()
        tenant.endpoint(f"{receiver}/flood/ok", rate_limit_rps=10_000)
        answers = asyncio.run(_flood(pipeline.api_url, tenant.key, tenant.id, 300))
        statuses = sorted({status for status, _ in answers})
        assert statuses == [202, 503], answers
        assert all(retry == "1" for status, retry in answers if status == 503)
        accepted = sum(status == 202 for status, _ in answers)
        with tenant.api() as api:
            stored = api.get(f"/v1/tenants/{tenant.id}/deliveries", params={"limit": 1000})
        assert len(stored.json()["deliveries"]) == accepted  # nothing of a refusal was stored
        refused = sum(status == 503 for status, _ in answers)
        assert _refused_in_flight(pipeline.api_url) == refused
        wait_until(
            lambda: len(received(receiver, "/flood/ok")) >= accepted,
            60,
            describe=f"{accepted} accepted events delivered",
        )
        assert tenant.publish({"after": "the flood"})["fanout_count"] == 1  # recovered
    finally:
        pipeline.stop()


def test_the_database_down_answers_503_with_retry_after_and_comes_back(
    tmp_path: Path, receiver: str
) -> None:
    os_user = postgres_os_user()
    with postgres_workdir(os_user) as workdir:
        server = PostgresServer(postgres_bin_dir(), workdir, os_user)
        server.start()
        server.create_database("hh")
        pipeline = Pipeline(tmp_path, server.url("hh"), "db")
        try:
            pipeline.start_ingest()
            tenant = pipeline.tenant()
            tenant.endpoint(f"{receiver}/db/ok")
            server.stop()
            with tenant.api() as api:
                down = api.post(
                    f"/v1/tenants/{tenant.id}/events:publish",
                    json={"event_type": "order.created", "payload": {"n": 1}},
                )
            assert down.status_code == 503, down.text
            assert down.headers["Retry-After"] == "2"
            assert down.json()["error"]["code"] == "store_unavailable"
            server.start()
            assert tenant.publish({"n": 2})["fanout_count"] == 1
        finally:
            pipeline.stop()
            server.stop()
