"""The demo's check table: one verdict per pillar, from what the run saw (pure).

::

    metrics                    every PromQL panel of the dashboards (for the demo's tenant), the
                               recordings the alerts read and DESIGN.md's catalogue
                               (``catalogue_queries``) return data from Prometheus
    traces                     one delivery's full span tree: PublishEvent → FanOut → publish
                               (nsq) → process → DeliveryAttempt → POST, every parent link there
    logs                       every log line of that delivery carries its trace id
    alert fired + notified     the burn-rate alert reached the recorder (and --notify receivers)
    alert resolved + notified  its resolution did too
    DLQ replay                 each replayed dead delivery landed, with replay_of naming it
    restored                   the rules and Alertmanager's files are byte for byte as before

The dashboards' queries are read as ``harborctl dashboards show`` reads them
(``harborctl.dashboards.readings``); the others are built here for the demo's tenant and
endpoints, with the recording rules of the profile that runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harborctl.alerting.verdict import ReceiverVerdict
from harborctl.observability.tracing import SPAN_ATTEMPT, SPAN_FAN_OUT, SPAN_PUBLISH_EVENT
from harborctl.telemetry.trace_model import SpanView

METRICS = "metrics"
TRACES = "traces"
LOGS = "logs"
FIRED = "alert fired + notified"
RESOLVED = "alert resolved + notified"
REPLAY = "DLQ replay"
RESTORED = "restored"
CHECK_NAMES = (METRICS, TRACES, LOGS, FIRED, RESOLVED, REPLAY, RESTORED)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    checked: bool = True  # False: the run never got to it (counts as not ok)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "checked": self.checked, "detail": self.detail}


def not_run(name: str, why: str) -> Check:
    """A check the run never got to (interrupted, or an earlier step failed)."""
    return Check(name, False, f"not checked: {why}", checked=False)


# --- metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricQuery:
    """A PromQL query that must return data; ``must_have``: label values that must appear."""

    name: str
    promql: str
    must_have: Mapping[str, frozenset[str]] = field(default_factory=dict)


def catalogue_queries(
    tenant_id: str,
    endpoint_ids: Mapping[str, str],
    *,
    short_window: str,
    nsq: bool,
    jobs: Sequence[str] = ("ingest", "worker", "monitor", "prometheus", "alertmanager"),
) -> list[MetricQuery]:
    """The queries checked for the demo's tenant: DESIGN.md's metric catalogue, the
    recording rules the alerts read (``short_window``: the fast burn alert's short window in
    the profile that runs), and a scrape target of every job (``alerting.jobs``)."""
    tenant = f'tenant_id="{tenant_id}"'
    endpoints = f'endpoint_id=~"{"|".join(sorted(endpoint_ids.values()))}"'
    dead = endpoint_ids.get("dead", "")

    def p99(metric: str) -> str:
        return f"histogram_quantile(0.99, sum by (le) (rate({metric}_bucket{{{tenant}}}[1m])))"

    queries = [
        MetricQuery("events published", f"sum(harborhook_events_published_total{{{tenant}}})"),
        MetricQuery("publish latency p99", p99("harborhook_publish_latency_seconds")),
        MetricQuery(
            "deliveries by outcome",
            f"sum by (status) (harborhook_deliveries_total{{{tenant}}})",
            {"status": frozenset({"delivered", "failed", "dead"})},
        ),
        MetricQuery("attempt latency p99", p99("harborhook_delivery_latency_seconds")),
        MetricQuery("end-to-end latency p99", p99("harborhook_delivery_e2e_seconds")),
        MetricQuery(
            "retries by reason",
            f"sum by (reason) (harborhook_retries_total{{{endpoints}}})",
            {"reason": frozenset({"http_5xx", "http_429"})},
        ),
        MetricQuery("dead-lettered", f'sum(harborhook_dlq_total{{endpoint_id="{dead}"}})'),
        MetricQuery(
            "circuit breakers", f"max by (endpoint_id) (harborhook_circuit_open{{{endpoints}}})"
        ),
        MetricQuery("worker backlog", "sum(harborhook_worker_backlog)"),
        MetricQuery("backlog (recorded)", "harborhook:backlog:total"),
        MetricQuery(
            "error ratio (recorded)", f"harborhook:delivery_error_ratio:rate{short_window}"
        ),
        MetricQuery(
            "scrape targets up",
            "max by (job) (up)",
            {"job": frozenset(jobs)},
        ),
    ]
    if nsq:
        queries.append(
            MetricQuery("NSQ channel depth", "sum by (topic) (harborhook_nsq_channel_depth)")
        )
    return queries


def _finite(sample: Mapping[str, Any]) -> bool:
    """A vector sample with a finite value, or a matrix series with one finite point."""
    points = sample.get("values") or ([sample["value"]] if "value" in sample else [])
    for point in points:
        try:
            if math.isfinite(float(point[1])):
                return True
        except (IndexError, TypeError, ValueError):
            continue
    return False


def samples_of(result_type: str, result: Any) -> list[Mapping[str, Any]]:
    """Prometheus' ``data.result`` as samples: a scalar becomes one sample."""
    if result_type == "scalar" and isinstance(result, list):
        return [{"metric": {}, "value": result}]
    return [s for s in result or [] if isinstance(s, Mapping)]


