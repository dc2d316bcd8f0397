"""The ``slo:`` and ``alerting:`` sections of the HarborHook config, with working defaults.

Example (every key optional)::

    slo:
      delivery_success_objective: 0.99   # 99% of deliveries end delivered ...
      window: 30d                        # ... over 30 days
      latency_p99_seconds: 60            # p99 accepted -> delivered
    alerting:
      backlog_high: 10000
      backlog_growth_per_minute: 100
      dlq_spike: 20
      runbook_base_url: https://github.com/acme/harborhook/blob/main/docs/runbooks
      for: {worker_down: 2m}
      notify: {group_wait: 30s, repeat_page: 1h}
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_DURATION = re.compile(r"^((\d+)(ms|s|m|h|d|w|y))+$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _check_duration(value: str) -> str:
    if not _DURATION.match(value):
        raise ValueError(f"{value!r} is not a Prometheus duration (e.g. 30s, 5m, 1h30m, 30d)")
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]


def is_duration(value: str) -> bool:
    """Whether ``value`` is a Prometheus duration (``30s``, ``1h30m``)."""
    return bool(_DURATION.match(value))


def duration_seconds(value: str) -> float:
    """Seconds in a Prometheus duration string (``1h30m`` → 5400)."""
    return sum(
        int(amount) * _UNIT_SECONDS[unit]
        for amount, unit in re.findall(r"(\d+)(ms|s|m|h|d|w|y)", value)
    )


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SloSpec(_Model):
    """Service level objectives the rules are derived from."""

    delivery_success_objective: float = Field(default=0.99, gt=0.0, lt=1.0)
    window: Duration = "30d"
    # which final delivery statuses count against the objective ("failed" = every failed attempt)
    bad_statuses: tuple[Literal["dead", "failed"], ...] = Field(default=("dead",), min_length=1)
    latency_p99_seconds: float = Field(default=60.0, gt=0)  # event accepted -> delivered

    @property
    def bad_regex(self) -> str:
        """The ``status`` regex of deliveries that count against the objective (``dead``)."""
        return "|".join(sorted(set(self.bad_statuses)))

    @property
    def outcome_regex(self) -> str:
        """The ``status`` regex of every final outcome the SLI divides by (``dead|delivered``)."""
        return "|".join(sorted({"delivered", *self.bad_statuses}))

    @property
    def error_budget(self) -> float:
        """The share of deliveries allowed to go bad: 1 - objective (0.01 for 99%)."""
        return round(1.0 - self.delivery_success_objective, 12)


class ForDurations(_Model):
    """How long a condition must hold before its alert fires (tests shorten these)."""

    burn_page: Duration = "0s"  # the short window already guards against flapping
    burn_ticket: Duration = "0s"
    backlog_high: Duration = "10m"
    backlog_growing: Duration = "15m"
    dlq_spike: Duration = "0s"
    circuit_open: Duration = "5m"
    latency: Duration = "10m"
    ingest_down: Duration = "2m"
    worker_down: Duration = "2m"
    monitor_down: Duration = "2m"
    target_missing: Duration = "5m"
    rule_failures: Duration = "0s"
    notifications_failing: Duration = "0s"
    stalled: Duration = "10m"


class NotifySpec(_Model):
    """Alertmanager grouping and timing."""

    group_by: tuple[str, ...] = ("alertname", "area", "test_id")
    group_wait: Duration = "30s"
    group_interval: Duration = "5m"
    repeat_page: Duration = "1h"
    repeat_ticket: Duration = "12h"
    resolve_timeout: Duration = "5m"


class JobNames(_Model):
    """Prometheus ``job`` labels of the scraped HarborHook services."""

    ingest: str = Field(default="ingest", min_length=1)
    worker: str = Field(default="worker", min_length=1)
    monitor: str = Field(default="monitor", min_length=1)  # the backlog monitor
    prometheus: str = Field(default="prometheus", min_length=1)  # Prometheus scraping itself
    alertmanager: str = Field(default="alertmanager", min_length=1)

    def expected(self) -> tuple[str, ...]:
        """Every job that must have a scrape target (HarborHookTargetMissing)."""
        return (self.ingest, self.worker, self.monitor, self.prometheus, self.alertmanager)


class AlertingSpec(_Model):
    """Thresholds, durations, notification timing and links for the generated alerts."""

    backlog_high: int = Field(default=10_000, ge=1)  # messages waiting + held by workers
    backlog_growth_per_minute: float = Field(default=100.0, gt=0)
    dlq_spike: int = Field(default=20, ge=1)  # dead deliveries within dlq_spike_window
    dlq_spike_window: Duration = "10m"
    stalled_window: Duration = "10m"
    rule_interval: Duration = "30s"
    runbook_base_url: str = "docs/runbooks"
    jobs: JobNames = JobNames()
    for_: ForDurations = Field(default=ForDurations(), alias="for")
    notify: NotifySpec = NotifySpec()


# SRE Workbook, "Alerting on SLOs", table 5-8: (severity, long window, short window, burn rate)
BurnSeverity = Literal["page", "ticket"]


@dataclass(frozen=True)
class BurnWindow:
    severity: BurnSeverity
    long: str
    short: str
    factor: float

    @property
    def alert_name(self) -> str:
        """The alert that fires when both windows burn faster than ``factor``."""
        return BURN_ALERT_NAMES[self.severity]


BURN_ALERT_NAMES: dict[BurnSeverity, str] = {
    "page": "HarborHookErrorBudgetBurnFast",
    "ticket": "HarborHookErrorBudgetBurnSlow",
}


BURN_WINDOWS: tuple[BurnWindow, ...] = (
    BurnWindow("page", "1h", "5m", 14.4),
    BurnWindow("page", "6h", "30m", 6.0),
    BurnWindow("ticket", "1d", "2h", 3.0),
    BurnWindow("ticket", "3d", "6h", 1.0),
)
RATIO_WINDOWS: tuple[str, ...] = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def burn_threshold(slo: SloSpec, window: BurnWindow) -> float:
    """The error ratio at which ``window`` fires: burn rate x error budget."""
    return round(window.factor * (1.0 - slo.delivery_success_objective), 12)


def number_text(value: float) -> str:
    """A threshold as PromQL and people read it: 0.144, 60, 0.5 (no float noise)."""
    return f"{value:.10g}"


def percent_text(value: float) -> str:
    """A ratio as a percentage: 0.99 -> ``99%``."""
    return f"{value * 100:.6g}%"
