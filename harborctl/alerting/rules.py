"""The alert catalogue and the Prometheus rule files rendered from the spec (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harborctl.alerting.profiles import Profile, RuleWindows, rule_profile
from harborctl.alerting_spec import (
    AlertingSpec,
    SloSpec,
    burn_threshold,
    duration_seconds,
    number_text,
    percent_text,
)
from harborctl.render import render_template

RULE_TEMPLATES = {
    "harborhook-slo.yml": "prometheus/rules/harborhook-slo.yml.j2",
    "harborhook-operations.yml": "prometheus/rules/harborhook-operations.yml.j2",
}


@dataclass(frozen=True)
class AlertInfo:
    name: str
    severity: str
    area: str
    what: str


ALERTS: tuple[AlertInfo, ...] = (
    AlertInfo("HarborHookErrorBudgetBurnFast", "page", "delivery-errors",
              "error budget burning 14.4x (1h+5m) or 6x (6h+30m)"),
    AlertInfo("HarborHookErrorBudgetBurnSlow", "ticket", "delivery-errors",
              "error budget burning 3x (1d+2h) or 1x (3d+6h)"),
    AlertInfo("HarborHookIngestDown", "page", "ingest", "ingest API not scraped"),
    AlertInfo("HarborHookWorkerDown", "page", "worker", "a worker not scraped"),
    AlertInfo("HarborHookMonitorDown", "page", "monitor",
              "the backlog monitor not scraped: backlog alerts blind"),
    AlertInfo("HarborHookTargetMissing", "page", "scrape",
              "no scrape target at all for an expected job"),
    AlertInfo("HarborHookRuleEvaluationFailures", "ticket", "prometheus",
              "Prometheus fails to evaluate a rule group"),
    AlertInfo("HarborHookNotificationsFailing", "page", "alertmanager",
              "Alertmanager fails to deliver notifications to an integration"),
    AlertInfo("HarborHookPipelineStalled", "page", "pipeline",
              "events published, nothing delivered"),
    AlertInfo("HarborHookBacklogHigh", "page", "backlog", "backlog above the high-water mark"),
    AlertInfo("HarborHookBacklogGrowing", "ticket", "backlog", "backlog growing too fast"),
    AlertInfo("HarborHookDlqSpike", "ticket", "dlq", "many deliveries dead in a short window"),
    AlertInfo("HarborHookCircuitOpen", "ticket", "circuit", "an endpoint's breaker open too long"),
    AlertInfo("HarborHookEndpointDisabled", "ticket", "endpoints",
              "a worker disabled an endpoint: it answered 410 Gone, or failed for too long"),
    AlertInfo("HarborHookDeliveryLatencyHigh", "ticket", "delivery-latency",
              "p99 accepted-to-delivered latency above the objective"),
)  # fmt: skip

def _exhaustion(slo: SloSpec, factor: float) -> str:
    hours = duration_seconds(slo.window) / factor / 3600
    return f"{hours / 24:.3g} days" if hours >= 48 else f"{hours:.3g} hours"


def rules_context(
    slo: SloSpec,
    alerting: AlertingSpec,
    windows: RuleWindows | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Everything the rule templates need; thresholds derived from the objective here.

    ``windows``: the lookbacks (the normal profile's when None); ``labels``: added to every
    alert (the demo profile's ``profile="demo"``).
    """
    windows = windows or RuleWindows()
    burn_alerts = [
        {
            "name": window.alert_name,
            "severity": window.severity,
            "long": window.long,
            "short": window.short,
            "factor": number_text(window.factor),
            "threshold": number_text(burn_threshold(slo, window)),
            "threshold_pct": percent_text(burn_threshold(slo, window)),
            "exhaustion": _exhaustion(slo, window.factor),
            "for": (
                alerting.for_.burn_page if window.severity == "page" else alerting.for_.burn_ticket
            ),
        }
        for window in windows.burn_windows
    ]
    return {
        "bad_regex": slo.bad_regex,
        "all_regex": slo.outcome_regex,
        "objective_pct": percent_text(slo.delivery_success_objective),
        "budget_pct": percent_text(1 - slo.delivery_success_objective),
        "slo_window": slo.window,
        "ratio_windows": windows.ratio_windows,
        "windows": windows,
        "extra_labels": dict(labels or {}),
        "profile": (labels or {}).get("profile", "normal"),
        "burn_alerts": burn_alerts,
        "latency_p99_seconds": number_text(slo.latency_p99_seconds),
        "rule_interval": alerting.rule_interval,
        "runbook_base": alerting.runbook_base_url.rstrip("/"),
        "jobs": alerting.jobs,
        "expected_jobs": alerting.jobs.expected(),
        "durations": alerting.for_,
        "backlog_high": alerting.backlog_high,
        "backlog_growth_per_minute": number_text(alerting.backlog_growth_per_minute),
        "dlq_spike": alerting.dlq_spike,
        "dlq_spike_window": alerting.dlq_spike_window,
        "stalled_window": alerting.stalled_window,
        "endpoint_disabled_window": alerting.endpoint_disabled_window,
    }


def render_rule_files(
    slo: SloSpec, alerting: AlertingSpec, profile: Profile = Profile.normal
) -> dict[str, str]:
    """File name → content of every Prometheus rule file, on the time scale of ``profile``."""
    chosen = rule_profile(profile, alerting)
    context = rules_context(slo, chosen.alerting, chosen.windows, chosen.labels)
    return {name: render_template(template, **context) for name, template in RULE_TEMPLATES.items()}
