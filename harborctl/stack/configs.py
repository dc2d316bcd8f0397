"""The files Prometheus, Alertmanager and Jaeger read when ``harborctl up`` starts them.

One writer for each file: alertmanager.yml and the rule files come from
``harborctl.alerting.generate`` (checked with amtool/promtool when installed),
prometheus.yml from ``harborctl.stack.prometheus``, the Grafana dashboards (generated files
only on the native stack: ``harborctl dashboards show`` draws them) from
``harborctl.dashboards.generate``, jaeger.yaml from ``harborctl.stack.jaeger``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from harborctl.alerting.generate import write_alertmanager_config, write_rule_files
from harborctl.dashboards.generate import render_dashboards, write_dashboards
from harborctl.settings import Settings
from harborctl.stack.jaeger import jaeger_ports, write_jaeger_config
from harborctl.stack.prometheus import stack_scrape_jobs, write_prometheus_config


def prepare_stack_configs(
    settings: Settings,
    components: Sequence[str],
    alertmanager_url: str | None,
    worker_metrics_ports: Sequence[int] = (),
) -> list[Path]:
    """Everything Prometheus, Alertmanager and Jaeger read at start; returns the files
    written (``worker_metrics_ports``: every worker's, when the stack runs several)."""
    layout = settings.layout
    written: list[Path] = []
    if "jaeger" in components:
        written.append(write_jaeger_config(layout, jaeger_ports(settings)))
    if "alertmanager" in components:
        layout.alertmanager_data_dir.mkdir(parents=True, exist_ok=True)
        written.append(write_alertmanager_config(settings))
    if "prometheus" in components:
        layout.prometheus_data_dir.mkdir(parents=True, exist_ok=True)
        written += write_rule_files(settings)
        written += write_dashboards(
            layout.dashboards_dir,
            render_dashboards(settings.slo, settings.alerting, settings.grafana),
        )
        written.append(
            write_prometheus_config(
                settings,
                stack_scrape_jobs(settings, components, worker_metrics_ports),
                alertmanager_urls=[alertmanager_url] if alertmanager_url else [],
            )
        )
    return written
