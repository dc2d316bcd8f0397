"""Backlog parsing, history and the monitor's collector (no services)."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from harborctl.observability.backlog import (
    BacklogHistory,
    BacklogSnapshot,
    ChannelStats,
    NodeStats,
    endpoint_backlog,
    parse_lookupd_nodes,
    parse_nsqd_stats,
    report,
    sparkline,
)
from harborctl.observability.backlog_metrics import BacklogCollector

STATS: dict[str, Any] = {
    "version": "1.3.0",
    "topics": [
        {
            "topic_name": "hh.deliveries",
            "depth": 2,
            "backend_depth": 1,
            "message_count": 40,
            "paused": False,
            "channels": [
                {
                    "channel_name": "workers",
                    "depth": 7,
                    "backend_depth": 3,
                    "in_flight_count": 4,
                    "deferred_count": 5,
                    "message_count": 38,
                    "requeue_count": 6,
                    "timeout_count": 1,
                    "client_count": 2,
                    "clients": [{}, {}],
                    "paused": False,
                }
            ],
        }
    ],
}


def _samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_nodes_come_from_broadcast_address_and_http_port() -> None:
    nodes = {"producers": [{"broadcast_address": "10.0.0.5", "http_port": 4151, "tcp_port": 4150}]}
    assert parse_lookupd_nodes(nodes) == ["10.0.0.5:4151"]
    assert parse_lookupd_nodes({"data": nodes}) == ["10.0.0.5:4151"]  # pre-1.0 envelope


def test_stats_are_read_per_topic_and_channel() -> None:
    node = parse_nsqd_stats("n1:4151", STATS)
    [topic] = node.topics
    assert (topic.topic, topic.depth, topic.messages) == ("hh.deliveries", 2, 40)
    [channel] = node.channels
    assert channel == ChannelStats(
        nsqd="n1:4151",
        topic="hh.deliveries",
        channel="workers",
        depth=7,  # nsqd's depth already counts memory + disk
        in_flight=4,
        deferred=5,
        requeued=6,
        timed_out=1,
        messages=38,
        clients=2,
    )


def test_database_rows_become_one_row_per_endpoint_without_delivered() -> None:
    counts = {
        ("t1", "e1", "queued"): 3,
        ("t1", "e1", "failed"): 2,
        ("t1", "e1", "delivered"): 100,
        ("t1", "e2", "dead"): 1,
        ("t1", "e3", "delivered"): 9,
    }
    rows = endpoint_backlog(counts)
    assert [(r.endpoint_id, r.queued, r.retrying, r.inflight, r.dead) for r in rows] == [
        ("e1", 3, 2, 0, 0),
        ("e2", 0, 0, 0, 1),
    ]
    assert rows[0].waiting == 5


def _snap(at: float, depth: int) -> BacklogSnapshot:
    channel = parse_nsqd_stats("n1:4151", STATS).channels[0]
    grown = ChannelStats(**{**channel.__dict__, "depth": depth})
    return BacklogSnapshot(at, (NodeStats("n1:4151", True, channels=(grown,)),))


def test_history_gives_rate_per_minute_trend_and_growth() -> None:
    history = BacklogHistory()
    key = ("n1:4151", "hh.deliveries", "workers")
    history.add(_snap(0, 10))
    assert history.rate_per_minute(key) is None
    for t, depth in ((10, 20), (20, 30), (30, 40)):
        history.add(_snap(t, depth))
    assert history.rate_per_minute(key) == 60.0  # +30 in 30 s
    assert history.trend(key) == [10, 20, 30, 40]
    assert history.growing(key)
    history.add(_snap(40, 5))
    assert not history.growing(key)
    history.add(_snap(200, 5))  # older samples leave the one-minute window
    assert history.trend(key) == [5]


def test_sparkline_scales_between_min_and_max() -> None:
    assert sparkline([0, 7]) == "▁█"
    assert sparkline([0, 0]) == "▁▁"
    assert sparkline([]) == ""


def test_report_is_what_json_prints() -> None:
    data = report(_snap(1.0, 7))
    assert data["nsq_waiting"] == 7
    assert data["channels"][0]["depth"] == 7
    assert data["channels"][0]["rate_per_minute"] is None
    assert data["endpoints"] is None


def test_collector_exports_the_last_poll_only() -> None:
    registry = CollectorRegistry()
    collector = BacklogCollector()
    registry.register(collector)
    assert _samples(registry) == {}
    collector.update(_snap(1.0, 7))
    labels = (("channel", "workers"), ("nsqd", "n1:4151"), ("topic", "hh.deliveries"))
    samples = _samples(registry)
    assert samples[("harborhook_nsq_channel_depth", labels)] == 7
    assert samples[("harborhook_nsq_in_flight", labels)] == 4
    assert samples[("harborhook_nsq_deferred", labels)] == 5
    assert samples[("harborhook_nsq_channel_requeued_total", labels)] == 6
    assert samples[("harborhook_nsq_channel_timed_out_total", labels)] == 1
    assert samples[("harborhook_nsq_channel_messages_total", labels)] == 38
    assert samples[("harborhook_nsq_channel_clients", labels)] == 2
    collector.update(BacklogSnapshot(2.0, (NodeStats("n1:4151", True),)))
    assert not any(name == "harborhook_nsq_channel_depth" for name, _ in _samples(registry))


def test_collector_folds_endpoints_past_the_budget_and_sums_them() -> None:
    registry = CollectorRegistry()
    collector = BacklogCollector(label_limit=2)
    registry.register(collector)
    counts = {("t1", f"e{n}", "queued"): 1 for n in range(5)}
    collector.update(BacklogSnapshot(1.0, (), tuple(endpoint_backlog(counts))))
    queued = {
        dict(labels)["endpoint_id"]: value
        for (name, labels), value in _samples(registry).items()
        if name == "harborhook_db_backlog" and dict(labels)["status"] == "queued"
    }
    assert queued == {"e0": 1, "e1": 1, "other": 3}
