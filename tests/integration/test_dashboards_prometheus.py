"""Every panel query of every generated dashboard, proven on real data.

Real nsqd, PostgreSQL, ingest, worker, backlog monitor, receiver and Prometheus (1 s scrape,
the generated rule files loaded with a 1 s evaluation interval). The traffic fills every
panel, the ones that can legitimately be empty too:

- tenant ``acme``: a healthy endpoint (``/ok``) and one that fails its first eight requests
  (``/fail/8``, max 3 attempts, breaker threshold 3): its first two deliveries die (DLQ), the
  breaker opens (retries deferred as ``circuit_open``), later ones are delivered;
- tenant ``globex``: a dead endpoint (``/status/500``): every delivery dies, the error budget
  burns and HarborHookErrorBudgetBurnFast fires (the ALERTS panel).

Then each PromQL target, with the variables substituted as Grafana does for "All" and for one
tenant and endpoint (``acme`` and the failing endpoint), runs against the real Prometheus and
must answer a finite value; the panels that could be empty must show a non-zero one. Every
PromQL expression also passes ``promtool`` (Prometheus' own parser), and
``dashboards show --json`` answers what Prometheus answers to the same queries.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harborctl.alerting.rules import render_rule_files
from harborctl.alerting_spec import AlertingSpec, SloSpec
from harborctl.dashboards.generate import RenderedDashboard, render_dashboards
from harborctl.dashboards.model import Dashboard
from harborctl.dashboards.prometheus import PrometheusClient
from harborctl.dashboards.queries import expand, expanded_queries
from harborctl.dashboards.variables import ALL, TimeVariables, dashboard_values, substitute
from harborctl.grafana_spec import GrafanaSpec
from tests.support.pipeline import HarborProcess, Pipeline, Tenant, pipeline_env_for_nsq
from tests.support.prometheus import PrometheusServer, prometheus_server
from tests.support.services import Nsqd, free_port, require_binary
from tests.support.wait import wait_until

__all__ = ["prometheus_server"]  # the session fixture, imported for pytest

pytestmark = [pytest.mark.slow, pytest.mark.nsq, pytest.mark.postgres]

# the Prometheus datasource's timeInterval for $__rate_interval: twice the real 1 s scrape, so
# a scrape delayed on a busy 2-core machine does not empty a 4 s rate window
SCRAPE_SECONDS = 2.0
# panels that are empty or flat on a quiet system: the traffic must make each show a non-zero
# value (in one of its queries: nsqd in-flight timeouts need a worker stuck past nsqd's
# message timeout, requeues beside them do not)
MUST_BE_NON_ZERO = (
    "Retries/s by reason",
    "DLQ entries by reason",
    "Circuit breakers open by endpoint",
    "Top failing endpoints (time range)",
    "Firing HarborHook alerts",
    "Deferred",
    "Requeued and timed out/s",
)


def specs() -> tuple[SloSpec, AlertingSpec, GrafanaSpec]:
    return SloSpec(), AlertingSpec(rule_interval="1s"), GrafanaSpec()


@pytest.fixture(scope="module")
def dashboards() -> list[RenderedDashboard]:
    return render_dashboards(*specs())


def test_every_promql_expression_parses_with_promtool(
    dashboards: list[RenderedDashboard], tmp_path: Path
) -> None:
    promtool = require_binary("promtool", "run scripts/bootstrap (Debian package prometheus)")
    rules = []
    for rendered in dashboards:
        for item in expanded_queries(rendered.model):
            if item.target.language == "promql":
                name = f"dashboard:{rendered.model.uid.replace('-', '_')}:p{item.panel.id}"
                rules.append({"record": f"{name}_{item.target.ref_id}_{item.variant}",
                              "expr": item.query})  # fmt: skip
    assert len(rules) > 100
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    done = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


# --- the traffic ------------------------------------------------------------------------------


@dataclass
class Traffic:
    pipeline: Pipeline
    prometheus: PrometheusServer
    acme: Tenant
    globex: Tenant
    healthy: str
    failing: str
    dead: str
    started: float


def start_monitor(pipeline: Pipeline) -> str:
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
    return f"127.0.0.1:{port}"


def host_port(url: str) -> str:
    return url.removeprefix("http://").split("/")[0]


@pytest.fixture(scope="module")
def traffic(
    tmp_path_factory: pytest.TempPathFactory,
    nsqd: Nsqd,
    postgres_server: Any,
    prometheus_server: PrometheusServer,
) -> Iterator[Traffic]:
    from harborctl.receiver.server import running_receiver
    from tests.support.pipeline import RECEIVER_SECRET

    workdir = tmp_path_factory.mktemp("dashboards")
    database = "test_dashboards"
    postgres_server.create_database(database)
    env = pipeline_env_for_nsq(nsqd.tcp_address, nsqd.lookupd.http_address)  # type: ignore[union-attr]
    env.update(
        {
            "HARBORHOOK_MONITOR_POLL_INTERVAL": "0.5",
            "HARBORHOOK_BREAKER_FAILURE_THRESHOLD": "3",
            "HARBORHOOK_BREAKER_COOLDOWN_SECONDS": "2",
        }
    )
    rules_dir = workdir / "rules"
    rules_dir.mkdir()
    rule_files = []
    for name, text in render_rule_files(*specs()[:2]).items():
        (rules_dir / name).write_text(text)
        rule_files.append(rules_dir / name)
    pipeline = Pipeline(workdir, postgres_server.url(database), "nsq", env)
    try:
        with running_receiver(secret=RECEIVER_SECRET) as receiver:
            pipeline.start_ingest()
            worker = pipeline.start_worker()
            monitor = start_monitor(pipeline)
            prometheus_server.reconfigure(
                targets={
                    "ingest": [host_port(pipeline.api_url)],
                    "worker": [host_port(worker.metrics_url)],  # type: ignore[attr-defined]
                    "monitor": [monitor],
                },
                rule_files=rule_files,
            )
            prometheus_server.wait_targets_up()
            started = time.time()
            yield run_traffic(pipeline, prometheus_server, receiver, started)
    finally:
        pipeline.stop()
        prometheus_server.reconfigure(targets={}, rule_files=[])
        postgres_server.drop_database(database)


def run_traffic(
    pipeline: Pipeline, prometheus: PrometheusServer, receiver: str, started: float
) -> Traffic:
    acme, globex = pipeline.tenant("acme"), pipeline.tenant("globex")
    healthy = acme.endpoint(f"{receiver}/dash/acme/ok", event_type="order.created")
    failing = acme.endpoint(
        f"{receiver}/dash/acme/fail/8", event_type="order.created", max_attempts=3
    )
    dead = globex.endpoint(
        f"{receiver}/dash/globex/status/500", event_type="order.created", max_attempts=2
    )
    # a counter's first sample is its first increase, which rate() cannot see, so every
    # kind of outcome happens again once its series is scraped, as on a running system.
    # The failing endpoint's first two deliveries use up six of its eight failures and die
    first = acme.publish({"n": 0})["event_id"]
    acme.wait_for_status(first, "dead", timeout=60)
    scraped(prometheus, f'sum(harborhook_dlq_total{{endpoint_id="{failing}"}})', 1)
    second = acme.publish({"n": 1})["event_id"]
    acme.wait_for_status(second, "dead", timeout=60)
    # the next ones meet the open breaker, fail twice more, then get through
    events = [acme.publish({"n": n})["event_id"] for n in range(2, 5)]
    dead_events = [globex.publish({"n": n})["event_id"] for n in range(3)]
    for event_id in events:
        acme.wait_for_status(event_id, "delivered", count=2, timeout=90)
    for event_id in dead_events:
        globex.wait_for_status(event_id, "dead", timeout=60)
    delivered = 'sum(harborhook_deliveries_total{status="delivered"})'
    dead_total = 'sum(harborhook_deliveries_total{status="dead"})'
    scraped(prometheus, delivered, 5 + 3)
    scraped(
        prometheus,
        f'sum(harborhook_deliveries_total{{status="delivered",endpoint_id="{failing}"}})',
        3,
    )
    scraped(prometheus, dead_total, 2 + 3)
    more = [acme.publish({"n": n})["event_id"] for n in range(5, 7)]
    for event_id in more:
        acme.wait_for_status(event_id, "delivered", count=2, timeout=30)
    scraped(prometheus, delivered, 7 + 5)
    # every delivery series has a history to draw: scraped ten times or more
    scraped(prometheus, "min(count_over_time(harborhook_deliveries_total[1m])) >= bool 10", 1)
    traffic = Traffic(pipeline, prometheus, acme, globex, healthy, failing, dead, started)
    for query in (
        'ALERTS{alertname="HarborHookErrorBudgetBurnFast",alertstate="firing"}',
        'harborhook_db_backlog{status="dead"} > 0',
        "harborhook:backlog:total",
        "harborhook:delivery_error_ratio:rate3d",
    ):
        wait_until(
            lambda q=query: prometheus.query(q),  # type: ignore[misc]
            60,
            interval=0.5,
            describe=f"{query} in Prometheus\n{pipeline.logs()}",
        )
    return traffic


def scraped(prometheus: PrometheusServer, query: str, value: float) -> None:
    """Until ``query`` answers ``value`` in Prometheus."""
    wait_until(
        lambda: prometheus.value(query) == value,
        30,
        interval=0.2,
        describe=f"{query} to be {value}",
    )


# --- every query on real data -----------------------------------------------------------------


def finite_values(result_type: str, result: Any) -> list[float]:
    if result_type == "scalar":
        samples = [result]
    elif result_type == "matrix":
        samples = [point for series in result for point in series["values"]]
    else:
        samples = [series["value"] for series in result]
    values = [float(value) for _, value in samples]
    return [v for v in values if math.isfinite(v)]


def selections(dashboard: Dashboard, traffic: Traffic, variant: str) -> dict[str, list[str]]:
    if variant == "all":
        return {v.name: ([""] if v.type == "textbox" else [ALL]) for v in dashboard.variables}
    chosen = {"tenant": [traffic.acme.id], "endpoint": [traffic.failing], "level": ["info"]}
    return {v.name: chosen.get(v.name, [""]) for v in dashboard.variables}


def resolve_options(
    client: PrometheusClient,
    dashboard: Dashboard,
    chosen: dict[str, list[str]],
    start: float,
    end: float,
) -> dict[str, list[str]]:
    """Each query variable's values, asked in order as Grafana does."""
    options: dict[str, list[str]] = {}
    for variable in dashboard.variables:
        if variable.type != "query":
            options[variable.name] = list(variable.options)
            continue
        values = dashboard_values(dashboard, chosen, options, "promql")
        query = substitute(variable.query, {k: values[k] for k in options})
        options[variable.name] = client.variable_values(query, start, end)
    return options


