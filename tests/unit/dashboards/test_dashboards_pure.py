"""The generated dashboards: committed copies, structure, datasource uids, links, agreement with
the alert rules, and the LogQL/TraceQL checkers and Grafana's variable substitution."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from harborctl.alerting.rules import render_rule_files
from harborctl.alerting_spec import BURN_WINDOWS, AlertingSpec, SloSpec
from harborctl.dashboards import inputs
from harborctl.dashboards.generate import render_dashboards, render_provider
from harborctl.dashboards.logql import check_logql
from harborctl.dashboards.model import dashboard_problems, parse_dashboard
from harborctl.dashboards.queries import expanded_queries, link_queries
from harborctl.dashboards.traceql import check_traceql
from harborctl.dashboards.variables import ALL, TimeVariables, format_value, round_interval
from harborctl.errors import ValidationError
from harborctl.grafana_spec import GrafanaSpec
from harborctl.observability.tracing import SPAN_ATTEMPT
from harborctl.settings import load_settings
from harborctl.telemetry.log_query import LEVELS, SERVICE_PATTERN

REPO = Path(__file__).resolve().parents[3]
GRAFANA = REPO / "deploy" / "docker" / "grafana"


def provisioned() -> dict[str, str]:
    """uid → type of the compose stack's datasources, read from the provisioning file."""
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/datasources.yaml").read_text())
    return {d["uid"]: d["type"] for d in config["datasources"]}


def defaults() -> list[Any]:
    return render_dashboards(SloSpec(), AlertingSpec(), GrafanaSpec())


def by_name(rendered: list[Any]) -> dict[str, Any]:
    return {r.file.name: r for r in rendered}


def test_the_committed_copies_are_the_templates_rendered() -> None:
    """Fails when a template changed and `harborctl dashboards generate --compose` was not run."""
    rendered = defaults()
    committed = sorted(p.name for p in (GRAFANA / "dashboards").glob("*.json"))
    assert committed == sorted(r.file.file_name for r in rendered)
    for item in rendered:
        text = (GRAFANA / "dashboards" / item.file.file_name).read_text()
        assert text == item.text, (
            f"{item.file.file_name}: run harborctl dashboards generate --compose"
        )
    provider = (GRAFANA / "provisioning/dashboards/dashboards.yaml").read_text()
    assert provider == render_provider(GrafanaSpec())


def test_the_provider_provisions_the_folder_from_the_mounted_directory() -> None:
    config = yaml.safe_load((GRAFANA / "provisioning/dashboards/dashboards.yaml").read_text())
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert provider["folderUid"] == GrafanaSpec().folder_uid
    assert provider["folder"] == GrafanaSpec().folder_title
    assert provider["options"]["path"] == inputs.CONTAINER_DASHBOARDS_DIR


def test_four_dashboards_valid_json_resolving_to_provisioned_datasources() -> None:
    uids = {d.uid for d in inputs.DASHBOARDS}
    assert {d.name for d in inputs.DASHBOARDS} == {"overview", "slo", "queue", "correlation"}
    assert set(GrafanaSpec().datasources.model_dump().values()) == set(provisioned())
    for path in sorted((GRAFANA / "dashboards").glob("*.json")):
        dashboard = parse_dashboard(json.loads(path.read_text()))
        assert dashboard_problems(dashboard, provisioned(), sorted(uids)) == [], path.name
        ids = [p.id for p in dashboard.panels]
        assert len(ids) == len(set(ids))
        refs = {t.datasource.uid for _, t in dashboard.targets()}
        assert refs <= set(provisioned())


def test_each_dashboard_has_tenant_and_endpoint_variables_and_links_to_the_others() -> None:
    for item in defaults():
        dashboard = item.model
        for name in ("tenant", "endpoint"):
            variable = dashboard.variable(name)
            assert variable is not None and variable.multi and variable.include_all
        assert dashboard.variable("tenant").all_value == ".*"  # type: ignore[union-attr]
        assert inputs.TAG in dashboard.tags
        [link] = dashboard.links
        assert link["type"] == "dashboards" and link["tags"] == [inputs.TAG]
        assert link["includeVars"] and link["keepTime"]