def query_problem(query: MetricQuery, samples: Sequence[Mapping[str, Any]]) -> str | None:
    """What is wrong with a query's answer, or None when it returned the data it must."""
    finite = [s for s in samples if _finite(s)]
    if not finite:
        return "no data"
    for label, wanted in query.must_have.items():
        seen = {str((s.get("metric") or {}).get(label)) for s in finite}
        missing = sorted(wanted - seen)
        if missing:
            return f"no {label}={','.join(missing)}"
    return None


def check_metrics(
    answers: Sequence[tuple[MetricQuery, Sequence[Mapping[str, Any]] | str]],
    dashboards: int = 0,
) -> Check:
    """``answers``: each query with its samples, or the error text when it failed;
    ``dashboards``: how many dashboards' panel queries are among them."""
    problems = []
    for query, answer in answers:
        problem = answer if isinstance(answer, str) else query_problem(query, answer)
        if problem:
            problems.append(f"{query.name}: {problem}")
    if problems:
        shown = problems[:6] + ([f"{len(problems) - 6} more"] if len(problems) > 6 else [])
        return Check(METRICS, False, "; ".join(shown))
    panels = f", every PromQL panel of the {dashboards} dashboards among them" if dashboards else ""
    return Check(METRICS, True, f"{len(answers)} queries returned data from Prometheus{panels}")


# --- traces -------------------------------------------------------------------------------------


def _children(spans: Sequence[SpanView], parents: Sequence[SpanView]) -> list[SpanView]:
    ids = {p.span_id for p in parents}
    return [s for s in spans if s.parent_span_id in ids]


def check_trace(spans: Sequence[SpanView], delivery_id: str, attempts: int, *, nsq: bool) -> Check:
    """The delivery's whole path is one tree: PublishEvent (SERVER) → FanOut → "<topic>
    publish" (PRODUCER, nsq transport) → one "<topic> process" (CONSUMER) per attempt, each →
    DeliveryAttempt → its POST (CLIENT)."""
    if not spans:
        return Check(TRACES, False, "no spans for the trace")
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if not s.parent_span_id or s.parent_span_id not in ids]
    problems: list[str] = []
    publish = [s for s in roots if s.name == SPAN_PUBLISH_EVENT and s.kind == "SERVER"]
    if not publish:
        return Check(TRACES, False, f"no {SPAN_PUBLISH_EVENT} server span at the root")
    fan_out = [s for s in _children(spans, publish) if s.name == SPAN_FAN_OUT]
    if not fan_out:
        return Check(TRACES, False, f"no {SPAN_FAN_OUT} under {SPAN_PUBLISH_EVENT}")
    parents = fan_out
    if nsq:
        parents = [s for s in _children(spans, fan_out) if s.kind == "PRODUCER"]
        if not parents:
            return Check(TRACES, False, f"no NSQ publish (producer) span under {SPAN_FAN_OUT}")
    consumers = [
        s
        for s in _children(spans, parents)
        if s.kind == "CONSUMER" and s.attributes.get("delivery_id") == delivery_id
    ]
    if len(consumers) < attempts:
        problems.append(f"{len(consumers)} process (consumer) spans for {attempts} attempts")
    posts = 0
    for consumer in consumers:
        tried = [s for s in _children(spans, [consumer]) if s.name == SPAN_ATTEMPT]
        if not tried:
            problems.append(f"no {SPAN_ATTEMPT} under process span {consumer.span_id}")
            continue
        client = [s for s in _children(spans, tried) if s.kind == "CLIENT"]
        if not client:
            problems.append(f"no POST (client) span under {SPAN_ATTEMPT} {tried[0].span_id}")
        posts += len(client)
    if problems:
        return Check(TRACES, False, "; ".join(problems))
    chain = "PublishEvent → FanOut → " + ("publish → " if nsq else "")
    return Check(
        TRACES,
        True,
        f"{chain}{len(consumers)} x process → DeliveryAttempt → POST: {len(spans)} spans, "
        f"every parent link present",
    )


