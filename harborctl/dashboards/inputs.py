"""What the dashboard templates are rendered from (pure): the catalogue of dashboards and the
template context, derived from the same specs as the alert rules.

The SLO objective, burn windows and thresholds come from ``harborctl.alerting_spec`` (the
functions the rule templates use too: ``burn_threshold``, ``SloSpec.bad_regex``, ...), so a
dashboard's threshold line and the alert it draws are the same number. Datasource uids and
the folder come from ``harborctl.grafana_spec``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harborctl.alerting_spec import (
    BURN_WINDOWS,
    AlertingSpec,
    SloSpec,
    burn_threshold,
    number_text,
    percent_text,
)
from harborctl.grafana_spec import GrafanaSpec

TAG = "harborhook"  # every dashboard carries it; their links list the dashboards by it
# where the compose stack mounts the committed dashboards inside the Grafana container
CONTAINER_DASHBOARDS_DIR = "/var/lib/grafana/dashboards/harborhook"
PROVIDER_TEMPLATE = "grafana/provisioning/dashboards.yaml.j2"
PROVIDER_FILE = "dashboards.yaml"

# what the services write, for the log and trace queries (the same values as
# harborctl.telemetry.log_query.LEVELS / SERVICE_PATTERN and
# harborctl.observability.tracing.SPAN_ATTEMPT; a test keeps them equal)
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
LOG_SERVICES = "harborhook-.*"
ATTEMPT_SPAN = "DeliveryAttempt"


@dataclass(frozen=True)
class DashboardFile:
    """One dashboard: its short name (``dashboards show NAME``), uid, file and template."""

    name: str
    uid: str

    @property
    def file_name(self) -> str:
        return f"{self.uid}.json"

    @property
    def template(self) -> str:
        return f"grafana/dashboards/{self.uid}.json.j2"


DASHBOARDS: tuple[DashboardFile, ...] = (
    DashboardFile("overview", "harborhook-overview"),
    DashboardFile("slo", "harborhook-slo"),
    DashboardFile("queue", "harborhook-queue"),
    DashboardFile("correlation", "harborhook-correlation"),
)


def dashboard_named(name: str) -> DashboardFile | None:
    """The dashboard whose short name or uid is ``name``."""
    return next((d for d in DASHBOARDS if name in (d.name, d.uid)), None)


def datasource_refs(grafana: GrafanaSpec) -> dict[str, dict[str, str]]:
    """``{"prometheus": {"type": "prometheus", "uid": ...}, "loki": ..., "tempo": ...}``."""
    uids = grafana.datasources
    return {
        "prometheus": {"type": "prometheus", "uid": uids.prometheus},
        "loki": {"type": "loki", "uid": uids.loki},
        "tempo": {"type": "tempo", "uid": uids.tempo},
    }


def dashboards_context(
    slo: SloSpec, alerting: AlertingSpec, grafana: GrafanaSpec
) -> dict[str, Any]:
    """Everything the dashboard templates read."""
    burn_windows = [
        {
            "alert": window.alert_name,
            "severity": window.severity,
            "long": window.long,
            "short": window.short,
            "factor": window.factor,
            "factor_text": number_text(window.factor),
            "threshold_text": number_text(burn_threshold(slo, window)),
        }
        for window in BURN_WINDOWS
    ]
    return {
        "ds": datasource_refs(grafana),
        "tag": TAG,
        "uids": {d.name: d.uid for d in DASHBOARDS},
        "bad_regex": slo.bad_regex,
        "all_regex": slo.outcome_regex,
        "objective": slo.delivery_success_objective,
        "objective_pct": percent_text(slo.delivery_success_objective),
        "budget": slo.error_budget,
        "budget_text": number_text(slo.error_budget),
        "budget_pct": percent_text(slo.error_budget),
        "slo_window": slo.window,
        "sli_windows": ["5m", "1h", "6h", slo.window],
        "burn_windows": burn_windows,
        "latency_p99_seconds": slo.latency_p99_seconds,
        "latency_p99_text": number_text(slo.latency_p99_seconds),
        "backlog_high": alerting.backlog_high,
        "backlog_growth_text": number_text(alerting.backlog_growth_per_minute),
        "runbook_base": alerting.runbook_base_url.rstrip("/"),
        "jobs": alerting.jobs,
        "log_levels": LOG_LEVELS,
        "log_services": LOG_SERVICES,
        "attempt_span": ATTEMPT_SPAN,
    }


def provider_context(grafana: GrafanaSpec) -> dict[str, Any]:
    """What the Grafana dashboard provider file of the compose stack reads."""
    return {
        "folder_uid": grafana.folder_uid,
        "folder_title": grafana.folder_title,
        "container_dir": CONTAINER_DASHBOARDS_DIR,
    }
