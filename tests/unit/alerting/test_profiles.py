"""Rule profiles (pure): the demo profile is the normal one with every time divided by 60, with
floors; the normal profile renders exactly what the spec says; only-one-alert routing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harborctl.alerting.alertmanager import BLACKHOLE, build_alertmanager_config, build_only_route
from harborctl.alerting.profiles import (
    Profile,
    RuleWindows,
    format_duration,
    rule_profile,
    scale_duration,
)
from harborctl.alerting.receivers import Severity, SlackReceiver, WebhookReceiver
from harborctl.alerting.rules import ALERTS, render_rule_files
from harborctl.alerting_spec import BURN_WINDOWS, AlertingSpec, NotifySpec, SloSpec


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (1, "1s"), (20, "20s"), (60, "1m"), (90, "1m30s"), (4320, "1h12m"), (7200, "2h")],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("value", "floor", "scaled"),
    [
        ("1h", 0, "1m"),
        ("5m", 0, "5s"),
        ("5m", 20, "20s"),  # floored
        ("3d", 20, "1h12m"),
        ("0s", 20, "0s"),  # "at once" stays "at once"
        ("30s", 0, "1s"),  # never below a second
        ("30s", 5, "5s"),
    ],
)
def test_scale_duration(value: str, floor: float, scaled: str) -> None:
    assert scale_duration(value, 60, floor) == scaled


def test_the_normal_profile_is_the_spec_itself() -> None:
    spec = AlertingSpec.model_validate({"for": {"worker_down": "7m"}, "rule_interval": "15s"})
    normal = rule_profile(Profile.normal, spec)
    assert normal.alerting is spec
    assert normal.windows == RuleWindows()
    assert normal.windows.burn_windows == BURN_WINDOWS
    assert normal.labels == {}


def test_the_demo_profile_divides_every_time_by_60_with_floors() -> None:
    demo = rule_profile(Profile.demo, AlertingSpec())
    pairs = [(w.severity, w.long, w.short, w.factor) for w in demo.windows.burn_windows]
    assert pairs == [
        ("page", "1m", "20s", 14.4),
        ("page", "6m", "30s", 6.0),
        ("ticket", "24m", "2m", 3.0),
        ("ticket", "1h12m", "6m", 1.0),
    ]
    assert demo.windows.ratio_windows == (
        *("20s", "30s", "1m", "2m", "6m", "24m", "1h12m"),
        *("5m", "30m", "1h", "2h", "6h", "1d", "3d"),  # the dashboards read these
    )
    assert (demo.windows.rule_failures, demo.windows.latency) == ("20s", "20s")
    spec = demo.alerting
    assert spec.rule_interval == "5s"  # 30s / 60, floored at the stack's scrape interval
    assert (spec.for_.worker_down, spec.for_.backlog_growing, spec.for_.burn_page) == (
        "2s",
        "15s",
        "0s",
    )
    assert (spec.dlq_spike_window, spec.stalled_window) == ("20s", "20s")
    assert (
        spec.notify.model_dump()
        == NotifySpec(
            group_wait="1s",
            group_interval="5s",
            repeat_page="1m",
            repeat_ticket="12m",
            resolve_timeout="5s",
        ).model_dump()
    )
    # thresholds are not times: unchanged
    assert (spec.backlog_high, spec.dlq_spike, spec.backlog_growth_per_minute) == (10000, 20, 100)
    assert demo.labels == {"profile": "demo"}


def test_the_demo_profile_scales_the_operators_own_durations() -> None:
    spec = AlertingSpec.model_validate({"for": {"worker_down": "10m"}, "rule_interval": "10m"})
    demo = rule_profile(Profile.demo, spec).alerting
    assert (demo.for_.worker_down, demo.rule_interval) == ("10s", "10s")


def _alerts(files: dict[str, str]) -> list[dict[str, object]]:
    return [
        rule
        for text in files.values()
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


def test_demo_rules_label_every_alert_and_scale_windows() -> None:
    normal = render_rule_files(SloSpec(), AlertingSpec())
    demo = render_rule_files(SloSpec(), AlertingSpec(), Profile.demo)
    assert all("profile" not in rule["labels"] for rule in _alerts(normal))  # type: ignore[operator]
    demo_alerts = _alerts(demo)
    assert {rule["alert"] for rule in demo_alerts} == {a.name for a in ALERTS}
    assert all(rule["labels"]["profile"] == "demo" for rule in demo_alerts)  # type: ignore[index]
    text = "".join(demo.values())
    assert "harborhook:delivery_error_ratio:rate20s > 0.144" in text
    operations = demo["harborhook-operations.yml"]
    assert "[10m]" not in operations and "[5m]" not in operations
    assert "interval: 30s" not in text
    burn_exprs = [str(rule["expr"]) for rule in demo_alerts if "Budget" in str(rule["alert"])]
    assert all("rate5m" not in e and "rate1h " not in e for e in burn_exprs)
    assert "# Profile demo:" in text and "# Profile" not in "".join(normal.values())


def test_only_route_sends_one_alert_to_named_receivers_and_nothing_else() -> None:
    notify = NotifySpec(group_wait="1s", group_interval="5s")
    receivers = [
        WebhookReceiver(name="harborhook-demo"),
        SlackReceiver(name="slack", severity=Severity.ticket),
    ]
    route = build_only_route(
        notify, ["harborhook-demo", "slack"], ['alertname="HarborHookErrorBudgetBurnFast"']
    )
    assert route["receiver"] == BLACKHOLE
    assert (route["group_wait"], route["group_interval"]) == ("1s", "5s")
    [only] = route["routes"]
    assert only["matchers"] == ['alertname="HarborHookErrorBudgetBurnFast"']
    assert only["receiver"] == BLACKHOLE
    assert only["routes"] == [
        {"receiver": "harborhook-demo", "continue": True},
        {"receiver": "slack", "continue": True},  # a ticket receiver named: it gets the page
    ]
    config = build_alertmanager_config(
        notify,
        receivers,
        secret_files={r.name: Path(f"/secrets/{r.name}") for r in receivers},
        secrets={"harborhook-demo": "http://127.0.0.1:1/x"},
        route=route,
    )
    assert config["route"] is route
    assert [r["name"] for r in config["receivers"]] == [BLACKHOLE, "harborhook-demo", "slack"]
