"""The load generator against a stand-in for the ingest API, and the bench's receiver."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from harborctl.bench.load import LoadPlan, event_body, payload, run_load
from harborctl.bench.sink import SinkProcess


class _Seen(list[dict[str, Any]]):
    """The publish bodies the stand-in got, and the most it answered at once."""

    open_now = 0
    most_open = 0


@asynccontextmanager
async def _fake_ingest(
    refuse_every: int = 0, delay: float = 0.0
) -> AsyncIterator[tuple[str, _Seen]]:
    """202 {event_id, fanout_count} for each publish; every ``refuse_every``-th gets 429."""
    seen = _Seen()
    numbers = itertools.count(1)

    async def publish(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        assert request.headers["Authorization"] == "Bearer hh_key"
        seen.append(body)
        n = next(numbers)
        seen.open_now += 1
        seen.most_open = max(seen.most_open, seen.open_now)
        try:
            if delay:
                await asyncio.sleep(delay)
        finally:
            seen.open_now -= 1
        if refuse_every and n % refuse_every == 0:
            return web.json_response({"error": {"code": "overloaded"}}, status=429,
                                     headers={"Retry-After": "0"})  # fmt: skip
        return web.json_response({"event_id": f"evt_{n}", "fanout_count": 3}, status=202)

    app = web.Application()
    app.router.add_post("/v1/tenants/t1/events:publish", publish)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/v1/tenants/t1/events:publish", seen
    finally:
        await runner.cleanup()


def test_the_request_body_is_the_publish_contract() -> None:
    body = json.loads(event_body(7, "xx"))
    assert body == {"event_type": "bench.tick", "payload": {"n": 7, "pad": "xx"}}
    assert json.loads(payload(7, "xx")) == body["payload"]


def test_closed_loop_publishes_every_event_and_counts_refusals() -> None:
    async def scenario() -> None:
        async with _fake_ingest(refuse_every=5) as (url, seen):
            seen_progress: list[int] = []
            log = await run_load(
                url,
                "hh_key",
                LoadPlan(concurrency=4, events=50, payload_bytes=10),
                lambda stage, done, total: seen_progress.append(done),
            )
        assert len(seen) == 50 and log.sent == 50
        assert log.accepted == 40 and log.refused == 10 and log.error_count == 0
        assert {body["payload"]["n"] for body in seen} == set(range(50))
        assert all(a >= i for a, i in zip(log.answered, log.intended, strict=True))
        assert sum(log.fanout) == 40 * 3
        assert seen_progress[-1] == 50

    asyncio.run(scenario())


def test_open_loop_keeps_the_schedule_and_measures_from_the_due_time() -> None:
    async def scenario() -> None:
        # every answer takes 50 ms; 20 events at 100/s are due 10 ms apart
        async with _fake_ingest(delay=0.05) as (url, seen):
            log = await run_load(url, "hh_key", LoadPlan(rate=100, events=20, max_in_flight=50))
        assert log.sent == 20 and log.accepted == 20
        due = sorted(log.intended)
        assert [round(d - log.started, 3) for d in due] == [n / 100 for n in range(20)]
        # the schedule does not wait for answers: several publishes were open at once
        assert seen.most_open > 1

    asyncio.run(scenario())


def test_an_open_loop_behind_a_full_connection_pool_counts_the_wait() -> None:
    async def scenario() -> None:
        async with _fake_ingest(delay=0.05) as (url, _):
            log = await run_load(url, "hh_key", LoadPlan(rate=1000, events=10, max_in_flight=1))
        latencies = sorted(a - i for a, i in zip(log.answered, log.intended, strict=True))
        # one connection: the 10th waited for the 9 before it
        assert latencies[-1] >= 9 * 0.05

    asyncio.run(scenario())


def test_a_duration_bounds_a_closed_loop() -> None:
    async def scenario() -> None:
        async with _fake_ingest(delay=0.01) as (url, _):
            log = await run_load(url, "hh_key", LoadPlan(concurrency=2, duration=0.3))
        assert log.sent >= 2
        assert max(log.intended) - log.started < 0.3

    asyncio.run(scenario())


def test_an_unreachable_api_is_an_error_not_a_crash() -> None:
    async def scenario() -> None:
        log = await run_load(
            "http://127.0.0.1:9/v1/tenants/t1/events:publish", "k", LoadPlan(events=3)
        )
        assert log.sent == 3 and log.accepted == 0 and log.error_count == 3
        assert log.errors and "Error" in log.errors[0]

    asyncio.run(scenario())


def test_the_receiver_records_first_arrivals_and_counts_duplicates(tmp_path: Path) -> None:
    from harborctl.bench.target import free_ports

    with SinkProcess(free_ports(1)[0], tmp_path / "sink.log") as sink:
        with httpx.Client(base_url=sink.url) as client:
            before = time.monotonic()
            for path, webhook_id in (("/hh/0", "evt_1"), ("/hh/1", "evt_1"), ("/hh/0", "evt_1")):
                answer = client.post(path, content=b"{}", headers={"webhook-id": webhook_id})
                assert answer.status_code == 200
            for _ in range(3):
                assert client.post("/nsq/topic", content=b"{}").status_code == 200
        stats = sink.stats("hh")
        assert (stats.posts, stats.distinct, stats.duplicates) == (3, 2, 1)
        arrivals = sink.arrivals("hh")
        assert set(arrivals) == {("/hh/0", "evt_1"), ("/hh/1", "evt_1")}
        # the receiver's clock is the bench's (CLOCK_MONOTONIC)
        assert all(before <= at <= time.monotonic() for at in arrivals.values())
        nsq = sink.stats("nsq")
        assert (nsq.posts, nsq.distinct) == (3, 3)
        assert sink.stats("other").posts == 0
        pid = sink.pid
    assert not Path(f"/proc/{pid}").exists()  # stopped and reaped