def test_variables_resolve_to_the_tenants_and_endpoints_of_the_traffic(
    dashboards: list[RenderedDashboard], traffic: Traffic
) -> None:
    end = time.time()
    with PrometheusClient(traffic.prometheus.url) as client:
        for rendered in dashboards:
            dashboard = rendered.model
            everything = resolve_options(
                client, dashboard, selections(dashboard, traffic, "all"), traffic.started, end
            )
            assert {traffic.acme.id, traffic.globex.id} <= set(everything["tenant"])
            assert {traffic.healthy, traffic.failing, traffic.dead} <= set(everything["endpoint"])
            one = resolve_options(
                client, dashboard, selections(dashboard, traffic, "one"), traffic.started, end
            )
            assert set(one["endpoint"]) == {traffic.healthy, traffic.failing}


@pytest.mark.parametrize("variant", ["all", "one"])
def test_every_panel_query_returns_data(
    dashboards: list[RenderedDashboard], traffic: Traffic, variant: str
) -> None:
    end = time.time() - 1
    start = traffic.started - 5
    time_variables = TimeVariables.for_range(end - start, int(end - start), SCRAPE_SECONDS)
    empty: list[str] = []
    non_zero: dict[str, bool] = {}
    ran = 0
    with PrometheusClient(traffic.prometheus.url) as client:
        for rendered in dashboards:
            dashboard = rendered.model
            chosen = selections(dashboard, traffic, variant)
            options = resolve_options(client, dashboard, chosen, start, end)
            for panel, target in dashboard.targets():
                if target.language != "promql":
                    continue
                query = expand(dashboard, target, chosen, options, time_variables)
                assert "$" not in query
                if target.instant:
                    answer = client.instant(query, end)
                else:
                    answer = client.range(query, start, end, time_variables.interval_ms / 1000)
                ran += 1
                values = finite_values(answer.result_type, answer.result)
                where = f"{dashboard.uid} / {panel.title} / {target.ref_id}: {query}"
                if not values:
                    empty.append(where)
                if panel.title in MUST_BE_NON_ZERO:
                    key = f"{dashboard.uid} / {panel.title}"
                    non_zero[key] = non_zero.get(key, False) or any(values)
    assert ran > 50
    if empty:  # what Prometheus holds for the selected endpoint, to tell why
        raw = traffic.prometheus.query(
            f'harborhook_deliveries_total{{endpoint_id="{traffic.failing}"}}[2m]'
        )
        empty.append(f"raw samples of the failing endpoint until now: {raw}")
    assert empty == [], "panels without data:\n" + "\n".join(empty)
    assert len(non_zero) == len(MUST_BE_NON_ZERO)
    zero = [panel for panel, seen in non_zero.items() if not seen]
    assert zero == [], "panels the traffic should fill, at 0:\n" + "\n".join(zero)