def test_the_checks_catch_what_grafana_would_refuse() -> None:
    raw = json.loads((GRAFANA / "dashboards/harborhook-overview.json").read_text())
    raw["panels"][1]["id"] = raw["panels"][0]["id"]
    raw["panels"][2]["gridPos"] = dict(raw["panels"][3]["gridPos"])
    raw["panels"][4]["targets"][0]["datasource"] = {"type": "prometheus", "uid": "nope"}
    raw["panels"][5]["targets"][0]["expr"] = 'rate(x{tenant_id=~"$tenantt"}[5m])'
    raw["panels"][6]["gridPos"]["x"] = 20
    raw["uid"] = "a/b"
    problems = "\n".join(dashboard_problems(parse_dashboard(raw), provisioned(), []))
    assert "is used 2 times" in problems
    assert "overlap" in problems
    assert "'nope' is not provisioned" in problems
    assert "$tenantt is undefined" in problems
    assert "outside the 24-column grid" in problems
    assert "not a Grafana uid" in problems


def rule_alerts(slo: SloSpec, alerting: AlertingSpec) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for text in render_rule_files(slo, alerting).values():
        for group in yaml.safe_load(text)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    found.setdefault(rule["alert"], {"rules": []})["rules"].append(rule)
    return found


@pytest.mark.parametrize(
    ("slo", "alerting"),
    [
        (SloSpec(), AlertingSpec()),
        (
            SloSpec(delivery_success_objective=0.995, latency_p99_seconds=30, window="28d"),
            AlertingSpec(backlog_high=500, runbook_base_url="https://wiki.example.com/rb/"),
        ),
    ],
)
def test_the_dashboards_draw_the_thresholds_the_rules_alert_on(
    slo: SloSpec, alerting: AlertingSpec
) -> None:
    """Same spec in, same numbers out: dashboards and alerts cannot disagree."""
    rules = rule_alerts(slo, alerting)
    dashboards = by_name(render_dashboards(slo, alerting, GrafanaSpec()))
    slo_board = dashboards["slo"].model
    burn_panels = [p for p in slo_board.panels if p.title.startswith("Burn rate")]
    assert len(burn_panels) == len(BURN_WINDOWS)
    budget = slo.error_budget
    for panel, window in zip(burn_panels, BURN_WINDOWS, strict=True):
        [rule] = [
            r
            for r in rules[window.alert_name]["rules"]
            if r["labels"]["long_window"] == window.long
        ]
        threshold = float(re.search(r"> ([0-9.e-]+)", rule["expr"]).group(1))  # type: ignore[union-attr]
        assert panel.thresholds == (float(rule["labels"]["burn_rate"]),)
        assert panel.thresholds[0] * budget == pytest.approx(threshold)
        exprs = [t.query for t in panel.targets]
        assert exprs == [
            f"harborhook:delivery_error_ratio:rate{window.long} / {budget:.10g}",
            f"harborhook:delivery_error_ratio:rate{window.short} / {budget:.10g}",
        ]
        assert f"rate{window.long} >" in rule["expr"] and f"rate{window.short} >" in rule["expr"]
    latency_rule = rules["HarborHookDeliveryLatencyHigh"]["rules"][0]["expr"]
    latency = [p for p in dashboards["overview"].model.panels if p.title.startswith("End-to-end")]
    assert latency[0].thresholds == (float(latency_rule.split(">")[-1]),)
    backlog_rule = rules["HarborHookBacklogHigh"]["rules"][0]["expr"]
    backlog = dashboards["queue"].model.panel(1)
    assert backlog.thresholds == (float(backlog_rule.split(">")[-1]),)
    runbook = rules["HarborHookDlqSpike"]["rules"][0]["annotations"]["runbook"]
    [link] = [lk for p in slo_board.panels for lk in p.links if lk.title == "Runbook"]
    assert link.url.replace("${__data.fields.alertname}", "HarborHookDlqSpike") == runbook
    sli = [p for p in slo_board.panels if p.title.startswith("SLI ") and p.type == "stat"]
    assert [p.title for p in sli] == ["SLI 5m", "SLI 1h", "SLI 6h", f"SLI {slo.window}"]
    assert all(p.thresholds == (slo.delivery_success_objective,) for p in sli)
    assert f'status=~"{slo.bad_regex}"' in sli[0].targets[0].query


