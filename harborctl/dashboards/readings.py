"""A dashboard's PromQL panels read from Prometheus, as Grafana would read them.

The queries are the generated dashboard's own (``Dashboard.targets()``), with the variables
substituted as Grafana does (``variables``): query variables ask Prometheus for their values
(``label_values``), in order, so ``$endpoint`` sees the chosen ``$tenant``. Instant targets
(stats, tables) are evaluated at the window's end; range targets (time series) over the
window with a step of ``$__interval``. Loki and Tempo panels are listed, not read.

What is kept of each answer is exactly what Prometheus returned (``result_type``, ``result``)
and the parameters it was asked with, so ``dashboards show --json`` can be checked against
Prometheus itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harborctl.dashboards.model import Dashboard, Panel
from harborctl.dashboards.prometheus import PrometheusClient
from harborctl.dashboards.variables import ALL, TimeVariables, dashboard_values, substitute


@dataclass(frozen=True)
class Window:
    """What is read: ``range_seconds`` up to unix time ``end``, ``points`` per series."""

    end: float
    range_seconds: float
    points: int
    scrape_seconds: float

    @property
    def time(self) -> TimeVariables:
        return TimeVariables.for_range(self.range_seconds, self.points, self.scrape_seconds)

    @property
    def start(self) -> float:
        return self.end - self.range_seconds

    @property
    def step(self) -> float:
        return self.time.interval_ms / 1000


@dataclass(frozen=True)
class TargetReading:
    ref_id: str
    legend: str
    query: str  # as sent: variables substituted
    instant: bool
    params: dict[str, float]  # time, or start/end/step
    result_type: str
    result: Any  # Prometheus' data.result, untouched


@dataclass(frozen=True)
class PanelReading:
    panel: Panel
    targets: tuple[TargetReading, ...] = ()
    skipped: str | None = None  # why it is not read (a Loki or Tempo panel)


@dataclass
class DashboardReading:
    dashboard: Dashboard
    window: Window
    variables: dict[str, str]  # as substituted into PromQL
    options: dict[str, list[str]]  # what each query variable offered
    panels: list[PanelReading] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        time = self.window.time
        return {
            "dashboard": {"uid": self.dashboard.uid, "title": self.dashboard.title},
            "time": {
                "end": self.window.end,
                "range_seconds": self.window.range_seconds,
                "step_seconds": self.window.step,
                **time.values(),
            },
            "variables": self.variables,
            "variable_options": self.options,
            "panels": [
                {
                    "id": reading.panel.id,
                    "title": reading.panel.title,
                    "type": reading.panel.type,
                    "unit": reading.panel.unit,
                    "skipped": reading.skipped,
                    "targets": [
                        {
                            "refId": t.ref_id,
                            "legend": t.legend,
                            "query": t.query,
                            "instant": t.instant,
                            "params": t.params,
                            "resultType": t.result_type,
                            "result": t.result,
                        }
                        for t in reading.targets
                    ],
                }
                for reading in self.panels
            ],
        }


def resolve_variables(
    client: PrometheusClient,
    dashboard: Dashboard,
    selections: Mapping[str, Sequence[str]],
    window: Window,
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The PromQL text of each variable, and what each query variable offered."""
    options: dict[str, list[str]] = {}
    for variable in dashboard.variables:
        if variable.type != "query":
            options[variable.name] = list(variable.options)
            continue
        so_far = dashboard_values(dashboard, selections, options, "promql")
        query = substitute(variable.query, {k: v for k, v in so_far.items() if k in options})
        options[variable.name] = client.variable_values(query, window.start, window.end)
    return dashboard_values(dashboard, selections, options, "promql"), options


def read_dashboard(
    client: PrometheusClient,
    dashboard: Dashboard,
    selections: Mapping[str, Sequence[str]],
    window: Window,
) -> DashboardReading:
    """Every Prometheus panel of ``dashboard`` read over ``window``."""
    chosen = {name: list(values) or [ALL] for name, values in selections.items()}
    values, options = resolve_variables(client, dashboard, chosen, window)
    reading = DashboardReading(dashboard, window, values, options)
    every = {**window.time.values(), **values}
    for panel in dashboard.panels:
        if not panel.targets or any(t.language != "promql" for t in panel.targets):
            kind = panel.targets[0].datasource.type if panel.targets else "no"
            reading.panels.append(PanelReading(panel, skipped=f"a {kind} panel"))
            continue
        targets = []
        for target in panel.targets:
            query = substitute(target.query, every)
            params: dict[str, float]
            if target.instant:
                params = {"time": window.end}
                answer = client.instant(query, window.end)
            else:
                params = {"start": window.start, "end": window.end, "step": window.step}
                answer = client.range(query, window.start, window.end, window.step)
            targets.append(
                TargetReading(
                    target.ref_id,
                    target.legend,
                    query,
                    target.instant,
                    params,
                    answer.result_type,
                    answer.result,
                )
            )
        reading.panels.append(PanelReading(panel, tuple(targets)))
    return reading
