"""prometheus.yml from ``templates/prometheus/prometheus.yml.j2``.

``render_prometheus_config`` is pure (jobs → YAML text); ``write_prometheus_config`` puts it
at ``<state_dir>/prometheus/prometheus.yml``, loading every rule file of ``rules/`` beside
it; ``stack_scrape_jobs`` names the native stack's targets: HarborHook's processes, and
Prometheus and Alertmanager themselves, so that the alerts on missing data
(HarborHookTargetMissing, HarborHookRuleEvaluationFailures, HarborHookNotificationsFailing)
see them. The job names are the ``alerting.jobs`` the rules select on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from harborctl.render import render_template, write_file
from harborctl.settings import Settings

PROMETHEUS_TEMPLATE = "prometheus/prometheus.yml.j2"
LOOPBACK = "127.0.0.1"


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
    dns_jobs: Mapping[str, tuple[str, int]] | None = None,
) -> str:
    """The YAML text: one scrape job per entry of ``jobs`` (job name → host:port targets),
    then one per entry of ``dns_jobs`` (job name → (DNS name, port)): every address the name
    resolves to is a target (``dns_sd_configs``, type A; the compose stack's worker replicas
    all answer to the service name)."""
    schemes = {host_port(url)[0] for url in alertmanager_urls}
    if len(schemes) > 1:
        raise ValueError("all Alertmanager URLs must use the same scheme")
    return render_template(
        PROMETHEUS_TEMPLATE,
        jobs={job: list(targets) for job, targets in jobs.items() if targets},
        dns_jobs=dict(dns_jobs or {}),
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
    layout = settings.layout
    layout.rules_dir.mkdir(parents=True, exist_ok=True)
    text = render_prometheus_config(
        jobs,
        rule_files=[layout.rules_dir / "*.yml"],
        alertmanager_urls=alertmanager_urls,
        scrape_interval=settings.prometheus_scrape_interval,
    )
    return write_file(layout.prometheus_config, text)


def stack_scrape_jobs(
    settings: Settings, components: Sequence[str], worker_metrics_ports: Sequence[int] = ()
) -> dict[str, list[str]]:
    """Job name -> scrape targets of each native stack component that runs and serves
    /metrics: ingest, worker, monitor, prometheus (itself) and alertmanager; the worker job
    gets one target per port of ``worker_metrics_ports`` when given (``up --workers N``)."""

    def target(host: str, port: int) -> str:
        return f"{LOOPBACK if host in ('', '0.0.0.0') else host}:{port}"

    jobs = settings.alerting.jobs
    known = {
        "ingest": (jobs.ingest, target(settings.ingest_host, settings.ingest_port)),
        "worker": (jobs.worker, target(LOOPBACK, settings.worker_metrics_port)),
        "monitor": (jobs.monitor, target(settings.monitor_host, settings.monitor_port)),
        "prometheus": (jobs.prometheus, target(LOOPBACK, settings.prometheus_port)),
        "alertmanager": (jobs.alertmanager, target(LOOPBACK, settings.alertmanager_port)),
    }
    scraped = {job: [address] for name, (job, address) in known.items() if name in components}
    if worker_metrics_ports:
        scraped[jobs.worker] = [target(LOOPBACK, port) for port in worker_metrics_ports]
    return scraped