def test_the_config_sections_feed_the_dashboards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARBORHOOK_CONFIG", raising=False)
    (tmp_path / "harborhook.yaml").write_text(
        "slo: {delivery_success_objective: 0.999}\n"
        "grafana: {datasources: {prometheus: prom-1, loki: logs, tempo: traces}, "
        "folder_uid: hh, folder_title: Webhooks}\n"
    )
    settings = load_settings(state_dir=tmp_path)
    rendered = render_dashboards(settings.slo, settings.alerting, settings.grafana)
    uids = {t.datasource.uid for r in rendered for _, t in r.model.targets()}
    assert uids == {"prom-1", "logs", "traces"}
    assert 'folderUid: "hh"' in render_provider(settings.grafana)


@pytest.mark.parametrize("uid", ["general", "a/b", "x" * 41, "with space"])
def test_the_grafana_spec_refuses_uids_grafana_refuses(
    uid: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harborctl.errors import ConfigError

    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="grafana"):
        load_settings(grafana={"folder_uid": uid})


def test_the_log_and_trace_queries_name_what_the_services_write() -> None:
    assert inputs.LOG_LEVELS == LEVELS
    assert inputs.LOG_SERVICES == SERVICE_PATTERN
    assert inputs.ATTEMPT_SPAN == SPAN_ATTEMPT


def test_trace_and_log_links_use_the_datasource_uids() -> None:
    correlation = by_name(defaults())["correlation"].model
    links = list(link_queries(correlation))
    assert len(links) == 2
    assert {uid for _, uid, _ in links} == {"loki"}
    for _, _, query in links:
        check_logql(query)
        assert "4bf92f3577b34da6a3ce929d0e0e4736" in query
    exemplars = [t for _, t in correlation.targets() if t.exemplar]
    assert len(exemplars) == 4
    config = yaml.safe_load((GRAFANA / "provisioning/datasources/datasources.yaml").read_text())
    prometheus = next(d for d in config["datasources"] if d["type"] == "prometheus")
    assert prometheus["jsonData"]["exemplarTraceIdDestinations"] == [
        {"name": "trace_id", "datasourceUid": "tempo"}
    ]


def test_every_logql_and_traceql_target_is_well_formed_for_all_and_one_value() -> None:
    languages: dict[str, int] = {}
    for item in defaults():
        for query in expanded_queries(item.model):
            if query.target.language == "logql":
                check_logql(query.query)
            elif query.target.language == "traceql":
                check_traceql(query.query)
            languages[query.target.language] = languages.get(query.target.language, 0) + 1
    assert languages["logql"] == 2 and languages["traceql"] == 4


