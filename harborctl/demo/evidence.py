"""The evidence of the metrics, traces and logs pillars, gathered while the demo's traffic
flows; the verdicts are ``harborctl.demo.checks``'.

::

    check_metrics    every PromQL panel of the dashboards (read as ``dashboards show`` reads
                     them, over the last ``DASHBOARD_MINUTES``) for the demo's tenant, and the
                     catalogue and alert queries, against the stack's Prometheus
    chosen_delivery  the first flaky delivery that failed once: its id and trace id
    trace_evidence   that delivery's spans, polled until the trace check passes or the deadline
    log_evidence     its log lines (the last hour's), likewise

Every wait polls until a deadline on the monotonic clock (``harborctl.demo.waiting``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from typing import Any

from harborctl.alerting.profiles import Profile, rule_profile
from harborctl.alerting_spec import duration_seconds
from harborctl.client import ApiClient
from harborctl.dashboards.generate import RenderedDashboard, render_dashboards
from harborctl.dashboards.prometheus import PrometheusClient as DashboardPrometheus
from harborctl.dashboards.readings import Window, read_dashboard
from harborctl.demo import checks, scenario
from harborctl.demo.traffic import Published
from harborctl.demo.waiting import POLL
from harborctl.errors import HarborHookError, NotFound
from harborctl.receiver.records import Record
from harborctl.settings import Settings
from harborctl.telemetry.log_query import LogEntry, LogQuery
from harborctl.telemetry.log_tail import LogSource
from harborctl.telemetry.trace_model import SpanView
from harborctl.telemetry.trace_tail import TraceSource

DASHBOARD_MINUTES = 5  # the dashboards are read over the last few minutes, as Grafana would
DASHBOARD_POINTS = 100
LOG_LOOKBACK = 3600  # seconds of log lines searched for the chosen delivery's
LOG_LIMIT = 100_000


def check_metrics(
    settings: Settings, tenant_id: str, endpoints: Mapping[str, str], *, nsq: bool
) -> checks.Check:
    """The metrics check: every PromQL panel of the dashboards for the demo's tenant
    (``tenant_id``), and the catalogue and alert queries for it and its ``endpoints``
    (scenario key → endpoint id), against the stack's Prometheus while the traffic flows.
    A query Prometheus refuses counts as one without data."""
    demo = rule_profile(Profile.demo, settings.alerting).windows.burn_windows[0]
    queries = checks.catalogue_queries(
        tenant_id,
        endpoints,
        short_window=demo.short,
        nsq=nsq,
        jobs=settings.alerting.jobs.expected(),
    )
    answers: list[tuple[checks.MetricQuery, Any]] = []
    dashboards = render_dashboards(settings.slo, settings.alerting, settings.grafana)
    window = Window(
        end=time.time(),
        range_seconds=DASHBOARD_MINUTES * 60,
        points=DASHBOARD_POINTS,
        scrape_seconds=duration_seconds(settings.prometheus_scrape_interval),
    )
    selections = {"tenant": [tenant_id], "endpoint": []}
    with DashboardPrometheus(settings.prometheus_url) as prometheus:
        for query in queries:
            try:
                found = prometheus.instant(query.promql, window.end)
                answers.append((query, checks.samples_of(found.result_type, found.result)))
            except HarborHookError as exc:
                answers.append((query, str(exc)))
        for dashboard in dashboards:
            answers += _panel_answers(prometheus, dashboard, selections, window)
    return checks.check_metrics(answers, dashboards=len(dashboards))


def _panel_answers(
    prometheus: DashboardPrometheus,
    dashboard: RenderedDashboard,
    selections: Mapping[str, Sequence[str]],
    window: Window,
) -> list[tuple[checks.MetricQuery, Any]]:
    """Each query target of the dashboard's panels with its samples (or the error, once
    for the dashboard when it cannot be read)."""
    name = dashboard.file.name
    try:
        reading = read_dashboard(prometheus, dashboard.model, selections, window)
    except HarborHookError as exc:
        return [(checks.MetricQuery(f"{name} dashboard", ""), str(exc))]
    return [
        (
            checks.MetricQuery(f"{name}: {panel.panel.title} [{target.ref_id}]", target.query),
            checks.samples_of(target.result_type, target.result),
        )
        for panel in reading.panels
        if panel.skipped is None
        for target in panel.targets
    ]


def chosen_delivery(
    api: ApiClient,
    tenant_id: str,
    flaky_endpoint_id: str,
    webhook_records: Sequence[Record],
    published: Mapping[str, Published],
) -> tuple[str, str]:
    """(delivery id, trace id) of the first flaky delivery that failed first: the first
    request to the flaky path the receiver answered >= 400 (``webhook_records``) whose event
    was published with a trace (``published``: by webhook id). NotFound when none was."""
    flaky = scenario.endpoint(scenario.FLAKY)
    failed = [
        r
        for r in webhook_records
        if r["path"] == flaky.path and r["status"] and int(r["status"]) >= 400
    ]
    for record in failed:
        event = published.get(record["webhook_id"] or "")
        if event is None or not event.trace_id:
            continue
        for delivery in api.event_deliveries(tenant_id, event.event_id)["deliveries"]:
            if delivery["endpoint_id"] == flaky_endpoint_id:
                return str(delivery["delivery_id"]), event.trace_id
    raise NotFound("flaky delivery", "that failed once (none was published)")


def attempts_once_delivered(api: ApiClient, tenant_id: str, delivery_id: str, until: float) -> int:
    """The delivery's attempts once it is delivered (or as they stand at ``until``, a
    ``time.monotonic()`` deadline)."""
    delivery: Mapping[str, Any] = {}
    while time.monotonic() < until:
        delivery = api.get_delivery(tenant_id, delivery_id)["delivery"]
        if delivery["status"] == "delivered":
            break
        time.sleep(POLL)
    return int(delivery.get("attempts") or 0)


def trace_evidence(
    traces: Callable[[], AbstractContextManager[TraceSource]],
    trace_id: str,
    delivery_id: str,
    attempts: int,
    *,
    nsq: bool,
    until: float,
) -> tuple[checks.Check, list[SpanView]]:
    """The traces check and the spans of ``trace_id``, read again until the check passes or
    ``until`` (a ``time.monotonic()`` deadline) has passed."""
    spans: list[SpanView] = []
    trace_check = checks.Check(checks.TRACES, False, "no spans")
    with traces() as source:
        while True:
            with suppress(NotFound):
                spans = source.get(trace_id)
            trace_check = checks.check_trace(spans, delivery_id, attempts, nsq=nsq)
            if trace_check.ok or time.monotonic() >= until:
                break
            time.sleep(POLL)
    return trace_check, spans


def log_evidence(
    logs: Callable[[], AbstractContextManager[LogSource]],
    delivery_id: str,
    trace_id: str,
    attempts: int,
    *,
    until: float,
) -> tuple[checks.Check, list[LogEntry]]:
    """The logs check on the delivery's lines, and every line of ``trace_id`` (the last
    ``LOG_LOOKBACK`` seconds'), read again until the check passes or ``until`` has passed."""
    entries: list[LogEntry] = []
    log_check = checks.Check(checks.LOGS, False, "no log lines")
    since = int((time.time() - LOG_LOOKBACK) * 1e9)
    with logs() as source:
        while True:
            found = source.fetch(
                LogQuery(), start_ns=since, end_ns=int(time.time() * 1e9) + 10**9, limit=LOG_LIMIT
            )
            mine = [e for e in found if e.record.get("delivery_id") == delivery_id]
            joined = [e for e in found if e.record.get("trace_id") == trace_id]
            log_check = checks.check_logs([e.record for e in mine], delivery_id, trace_id, attempts)
            entries = joined
            if log_check.ok or time.monotonic() >= until:
                break
            time.sleep(POLL)
    return log_check, entries
