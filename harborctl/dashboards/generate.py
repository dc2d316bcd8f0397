"""Render the dashboards from ``templates/grafana/`` and write them.

``render_dashboards`` renders each template through ``harborctl.render`` (StrictUndefined),
parses the text as JSON, checks the model (``model.dashboard_problems``: panel ids, grid,
datasource uids, variables, links; ``queries.query_problems``: LogQL and TraceQL syntax) and
answers the dashboards as JSON objects. ``dashboard_text`` is how one is written (two-space
indent, keys in template order, a final newline), so the committed copies under
``deploy/docker/grafana/dashboards`` and a fresh render compare byte for byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborctl.alerting_spec import AlertingSpec, SloSpec
from harborctl.dashboards.inputs import (
    DASHBOARDS,
    PROVIDER_FILE,
    PROVIDER_TEMPLATE,
    DashboardFile,
    dashboards_context,
    datasource_refs,
    provider_context,
)
from harborctl.dashboards.model import Dashboard, dashboard_problems, parse_dashboard
from harborctl.dashboards.queries import query_problems
from harborctl.errors import ConfigError
from harborctl.grafana_spec import GrafanaSpec
from harborctl.render import render_template, write_file


@dataclass(frozen=True)
class RenderedDashboard:
    file: DashboardFile
    json: dict[str, Any]
    model: Dashboard

    @property
    def text(self) -> str:
        return dashboard_text(self.json)


def dashboard_text(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def provisioned_datasources(grafana: GrafanaSpec) -> dict[str, str]:
    """uid → type of the datasources the dashboards may reference."""
    return {ref["uid"]: ref["type"] for ref in datasource_refs(grafana).values()}


def render_dashboards(
    slo: SloSpec, alerting: AlertingSpec, grafana: GrafanaSpec
) -> list[RenderedDashboard]:
    """Every dashboard of ``inputs.DASHBOARDS``, checked; ConfigError listing the problems."""
    context = dashboards_context(slo, alerting, grafana)
    rendered = []
    for file in DASHBOARDS:
        text = render_template(file.template, **context)
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"template {file.template}", f"not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"template {file.template}", "renders something not a JSON object")
        rendered.append(RenderedDashboard(file, data, parse_dashboard(data)))
    uids = [r.model.uid for r in rendered]
    problems: list[str] = []
    for item in rendered:
        if item.model.uid != item.file.uid:
            problems.append(f"{item.file.template}: uid {item.model.uid!r} != {item.file.uid!r}")
        problems += dashboard_problems(item.model, provisioned_datasources(grafana), uids)
        problems += query_problems(item.model)
    if problems:
        raise ConfigError("dashboards", "; ".join(problems))
    return rendered


def render_provider(grafana: GrafanaSpec) -> str:
    """The Grafana dashboard provider file of the compose stack."""
    return render_template(PROVIDER_TEMPLATE, **provider_context(grafana))


def write_dashboards(directory: Path, dashboards: list[RenderedDashboard]) -> list[Path]:
    """Write each dashboard as ``<uid>.json`` under ``directory`` (atomically)."""
    return [write_file(directory / d.file.file_name, d.text) for d in dashboards]


def write_provider(directory: Path, grafana: GrafanaSpec) -> Path:
    return write_file(directory / PROVIDER_FILE, render_provider(grafana))
