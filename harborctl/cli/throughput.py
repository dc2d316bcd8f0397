"""End-to-end throughput of a running stack: publish N events, count what arrives.

Creates a throwaway tenant whose endpoints point at a local receiver started here, with a
rate limit high enough not to throttle, publishes with bounded concurrency and waits until
every delivery has arrived (or the deadline passes). Traffic goes to loopback only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import httpx

from harborctl.client import ApiClient
from harborctl.domain.signing import generate_secret
from harborctl.errors import HarborHookError
from harborctl.receiver.server import running_receiver

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BenchResult:
    events: int
    endpoints: int
    concurrency: int
    deliveries_expected: int
    deliveries_received: int
    publish_seconds: float
    delivery_seconds: float
    publish_p50_ms: float
    publish_p99_ms: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.publish_seconds if self.publish_seconds else 0.0

    @property
    def deliveries_per_second(self) -> float:
        return self.deliveries_received / self.delivery_seconds if self.delivery_seconds else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            **asdict(self),
            "events_per_second": round(self.events_per_second, 1),
            "deliveries_per_second": round(self.deliveries_per_second, 1),
        }


def run_bench(
    admin: ApiClient,
    *,
    events: int,
    endpoints: int,
    concurrency: int,
    timeout: float,
    progress: Progress | None = None,
) -> BenchResult:
    secret = generate_secret()
    with running_receiver(secret=secret) as receiver_url:
        tenant = admin.create_tenant(f"bench-{int(time.time())}")
        tenant_id, key = str(tenant["tenant_id"]), str(tenant["api_key"])
        for i in range(endpoints):
            made = admin.create_endpoint(
                tenant_id, f"{receiver_url}/bench{i}/ok", secret=secret, rate_limit_rps=10_000
            )
            endpoint = made["endpoint"]
            assert isinstance(endpoint, dict)
            admin.create_subscription(tenant_id, str(endpoint["endpoint_id"]), "bench.tick")
        started = time.perf_counter()
        latencies = asyncio.run(
            _publish_all(admin.base_url, key, tenant_id, events, concurrency, progress)
        )
        published = time.perf_counter()
        expected = events * endpoints
        received = _wait_for_deliveries(receiver_url, expected, timeout, progress)
        finished = time.perf_counter()
    latencies.sort()
    return BenchResult(
        events=events,
        endpoints=endpoints,
        concurrency=concurrency,
        deliveries_expected=expected,
        deliveries_received=received,
        publish_seconds=round(published - started, 3),
        delivery_seconds=round(finished - started, 3),
        publish_p50_ms=round(_quantile(latencies, 0.50) * 1000, 2),
        publish_p99_ms=round(_quantile(latencies, 0.99) * 1000, 2),
    )


async def _publish_all(
    base_url: str,
    key: str,
    tenant_id: str,
    events: int,
    concurrency: int,
    progress: Progress | None,
) -> list[float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(events):
        queue.put_nowait(n)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"Authorization": f"Bearer {key}"},
        limits=limits,
        timeout=30,
    ) as client:

        async def publisher() -> None:
            while not queue.empty():
                n = queue.get_nowait()
                began = time.perf_counter()
                answer = await client.post(
                    f"/v1/tenants/{tenant_id}/events:publish",
                    json={"event_type": "bench.tick", "payload": {"n": n, "pad": "x" * 200}},
                )
                if answer.status_code != 202:
                    raise HarborHookError(f"publish answered {answer.status_code}: {answer.text}")
                latencies.append(time.perf_counter() - began)
                if progress and len(latencies) % 100 == 0:
                    progress("published", len(latencies), events)

        await asyncio.gather(*(publisher() for _ in range(concurrency)))
    return latencies


def _wait_for_deliveries(
    receiver_url: str, expected: int, timeout: float, progress: Progress | None
) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    with httpx.Client(base_url=receiver_url, timeout=10) as client:
        while time.monotonic() < deadline:
            count = int(client.get("/_count").json()["count"])
            if progress:
                progress("delivered", count, expected)
            if count >= expected:
                break
            time.sleep(0.1)  # polling the receiver's counter, bounded by the deadline
    return count


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[index]
