"""The backlog as Prometheus metrics: NSQ topic/channel stats and the database backlog.

``BacklogCollector`` is a prometheus-client custom collector: every scrape yields the values
of the last poll only, so a topic or channel that disappeared from nsqd disappears from
/metrics too (no stale gauges). The monitor process (``harborctl.monitor``) polls into it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from harborctl.observability.backlog import BacklogSnapshot
from harborctl.observability.metrics import MAX_LABEL_VALUES, LabelBudget

CHANNEL_LABELS = ["topic", "channel", "nsqd"]
TOPIC_LABELS = ["topic", "nsqd"]
DB_LABELS = ["tenant_id", "endpoint_id", "status"]


class BacklogCollector(Collector):
    """Exports the latest ``BacklogSnapshot``; tenant/endpoint labels go through a budget."""

    def __init__(self, label_limit: int = MAX_LABEL_VALUES) -> None:
        self._snapshot: BacklogSnapshot | None = None
        self._lock = threading.Lock()
        self.tenant = LabelBudget(label_limit)
        self.endpoint = LabelBudget(label_limit)

    def update(self, snapshot: BacklogSnapshot) -> None:
        with self._lock:
            self._snapshot = snapshot

    @property
    def snapshot(self) -> BacklogSnapshot | None:
        with self._lock:
            return self._snapshot

    def describe(self) -> list[Metric]:
        return []  # names vary with what nsqd reports; registered without a describe-time check

    def collect(self) -> Iterator[Metric]:
        snapshot = self.snapshot
        if snapshot is None:
            return
        yield from self._nsq(snapshot)
        if snapshot.endpoints is not None:
            yield self._database(snapshot)
        poll = GaugeMetricFamily(
            "harborhook_backlog_last_poll_timestamp_seconds",
            "Unix time of the backlog poll these values come from.",
        )
        poll.add_metric([], snapshot.taken_at)
        yield poll

    def _nsq(self, snapshot: BacklogSnapshot) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "harborhook_nsq_up",
            "1 when the nsqd's /stats answered at the last poll.",
            labels=["nsqd"],
        )
        for node in snapshot.nodes:
            up.add_metric([node.address], 1 if node.ok else 0)
        yield up

        topic_depth = GaugeMetricFamily(
            "harborhook_nsq_topic_depth",
            "Messages in the topic not yet copied to a channel (memory + disk).",
            labels=TOPIC_LABELS,
        )
        topic_messages = CounterMetricFamily(
            "harborhook_nsq_topic_messages",
            "Messages published to the topic on this nsqd since it was created.",
            labels=TOPIC_LABELS,
        )
        for topic in snapshot.topics:
            topic_depth.add_metric([topic.topic, topic.nsqd], topic.depth)
            topic_messages.add_metric([topic.topic, topic.nsqd], topic.messages)
        yield topic_depth
        yield topic_messages

        families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "depth": GaugeMetricFamily(
                "harborhook_nsq_channel_depth",
                "Messages waiting in the channel for a consumer (memory + disk).",
                labels=CHANNEL_LABELS,
            ),
            "in_flight": GaugeMetricFamily(
                "harborhook_nsq_in_flight",
                "Messages handed to a consumer and not yet finished.",
                labels=CHANNEL_LABELS,
            ),
            "deferred": GaugeMetricFamily(
                "harborhook_nsq_deferred",
                "Messages requeued with a delay (retries waiting for their time).",
                labels=CHANNEL_LABELS,
            ),
            "clients": GaugeMetricFamily(
                "harborhook_nsq_channel_clients",
                "Consumers connected to the channel.",
                labels=CHANNEL_LABELS,
            ),
            "requeued": CounterMetricFamily(
                "harborhook_nsq_channel_requeued",
                "Messages requeued (REQ) on the channel since it was created.",
                labels=CHANNEL_LABELS,
            ),
            "timed_out": CounterMetricFamily(
                "harborhook_nsq_channel_timed_out",
                "In-flight messages that timed out on the channel since it was created.",
                labels=CHANNEL_LABELS,
            ),
            "messages": CounterMetricFamily(
                "harborhook_nsq_channel_messages",
                "Messages that entered the channel since it was created.",
                labels=CHANNEL_LABELS,
            ),
        }
        for channel in snapshot.channels:
            labels = [channel.topic, channel.channel, channel.nsqd]
            for attribute, family in families.items():
                family.add_metric(labels, getattr(channel, attribute))
        yield from families.values()

    def _database(self, snapshot: BacklogSnapshot) -> Metric:
        family = GaugeMetricFamily(
            "harborhook_db_backlog",
            "Deliveries by database status: queued, retrying (failed, retry scheduled), "
            "inflight, dead.",
            labels=DB_LABELS,
        )
        # folded label values (`other`) are summed: one series per label set
        totals: dict[tuple[str, str, str], int] = {}
        for row in snapshot.endpoints or ():
            tenant, endpoint = self.tenant(row.tenant_id), self.endpoint(row.endpoint_id)
            for status in ("queued", "retrying", "inflight", "dead"):
                key = (tenant, endpoint, status)
                totals[key] = totals.get(key, 0) + int(getattr(row, status))
        for key, value in sorted(totals.items()):
            family.add_metric(list(key), value)
        return family