def test_the_traffic_shows_where_an_operator_looks(traffic: Traffic) -> None:
    """The values behind the panels are the ones the traffic must produce."""
    q = traffic.prometheus.query
    reasons = {s["metric"]["reason"] for s in q("sum by (reason) (harborhook_retries_total)")}
    assert {"http_5xx", "circuit_open"} <= reasons
    dlq = {s["metric"]["endpoint_id"] for s in q("harborhook_dlq_total")}
    assert dlq == {traffic.failing, traffic.dead}
    opened = q(f'max_over_time(harborhook_circuit_open{{endpoint_id="{traffic.failing}"}}[10m])')
    assert [float(s["value"][1]) for s in opened] == [1.0]


def test_latency_histograms_carry_trace_exemplars_of_real_deliveries(traffic: Traffic) -> None:
    """Scraped as OpenMetrics, the latency buckets carry the trace_id of an observation, and
    that trace holds the delivery attempt (the Correlation dashboard's exemplar links)."""
    spans_file = traffic.pipeline.workdir / "state" / "traces" / "spans.jsonl"
    found: dict[str, list[str]] = {}
    for metric in (
        "harborhook_delivery_latency_seconds_bucket",
        "harborhook_delivery_e2e_seconds_bucket",
    ):
        answer = httpx.get(
            f"{traffic.prometheus.url}/api/v1/query_exemplars",
            params={"query": metric, "start": traffic.started - 5, "end": time.time()},
        )
        answer.raise_for_status()
        found[metric] = [
            exemplar["labels"]["trace_id"]
            for series in answer.json()["data"]
            for exemplar in series["exemplars"]
        ]
        assert found[metric], f"no exemplars on {metric}"
        assert all(re.fullmatch(r"[0-9a-f]{32}", t) for t in found[metric])
    attempts = wait_until(
        lambda: (
            {
                record["trace_id"]
                for line in spans_file.read_text().splitlines()
                if (record := json.loads(line))["name"] == "DeliveryAttempt"
            }
            >= set(found["harborhook_delivery_latency_seconds_bucket"])
        ),
        15,
        describe="the exemplars' traces in the span file",
    )
    assert attempts


