"""What is waiting to be delivered: NSQ topic/channel stats and the database backlog.

Used by ``harborctl backlog`` and by the monitor process (``harborctl run monitor``).

* pure: ``parse_lookupd_nodes``, ``parse_nsqd_stats``, ``endpoint_backlog`` turn what nsqd,
  nsqlookupd and the store answer into ``BacklogSnapshot`` parts; ``BacklogHistory`` keeps
  recent samples for the rate of change, the trend and the "depth is growing" warning;
* I/O: ``collect_nsq`` (httpx, discovery through every nsqlookupd's ``/nodes``) and
  ``collect_database`` (``Store.count_by_status``). Failures are recorded in the snapshot's
  ``errors``, never raised: a backlog view with one node down is still a backlog view.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import httpx

from harborctl.domain.models import DeliveryStatus

HTTP_TIMEOUT = 3.0
RATE_WINDOW_SECONDS = 60.0
SPARK_CHARS = "▁▂▃▄▅▆▇█"

# database statuses shown as backlog columns; `failed` means "a retry is scheduled"
DB_COLUMNS: Mapping[str, str] = {
    DeliveryStatus.QUEUED.value: "queued",
    DeliveryStatus.FAILED.value: "retrying",
    DeliveryStatus.INFLIGHT.value: "inflight",
    DeliveryStatus.DEAD.value: "dead",
}


class BacklogStore(Protocol):
    """What the backlog needs of the database: the events repository
    (``harborctl.store.events.EventRepository``) is one; the process injects it."""

    def count_by_status(self) -> dict[tuple[str, str, str], int]: ...


@dataclass(frozen=True)
class ChannelStats:
    nsqd: str
    topic: str
    channel: str
    depth: int  # memory + disk: not yet handed to a consumer
    in_flight: int
    deferred: int
    requeued: int  # cumulative since the channel was created on this nsqd
    timed_out: int  # cumulative
    messages: int  # cumulative
    clients: int
    paused: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.nsqd, self.topic, self.channel)


@dataclass(frozen=True)
class TopicStats:
    nsqd: str
    topic: str
    depth: int  # messages not yet copied into a channel (memory + disk)
    messages: int  # cumulative
    paused: bool = False


@dataclass(frozen=True)
class NodeStats:
    """One nsqd: ``address`` is its HTTP host:port, the ``nsqd`` label of the metrics."""

    address: str
    ok: bool
    error: str | None = None
    topics: tuple[TopicStats, ...] = ()
    channels: tuple[ChannelStats, ...] = ()


@dataclass(frozen=True)
class EndpointBacklog:
    tenant_id: str
    endpoint_id: str
    queued: int = 0
    retrying: int = 0
    inflight: int = 0
    dead: int = 0

    @property
    def waiting(self) -> int:
        return self.queued + self.retrying


@dataclass(frozen=True)
class BacklogSnapshot:
    taken_at: float  # unix time
    nodes: tuple[NodeStats, ...] = ()
    endpoints: tuple[EndpointBacklog, ...] | None = None  # None: database not read
    errors: tuple[str, ...] = ()

    @property
    def topics(self) -> list[TopicStats]:
        return [topic for node in self.nodes for topic in node.topics]

    @property
    def channels(self) -> list[ChannelStats]:
        return [channel for node in self.nodes for channel in node.channels]

    @property
    def nsq_waiting(self) -> int:
        """Messages nsqd holds that no consumer has taken: topic + channel depths."""
        return sum(t.depth for t in self.topics) + sum(c.depth for c in self.channels)

    @property
    def db_waiting(self) -> int:
        return sum(e.waiting for e in self.endpoints or ())


# --------------------------------------------------------------------------- parsing (pure)


def _payload(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """nsq answers bare JSON; pre-1.0 wrapped it in ``{"data": ...}``."""
    inner = data.get("data")
    return inner if isinstance(inner, Mapping) else data


def parse_lookupd_nodes(data: Mapping[str, Any]) -> list[str]:
    """HTTP addresses (``broadcast_address:http_port``) of the nsqd nodes in ``/nodes``."""
    found = []
    for producer in _payload(data).get("producers") or []:
        host = producer.get("broadcast_address") or producer.get("hostname")
        port = producer.get("http_port")
        if host and port:
            found.append(f"{host}:{int(port)}")
    return found


def parse_nsqd_stats(address: str, data: Mapping[str, Any]) -> NodeStats:
    """``/stats?format=json`` of one nsqd as ``NodeStats`` (nsqd's depth is memory + disk)."""
    topics: list[TopicStats] = []
    channels: list[ChannelStats] = []
    for topic in _payload(data).get("topics") or []:
        name = str(topic.get("topic_name", ""))
        topics.append(
            TopicStats(
                nsqd=address,
                topic=name,
                depth=int(topic.get("depth") or 0),
                messages=int(topic.get("message_count") or 0),
                paused=bool(topic.get("paused")),
            )
        )
        for channel in topic.get("channels") or []:
            channels.append(
                ChannelStats(
                    nsqd=address,
                    topic=name,
                    channel=str(channel.get("channel_name", "")),
                    depth=int(channel.get("depth") or 0),
                    in_flight=int(channel.get("in_flight_count") or 0),
                    deferred=int(channel.get("deferred_count") or 0),
                    requeued=int(channel.get("requeue_count") or 0),
                    timed_out=int(channel.get("timeout_count") or 0),
                    messages=int(channel.get("message_count") or 0),
                    clients=int(channel.get("client_count") or len(channel.get("clients") or [])),
                    paused=bool(channel.get("paused")),
                )
            )
    return NodeStats(address, True, None, tuple(topics), tuple(channels))


def endpoint_backlog(counts: Mapping[tuple[str, str, str], int]) -> list[EndpointBacklog]:
    """``Store.count_by_status()`` as one row per endpoint (delivered rows are not backlog)."""
    rows: dict[tuple[str, str], dict[str, int]] = {}
    for (tenant_id, endpoint_id, status), count in counts.items():
        column = DB_COLUMNS.get(status)
        if column is None:
            continue
        row = rows.setdefault((tenant_id, endpoint_id), {})
        row[column] = row.get(column, 0) + count
    return [
        EndpointBacklog(tenant_id, endpoint_id, **columns)
        for (tenant_id, endpoint_id), columns in sorted(rows.items())
    ]


# --------------------------------------------------------------------------- history (pure)


@dataclass
class BacklogHistory:
    """Recent channel depths per (nsqd, topic, channel), for rate, trend and warnings."""

    window: float = RATE_WINDOW_SECONDS
    max_samples: int = 240
    _samples: dict[tuple[str, str, str], deque[tuple[float, int]]] = field(default_factory=dict)

    def add(self, snapshot: BacklogSnapshot) -> None:
        for channel in snapshot.channels:
            samples = self._samples.setdefault(channel.key, deque(maxlen=self.max_samples))
            samples.append((snapshot.taken_at, channel.depth))
        for samples in self._samples.values():
            while samples and samples[0][0] < snapshot.taken_at - 2 * self.window:
                samples.popleft()

    def _recent(self, key: tuple[str, str, str]) -> list[tuple[float, int]]:
        samples = list(self._samples.get(key, ()))
        if not samples:
            return []
        since = samples[-1][0] - self.window
        return [sample for sample in samples if sample[0] >= since]

    def rate_per_minute(self, key: tuple[str, str, str]) -> float | None:
        """Depth change over the last minute (scaled when fewer seconds were seen)."""
        recent = self._recent(key)
        if len(recent) < 2 or recent[-1][0] <= recent[0][0]:
            return None
        (t0, d0), (t1, d1) = recent[0], recent[-1]
        return (d1 - d0) * 60.0 / (t1 - t0)

    def trend(self, key: tuple[str, str, str], width: int = 20) -> list[int]:
        return [depth for _, depth in self._recent(key)][-width:]

    def growing(self, key: tuple[str, str, str]) -> bool:
        """Depth rose over the window and did not fall in the last three samples."""
        recent = [depth for _, depth in self._recent(key)]
        if len(recent) < 3 or recent[-1] <= recent[0]:
            return False
        last = recent[-3:]
        return last[0] <= last[1] <= last[2]


def sparkline(values: Sequence[int]) -> str:
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARK_CHARS[0 if high == 0 else 3] * len(values)
    scale = (len(SPARK_CHARS) - 1) / (high - low)
    return "".join(SPARK_CHARS[round((value - low) * scale)] for value in values)


def report(snapshot: BacklogSnapshot, history: BacklogHistory | None = None) -> dict[str, Any]:
    """The JSON document of ``harborctl backlog --json`` (the table shows the same)."""
    channels = []
    growing = []
    for channel in snapshot.channels:
        row: dict[str, Any] = asdict(channel)
        rate = history.rate_per_minute(channel.key) if history else None
        row["rate_per_minute"] = None if rate is None else round(rate, 2)
        row["trend"] = history.trend(channel.key) if history else []
        row["growing"] = bool(history and history.growing(channel.key))
        if row["growing"]:
            growing.append(f"{channel.topic}/{channel.channel}@{channel.nsqd}")
        channels.append(row)
    return {
        "taken_at": snapshot.taken_at,
        "nsqd": [
            {"address": node.address, "ok": node.ok, "error": node.error} for node in snapshot.nodes
        ],
        "topics": [asdict(topic) for topic in snapshot.topics],
        "channels": channels,
        "endpoints": None
        if snapshot.endpoints is None
        else [{**asdict(e), "waiting": e.waiting} for e in snapshot.endpoints],
        "nsq_waiting": snapshot.nsq_waiting,
        "db_waiting": snapshot.db_waiting,
        "growing": growing,
        "errors": list(snapshot.errors),
    }


# --------------------------------------------------------------------------- I/O


def _get_json(client: httpx.Client, url: str, **params: str) -> Mapping[str, Any]:
    response = client.get(url, params=params)
    response.raise_for_status()
    data = response.json()
    if not isinstance(data, Mapping):
        raise ValueError(f"{url} did not answer a JSON object")
    return data


def discover_nsqd(
    client: httpx.Client, lookupd_addresses: Iterable[str]
) -> tuple[list[str], list[str]]:
    """Every nsqd known to any nsqlookupd (deduplicated, sorted), and the errors met."""
    nodes: set[str] = set()
    errors: list[str] = []
    for lookupd in lookupd_addresses:
        try:
            nodes.update(parse_lookupd_nodes(_get_json(client, f"http://{lookupd}/nodes")))
        except (httpx.HTTPError, ValueError) as exc:
            errors.append(f"nsqlookupd {lookupd}: {type(exc).__name__}: {exc}")
    return sorted(nodes), errors


def read_nsqd(client: httpx.Client, address: str) -> NodeStats:
    try:
        data = _get_json(client, f"http://{address}/stats", format="json")
    except (httpx.HTTPError, ValueError) as exc:
        return NodeStats(address, False, f"{type(exc).__name__}: {exc}")
    return parse_nsqd_stats(address, data)


def collect_nsq(
    lookupd_addresses: Sequence[str], client: httpx.Client | None = None
) -> tuple[tuple[NodeStats, ...], tuple[str, ...]]:
    """Discover the nsqd nodes through nsqlookupd and read each one's stats."""
    own = client is None
    http = client or httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False)
    try:
        addresses, errors = discover_nsqd(http, lookupd_addresses)
        nodes = tuple(read_nsqd(http, address) for address in addresses)
    finally:
        if own:
            http.close()
    errors += [f"nsqd {node.address}: {node.error}" for node in nodes if not node.ok]
    return nodes, tuple(errors)


def collect_database(
    store: BacklogStore,
) -> tuple[tuple[EndpointBacklog, ...] | None, tuple[str, ...]]:
    """Per-endpoint backlog from ``store.count_by_status()``; errors are reported, not raised."""
    try:
        return tuple(endpoint_backlog(store.count_by_status())), ()
    except Exception as exc:  # the store's error types vary by driver; report them all
        first_line = (str(exc).strip().splitlines() or [""])[0]
        return None, (f"database: {type(exc).__name__}: {first_line}",)


def take_snapshot(
    lookupd_addresses: Sequence[str] | None,
    store: BacklogStore | None,
    client: httpx.Client | None = None,
    clock: Callable[[], float] = time.time,
) -> BacklogSnapshot:
    """One snapshot: NSQ when ``lookupd_addresses`` is given, the database when ``store`` is."""
    taken_at = float(clock())
    nodes: tuple[NodeStats, ...] = ()
    errors: tuple[str, ...] = ()
    if lookupd_addresses is not None:
        nodes, errors = collect_nsq(lookupd_addresses, client)
    endpoints = None
    if store is not None:
        endpoints, db_errors = collect_database(store)
        errors += db_errors
    return BacklogSnapshot(taken_at, nodes, endpoints, errors)
