"""Metrics end to end: real nsqd, PostgreSQL, ingest, worker, monitor and Prometheus.

Prometheus scrapes every second; PromQL goes through prometheus-api-client. The delay between
a value appearing on a process's /metrics and the same value answering PromQL is printed
(run with ``-s`` to see it).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.pipeline import (
    HarborProcess,
    Pipeline,
    pipeline_env_for_nsq,
)
from tests.support.prometheus import PrometheusServer, prometheus_server
from tests.support.services import Nsqd, free_port
from tests.support.wait import wait_until

__all__ = ["prometheus_server"]  # the session fixture, imported for pytest

pytestmark = [pytest.mark.slow, pytest.mark.nsq, pytest.mark.postgres]

MONITOR_POLL = "0.5"


@pytest.fixture
def pipeline(tmp_path: Path, nsqd: Nsqd, postgres_url: str) -> Iterator[Pipeline]:
    env = pipeline_env_for_nsq(nsqd.tcp_address, nsqd.lookupd.http_address)  # type: ignore[union-attr]
    env["HARBORHOOK_RECONCILE_AFTER_SECONDS"] = "600"  # no re-publishing while paused
    env["HARBORHOOK_MONITOR_POLL_INTERVAL"] = MONITOR_POLL
    made = Pipeline(tmp_path, postgres_url, "nsq", env)
    try:
        made.start_ingest()
        yield made
    finally:
        made.stop()


def start_monitor(pipeline: Pipeline) -> tuple[HarborProcess, str]:
    port = free_port()
    process = HarborProcess(
        "monitor",
        [sys.executable, "-m", "harborctl", "run", "monitor", "--port", str(port)],
        pipeline.workdir / "monitor.log",
        pipeline.env,
    )
    process.start()
    process.wait_ready(lambda: httpx.get(f"http://127.0.0.1:{port}/healthz").json()["polls"] > 0)
    pipeline.workers.append(process)  # stopped with the pipeline
    return process, f"127.0.0.1:{port}"


def host_port(url: str) -> str:
    return url.removeprefix("http://").split("/")[0]


def metric_sum(url: str, name: str, *contains: str) -> float:
    """Sum of the samples of ``name`` on a /metrics page (lines holding all of ``contains``)."""
    total = 0.0
    for line in httpx.get(url).text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(part in line for part in contains):
            total += float(line.rsplit(" ", 1)[1])
    return total


def visible_delay(
    prometheus: PrometheusServer,
    on_metrics: Callable[[], bool],
    in_promql: Callable[[], bool],
    what: str,
    timeout: float = 30,
) -> float:
    """Seconds from ``on_metrics`` holding (a /metrics page) to ``in_promql`` holding."""
    wait_until(on_metrics, timeout, interval=0.02, describe=f"{what} on /metrics")
    seen = time.monotonic()
    wait_until(in_promql, timeout, interval=0.05, describe=f"{what} in PromQL")
    delay = time.monotonic() - seen
    print(f"\nscrape-to-visible delay ({what}): {delay:.2f}s")
    return delay


def by_labels(result: list[dict[str, Any]], *labels: str) -> dict[tuple[str, ...], float]:
    return {
        tuple(item["metric"].get(label, "") for label in labels): float(item["value"][1])
        for item in result
    }


def test_counts_per_status_tenant_and_endpoint(
    pipeline: Pipeline, receiver: str, prometheus_server: PrometheusServer
) -> None:
    alpha, beta = pipeline.tenant("alpha"), pipeline.tenant("beta")
    ok = alpha.endpoint(f"{receiver}/mix/ok", event_type="mix.ok")
    flaky = alpha.endpoint(f"{receiver}/mix/fail/2", event_type="mix.flaky")
    dead = beta.endpoint(f"{receiver}/mix/status/500", event_type="mix.dead", max_attempts=3)
    worker = pipeline.start_worker()
    _, monitor = start_monitor(pipeline)
    worker_url: str = worker.metrics_url  # type: ignore[attr-defined]
    prometheus_server.reconfigure(
        targets={
            "ingest": [host_port(pipeline.api_url)],
            "worker": [host_port(worker_url)],
            "monitor": [monitor],
        }
    )
    prometheus_server.wait_targets_up()

    events = [alpha.publish({"n": n}, event_type="mix.ok")["event_id"] for n in range(3)]
    flaky_event = alpha.publish({"n": 3}, event_type="mix.flaky")["event_id"]
    dead_events = [beta.publish({"n": n}, event_type="mix.dead")["event_id"] for n in range(2)]
    for event_id in events:
        alpha.wait_for_status(event_id, "delivered")
    [flaky_done] = alpha.wait_for_status(flaky_event, "delivered")
    assert flaky_done["attempts"] == 3
    for event_id in dead_events:
        [died] = beta.wait_for_status(event_id, "dead")
        assert died["attempts"] == 3

    expected = {
        ("delivered", alpha.id, ok): 3.0,
        ("failed", alpha.id, flaky): 2.0,
        ("delivered", alpha.id, flaky): 1.0,
        ("failed", beta.id, dead): 4.0,
        ("dead", beta.id, dead): 2.0,
    }
    query = "sum by (status, tenant_id, endpoint_id) (harborhook_deliveries_total)"
    visible_delay(
        prometheus_server,
        lambda: metric_sum(worker_url, "harborhook_delivery_latency_seconds_count") == 12,
        lambda: (
            by_labels(prometheus_server.query(query), "status", "tenant_id", "endpoint_id")
            == expected
        ),
        "delivery counters",
    )
    q = prometheus_server.query
    assert by_labels(q(query), "status", "tenant_id", "endpoint_id") == expected
    # one histogram observation per HTTP attempt: 3 + 3 + 2*3
    assert by_labels(
        q("sum by (tenant_id) (harborhook_delivery_latency_seconds_count)"), "tenant_id"
    ) == {(alpha.id,): 6.0, (beta.id,): 6.0}
    assert prometheus_server.value("sum(harborhook_delivery_latency_seconds_count)") == 12.0
    assert by_labels(q("harborhook_delivery_e2e_seconds_count"), "tenant_id") == {(alpha.id,): 4.0}
    assert by_labels(q("harborhook_events_published_total"), "tenant_id") == {
        (alpha.id,): 4.0,
        (beta.id,): 2.0,
    }
    assert by_labels(q("harborhook_publish_latency_seconds_count"), "tenant_id") == {
        (alpha.id,): 4.0,
        (beta.id,): 2.0,
    }
    assert by_labels(q("harborhook_retries_total"), "endpoint_id", "reason") == {
        (flaky, "http_5xx"): 2.0,
        (dead, "http_5xx"): 4.0,
    }
    assert by_labels(q("harborhook_dlq_total"), "endpoint_id", "reason") == {
        (dead, "http_5xx"): 2.0
    }
    # the monitor's database view agrees: two dead deliveries of beta's endpoint, none waiting
    wait_until(
        lambda: (
            by_labels(q("harborhook_db_backlog > 0"), "tenant_id", "endpoint_id", "status")
            == {(beta.id, dead, "dead"): 2.0}
        ),
        15,
        interval=0.2,
        describe="harborhook_db_backlog to show the two dead deliveries",
    )


def test_channel_depth_while_the_worker_is_paused_then_drains(
    pipeline: Pipeline, receiver: str, prometheus_server: PrometheusServer, nsqd: Nsqd
) -> None:
    tenant = pipeline.tenant("paused")
    tenant.endpoint(f"{receiver}/paused/ok")
    topic = pipeline.env["HARBORHOOK_DELIVERIES_TOPIC"]
    # the channel exists (a worker subscribed before), no worker is running: paused
    for path, params in (
        ("topic", {"topic": topic}),
        ("channel", {"topic": topic, "channel": "workers"}),
    ):
        httpx.post(f"{nsqd.http_url}/{path}/create", params=params).raise_for_status()
    _, monitor = start_monitor(pipeline)
    prometheus_server.reconfigure(targets={"monitor": [monitor]})
    prometheus_server.wait_targets_up()

    published = 7
    event_ids = [tenant.publish({"n": n})["event_id"] for n in range(published)]
    selector = f'harborhook_nsq_channel_depth{{topic="{topic}",channel="workers"}}'

    def channel_depth() -> int | None:
        stats = nsqd.topic_stats(topic) or {}
        for channel in stats.get("channels") or []:
            if channel["channel_name"] == "workers":
                return int(channel["depth"])
        return None

    wait_until(lambda: channel_depth() == published, 15, interval=0.02, describe="nsqd depth")
    in_nsqd = time.monotonic()
    visible_delay(
        prometheus_server,
        lambda: (
            metric_sum(
                f"http://{monitor}/metrics", "harborhook_nsq_channel_depth", f'topic="{topic}"'
            )
            == published
        ),
        lambda: prometheus_server.value(selector) == published,
        "channel depth",
    )
    print(f"nsqd /stats to PromQL (monitor poll + scrape): {time.monotonic() - in_nsqd:.2f}s")
    assert channel_depth() == published
    assert prometheus_server.value(selector) == published
    series = prometheus_server.query(selector)
    assert [s["metric"]["nsqd"] for s in series] == [nsqd.http_address]

    pipeline.start_worker()
    for event_id in event_ids:
        tenant.wait_for_status(event_id, "delivered")
    wait_until(
        lambda: prometheus_server.value(selector) == 0,
        30,
        interval=0.2,
        describe=f"{selector} to drain to 0",
    )
    assert channel_depth() == 0