# --- dashboards show ------------------------------------------------------------------------


def show(traffic: Traffic, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **traffic.pipeline.env,
        "HARBORHOOK_PROMETHEUS_URL": traffic.prometheus.url,
        "HARBORHOOK_PROMETHEUS_SCRAPE_INTERVAL": "1s",
    }
    return subprocess.run(
        [sys.executable, "-m", "harborctl", "dashboards", "show", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "filters"), [("overview", []), ("slo", []), ("queue", ["--tenant", "ACME"])]
)
def test_show_json_answers_what_prometheus_answers(
    traffic: Traffic, name: str, filters: list[str]
) -> None:
    at = time.time() - 2
    minutes = max(1.0, (at - traffic.started) / 60 + 0.5)
    filters = [traffic.acme.id if f == "ACME" else f for f in filters]
    done = show(traffic, name, "--json", "--at", str(at), "--minutes", str(minutes), *filters)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    if filters:
        assert shown["variables"]["tenant"] == traffic.acme.id
    compared = 0
    with PrometheusClient(traffic.prometheus.url) as client:
        for panel in shown["panels"]:
            for target in panel["targets"]:
                params = target["params"]
                if target["instant"]:
                    answer = client.instant(target["query"], params["time"])
                else:
                    answer = client.range(
                        target["query"], params["start"], params["end"], params["step"]
                    )
                assert target["resultType"] == answer.result_type
                assert target["result"] == answer.result, panel["title"]
                compared += 1
    assert compared >= 10
    targets = [t for panel in shown["panels"] for t in panel["targets"]]
    assert any(finite_values(t["resultType"], t["result"]) for t in targets)


def test_show_draws_the_overview_in_the_terminal(traffic: Traffic) -> None:
    done = show(traffic, "overview", "--minutes", "10")
    assert done.returncode == 0, done.stderr
    for title in ("Events published/s", "Deliveries/s by status", "DLQ entries by reason"):
        assert title in done.stdout
    assert "http_5xx" in done.stdout
    assert any(bar in done.stdout for bar in "▁▂▃▄▅▆▇█")
    correlation = show(traffic, "correlation", "--minutes", "10")
    assert correlation.returncode == 0, correlation.stderr
    assert "harborctl logs tail" in correlation.stdout