@pytest.mark.parametrize(
    "query",
    [
        '{service="harborhook-worker"}',
        '{service=~"harborhook-.*", level=~"error|critical"} |= "timeout" != "debug" | json',
        '{service=~"x.+"} |~ "(?i)fail" | logfmt --strict | status >= 500 and duration > 1s',
        '{a="b"} | json trace="trace_id", t="tenant_id" | t=~"ten_.*" or (x!="y", z=`q`)',
        '{a="b"} | regexp `(?P<ip>\\d+)` | line_format "{{.ip}}" | label_format x=y, z="w"',
        '{a="b"} | pattern "<ip> - <_>" | drop x, y="z" | keep ip | decolorize | unpack',
        '{a="b"} |= "x" or "y" |> "<_> ok"',
    ],
)
def test_logql_accepts_the_documented_syntax(query: str) -> None:
    check_logql(query)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ('{service=~".*"}', "does not match the empty string"),
        ('{service="a"', "expected"),
        ('{service="a"} |~ "(unclosed"', "does not compile"),
        ('{service="a"} | json | x=~', "expected a string"),
        ('rate({service="a"}[5m])', "metric query"),
        ("{service='a'}", "unexpected"),
        ('{service="a"} | line_format', "expected"),
        ('{service="a"} | logfmt --loose', "unknown logfmt flag"),
        ('{service="a\\q"}', "unknown escape"),
        ('{service="a"} || json', "expected"),
    ],
)
def test_logql_refuses_malformed_queries(query: str, why: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(why)):
        check_logql(query)


@pytest.mark.parametrize(
    "query",
    [
        "{}",
        '{ resource.service.name = "harborhook-worker" }',
        '{ name = "DeliveryAttempt" && span.delivery.outcome = "failed" && duration > 1.5s }',
        "{ status = error } >> { kind = client && span.http.response.status_code >= 500 }",
        '{ .tenant_id =~ "ten_.*" || !(span:name = "POST") } | count() > 2',
        '({ rootServiceName = "a" } && { traceDuration < 2m }) | avg(duration) > 100ms',
        "{ span.attempt = 3 && span.ok = true && span.x != nil } | select(span.tenant_id)",
    ],
)
def test_traceql_accepts_the_documented_syntax(query: str) -> None:
    check_traceql(query)


@pytest.mark.parametrize(
    ("query", "why"),
    [
        ('{ name = "a"', "expected"),
        ('{ tenant_id = "a" }', "not an intrinsic nor a scoped attribute"),
        ('{ span.x =~ "(" }', "does not compile"),
        ('{ status = "error" }', "status field compared with a string"),
        ("{ duration > 5 }", "duration field compared with a number"),
        ("{ kind = server && span.x =~ 5 }", "needs a string"),
        ("{ status > error }", "does not order"),
        ('{ span.a = "b" } extra', "unexpected"),
        ('{ span. = "b" }', "attribute name"),
    ],
)
def test_traceql_refuses_malformed_queries(query: str, why: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(why)):
        check_traceql(query)


def test_variables_are_formatted_as_grafana_formats_them() -> None:
    overview = by_name(defaults())["overview"].model
    tenant, endpoint = overview.variable("tenant"), overview.variable("endpoint")
    assert tenant is not None and endpoint is not None
    assert format_value(tenant, [ALL], ["a", "b"], "promql") == ".*"
    assert format_value(endpoint, [ALL], ["ep_1", "ep_2"], "promql") == "(ep_1|ep_2)"
    assert format_value(endpoint, [ALL], ["ep_1", "ep_2"], "logql") == "ep_1|ep_2"
    assert format_value(endpoint, ["ep_1"], [], "promql") == "ep_1"
    assert format_value(endpoint, ["a.b", "c|d"], [], "promql") == r"(a\.b|c\|d)"


def test_time_variables_follow_grafanas_formulas() -> None:
    assert round_interval(900) == 1000
    assert round_interval(40_000) == 30_000
    hour = TimeVariables.for_range(3600, 1000, 15)  # 3.6 s raw → 5 s, below the scrape: 15 s
    assert hour.values()["__interval"] == "15s"
    assert hour.values()["__rate_interval"] == "60s"  # max(15 + 15, 4 x 15)
    assert hour.values()["__range"] == "3600s"
    day = TimeVariables.for_range(86400, 100, 5)  # 864 s → 15 m (900 s)
    assert day.values()["__rate_interval"] == "905s"  # max(900 + 5, 4 x 5)