# --- logs ---------------------------------------------------------------------------------------


def delivery_log_lines(
    records: Sequence[Mapping[str, Any]], delivery_id: str
) -> list[Mapping[str, Any]]:
    return [r for r in records if r.get("delivery_id") == delivery_id]


def check_logs(
    records: Sequence[Mapping[str, Any]], delivery_id: str, trace_id: str, attempts: int
) -> Check:
    """Every JSON log line naming the delivery carries its trace id (and a span id); there is
    at least one line per attempt (its outcome)."""
    lines = delivery_log_lines(records, delivery_id)
    if len(lines) < attempts:
        return Check(LOGS, False, f"{len(lines)} log lines for {attempts} attempts")
    without = [r for r in lines if r.get("trace_id") != trace_id or not r.get("span_id")]
    if without:
        seen = sorted({str(r.get("trace_id")) for r in without})
        return Check(
            LOGS,
            False,
            f"{len(without)} of {len(lines)} lines without trace id {trace_id} "
            f"(had: {', '.join(seen)})",
        )
    return Check(
        LOGS, True, f"{len(lines)} lines, each with trace_id {trace_id[:12]}… and a span id"
    )


# --- alerts -------------------------------------------------------------------------------------


def check_alert(
    name: str,
    recorder_seconds: float | None,
    verdicts: Sequence[ReceiverVerdict],
    what: str,
) -> Check:
    """``recorder_seconds``: when the recorder got the notification (None: it did not);
    ``verdicts``: Alertmanager's verdict for each --notify receiver."""
    if recorder_seconds is None:
        return Check(name, False, f"the recorder got no notification that {what}")
    failed = [v for v in verdicts if v.result != "delivered"]
    if failed:
        return Check(
            name,
            False,
            "; ".join(f"{v.receiver}: {v.result} ({v.detail or 'no verdict'})" for v in failed),
        )
    others = f" and {', '.join(v.receiver for v in verdicts)}" if verdicts else ""
    return Check(name, True, f"{what}: the recorder{others} notified after {recorder_seconds:.0f}s")


# --- replay -------------------------------------------------------------------------------------


def check_replay(
    pairs: Sequence[tuple[str, str]],
    deliveries: Mapping[str, Mapping[str, Any]],
    dlq_left: int,
) -> Check:
    """``pairs``: (new delivery id, the dead one it replays); ``deliveries``: the new ones by
    id as the API shows them; ``dlq_left``: dead deliveries of the endpoint not replayed."""
    if not pairs:
        return Check(REPLAY, False, "nothing was replayed: the DLQ was empty")
    problems = []
    for new, old in pairs:
        found = deliveries.get(new)
        if found is None:
            problems.append(f"{new} not found")
        elif found.get("replay_of") != old:
            problems.append(f"{new} has replay_of {found.get('replay_of')}, not {old}")
        elif found.get("status") != "delivered":
            problems.append(f"{new} is {found.get('status')}")
    if dlq_left:
        problems.append(f"{dlq_left} dead deliveries still in the DLQ")
    if problems:
        shown = problems[:3] + ([f"{len(problems) - 3} more"] if len(problems) > 3 else [])
        return Check(REPLAY, False, "; ".join(shown))
    return Check(REPLAY, True, f"{len(pairs)} replayed, all delivered with replay_of; DLQ empty")


# --- restore ------------------------------------------------------------------------------------


def check_restored(differences: Sequence[str], restored: Sequence[str]) -> Check:
    """``differences``: files not byte for byte as before; ``restored``: what was put back."""
    if differences:
        return Check(RESTORED, False, "not as before: " + ", ".join(differences))
    return Check(RESTORED, True, ", ".join(restored) + " as before")
