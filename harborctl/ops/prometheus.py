"""prometheus.yml from ``templates/prometheus/prometheus.yml.j2``, and the stack's configs.

``render_prometheus_config`` is pure (jobs → YAML text); ``write_prometheus_config`` puts it
under ``<state_dir>/prometheus/``; ``prepare_stack_configs`` writes everything Prometheus and
Alertmanager need before ``harborctl up`` starts them (alert rules and alertmanager.yml come
from ``harborctl.alerting.generate`` when that module exists).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

from harborctl.ops.render import render_template, write_file
from harborctl.settings import Settings

log = logging.getLogger(__name__)

PROMETHEUS_TEMPLATE = "prometheus/prometheus.yml.j2"
JOB_INGEST = "ingest"
JOB_WORKER = "worker"
JOB_MONITOR = "monitor"

# alertmanager.yml when the alerting module is not there: valid, routes everything nowhere
MINIMAL_ALERTMANAGER_CONFIG = """\
# Minimal Alertmanager config written by harborctl up (no alert receivers configured).
route:
  receiver: "null"
receivers:
  - name: "null"
"""


def prometheus_dir(settings: Settings) -> Path:
    return settings.state_dir.expanduser().absolute() / "prometheus"


def rules_dir(settings: Settings) -> Path:
    return prometheus_dir(settings) / "rules"


def alertmanager_dir(settings: Settings) -> Path:
    return settings.state_dir.expanduser().absolute() / "alertmanager"


def host_port(url: str) -> tuple[str, str]:
    """(scheme, host:port) of an http(s) URL, for Prometheus' ``targets``."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme or "http", f"{parts.hostname}:{port}"


def render_prometheus_config(
    jobs: Mapping[str, Sequence[str]],
    *,
    rule_files: Sequence[str | Path] = (),
    alertmanager_urls: Sequence[str] = (),
    scrape_interval: str = "5s",
    evaluation_interval: str | None = None,
) -> str:
    """The YAML text: one scrape job per entry of ``jobs`` (job name → host:port targets)."""
    schemes = {host_port(url)[0] for url in alertmanager_urls}
    if len(schemes) > 1:
        raise ValueError("all Alertmanager URLs must use the same scheme")
    return render_template(
        PROMETHEUS_TEMPLATE,
        jobs={job: list(targets) for job, targets in jobs.items() if targets},
        rule_files=[str(pattern) for pattern in rule_files],
        alertmanagers=[host_port(url)[1] for url in alertmanager_urls],
        alertmanager_scheme=schemes.pop() if schemes else "http",
        scrape_interval=scrape_interval,
        scrape_timeout=scrape_interval,
        evaluation_interval=evaluation_interval or scrape_interval,
    )


def write_prometheus_config(
    settings: Settings,
    jobs: Mapping[str, Sequence[str]],
    *,
    alertmanager_urls: Sequence[str] = (),
) -> Path:
    """``<state_dir>/prometheus/prometheus.yml``, loading every ``rules/*.yml`` beside it."""
    directory = prometheus_dir(settings)
    rules_dir(settings).mkdir(parents=True, exist_ok=True)
    text = render_prometheus_config(
        jobs,
        rule_files=[rules_dir(settings) / "*.yml"],
        alertmanager_urls=alertmanager_urls,
        scrape_interval=settings.prometheus_scrape_interval,
    )
    return write_file(directory / "prometheus.yml", text)


def stack_scrape_jobs(settings: Settings, components: Sequence[str]) -> dict[str, list[str]]:
    """Scrape targets of the native stack's components (only those that run)."""

    def target(host: str, port: int) -> str:
        return f"{'127.0.0.1' if host in ('', '0.0.0.0') else host}:{port}"

    known = {
        JOB_INGEST: ("ingest", target(settings.ingest_host, settings.ingest_port)),
        JOB_WORKER: ("worker", target("127.0.0.1", settings.worker_metrics_port)),
        JOB_MONITOR: ("monitor", target(settings.monitor_host, settings.monitor_port)),
    }
    return {job: [address] for job, (name, address) in known.items() if name in components}


def write_alertmanager_config(settings: Settings) -> Path:
    """alertmanager.yml: the alerting module's when importable, else a minimal valid one."""
    generate = _alerting_generate()
    if generate is not None:
        path: Path = generate.write_alertmanager_config(settings)
        return path
    return write_file(alertmanager_dir(settings) / "alertmanager.yml", MINIMAL_ALERTMANAGER_CONFIG)


def write_rule_files(settings: Settings) -> list[Path]:
    """Alert and recording rules into ``<state_dir>/prometheus/rules/`` (none without them)."""
    generate = _alerting_generate()
    if generate is None:
        return []
    paths: list[Path] = list(generate.write_rule_files(settings))
    return paths


def _alerting_generate() -> ModuleType | None:
    try:
        module = importlib.import_module("harborctl.alerting.generate")
    except ImportError:
        return None
    return module


def prepare_stack_configs(
    settings: Settings, components: Sequence[str], alertmanager_url: str | None
) -> list[Path]:
    """Everything Prometheus and Alertmanager read at start; returns the files written."""
    written: list[Path] = []
    if "alertmanager" in components:
        alertmanager_dir(settings).joinpath("data").mkdir(parents=True, exist_ok=True)
        written.append(write_alertmanager_config(settings))
    if "prometheus" in components:
        prometheus_dir(settings).joinpath("data").mkdir(parents=True, exist_ok=True)
        written += write_rule_files(settings)
        written.append(
            write_prometheus_config(
                settings,
                stack_scrape_jobs(settings, components),
                alertmanager_urls=[alertmanager_url] if alertmanager_url else [],
            )
        )
    return written
