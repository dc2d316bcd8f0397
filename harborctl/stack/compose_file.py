"""The compose stack's generated files under ``deploy/docker/``, from the built-in defaults.

::

    docker-compose.yml              templates/compose/docker-compose.yml.j2
    prometheus/prometheus.yml       harborctl.stack.prometheus, with the compose targets
    prometheus/rules/*.yml          harborctl.alerting.rules, from the default slo/alerting spec
    alertmanager/alertmanager.yml   harborctl.alerting.alertmanager, with no receivers

They are committed: ``harborctl compose generate`` rewrites them, and a test fails when the
committed copies differ from what this module renders. The hand-written configs beside them
(Loki, Promtail, Tempo, Grafana's datasources) and the dashboards (``harborctl dashboards
generate --compose``) are mounted as they are. An operator's own receivers and alerting
config go on top in an overlay (``harborctl.stack.compose_overlay``).

Images are pinned to exact versions (no ``latest``). Every HarborHook service runs the image
the ``Dockerfile`` builds; inside the project's network the services reach each other by
service name (the ports below are the container ports; only those in ``HOST_PORTS`` are
published, on 127.0.0.1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import harborctl
from harborctl.alerting.alertmanager import (
    AnyReceiver,
    build_alertmanager_config,
    dump_alertmanager_config,
)
from harborctl.alerting.rules import render_rule_files
from harborctl.alerting_spec import AlertingSpec, JobNames, NotifySpec, SloSpec
from harborctl.render import render_template, write_file
from harborctl.settings import Settings
from harborctl.stack.compose import compose_file
from harborctl.stack.prometheus import render_prometheus_config

COMPOSE_TEMPLATE = "compose/docker-compose.yml.j2"
COMPOSE_FILE = "docker-compose.yml"
PROMETHEUS_CONFIG = "prometheus/prometheus.yml"
RULES_DIR = "prometheus/rules"
ALERTMANAGER_CONFIG = "alertmanager/alertmanager.yml"

IMAGES: Mapping[str, str] = {
    "harborhook": f"harborhook:{harborctl.__version__}",  # built from the Dockerfile
    "nsq": "nsqio/nsq:v1.3.0",  # the NSQ version scripts/nsq builds for the native stack
    "postgres": "postgres:16.4",
    "prometheus": "prom/prometheus:v2.53.2",
    "alertmanager": "prom/alertmanager:v0.27.0",  # 0.26 and later read webhook url_file
    "grafana": "grafana/grafana:11.2.0",
    "loki": "grafana/loki:3.1.1",
    "promtail": "grafana/promtail:3.1.1",
    "tempo": "grafana/tempo:2.6.1",
}


def _default(name: str) -> object:
    return Settings.model_fields[name].default


# Container ports of HarborHook's processes: the settings' defaults
INGEST_PORT = int(str(_default("ingest_port")))
WORKER_METRICS_PORT = int(str(_default("worker_metrics_port")))
MONITOR_PORT = int(str(_default("monitor_port")))
SCRAPE_INTERVAL = str(_default("prometheus_scrape_interval"))
# The worker drains in-flight deliveries for worker_shutdown_grace seconds after SIGTERM;
# Docker waits that long plus a margin before SIGKILL.
WORKER_STOP_GRACE = f"{int(float(str(_default('worker_shutdown_grace')))) + 5}s"

# Published on 127.0.0.1 (host port = container port)
HOST_PORTS: Mapping[str, int] = {
    "ingest": INGEST_PORT,
    "nsqadmin": 4171,
    "prometheus": 9090,
    "alertmanager": 9093,
    "grafana": 3000,
    "loki": 3100,
    "tempo": 3200,
}


@dataclass(frozen=True)
class ContainerPaths:
    """Where the services see the generated files (the mount targets)."""

    prometheus_config: str = "/etc/prometheus/prometheus.yml"
    prometheus_rules: str = "/etc/prometheus/rules"
    alertmanager_config: str = "/etc/alertmanager/alertmanager.yml"
    alertmanager_data: str = "/alertmanager"
    grafana_dashboards: str = "/var/lib/grafana/dashboards/harborhook"
    secrets: str = "/run/secrets"  # compose secrets (Compose Specification, services.secrets)


PATHS = ContainerPaths()
ALERTMANAGER_URL = "http://alertmanager:9093"
# The healthcheck of HarborHook's containers: exits non-zero unless the URL answers 2xx/3xx
PROBE = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=3)"


def deploy_dir() -> Path:
    """``deploy/docker`` of the source checkout."""
    return compose_file().parent


def receiver_secret_name(receiver: str) -> str:
    """The compose secret holding receiver ``receiver``'s secret file."""
    return f"harborhook-receiver-{receiver}"


# --- rendering (pure) ------------------------------------------------------------------------


def render_compose_file() -> str:
    """The text of ``docker-compose.yml``."""
    return render_template(
        COMPOSE_TEMPLATE,
        images=IMAGES,
        ports={
            **HOST_PORTS,
            "worker_metrics": WORKER_METRICS_PORT,
            "monitor": MONITOR_PORT,
        },
        paths=PATHS,
        probe=PROBE,
        worker_stop_grace=WORKER_STOP_GRACE,
    )


def compose_scrape_jobs(jobs: JobNames) -> tuple[dict[str, list[str]], dict[str, tuple[str, int]]]:
    """(static jobs, DNS jobs) of the compose stack's Prometheus, named as the rules select
    them: every worker replica answers to the service name ``worker``."""
    static = {
        jobs.ingest: [f"ingest:{INGEST_PORT}"],
        jobs.monitor: [f"monitor:{MONITOR_PORT}"],
        jobs.prometheus: ["localhost:9090"],
        jobs.alertmanager: ["alertmanager:9093"],
    }
    return static, {jobs.worker: ("worker", WORKER_METRICS_PORT)}


def render_compose_prometheus(alerting: AlertingSpec, scrape_interval: str) -> str:
    """The compose stack's prometheus.yml: its targets, the rule files where they are mounted."""
    static, dns = compose_scrape_jobs(alerting.jobs)
    return render_prometheus_config(
        static,
        dns_jobs=dns,
        rule_files=[f"{PATHS.prometheus_rules}/*.yml"],
        alertmanager_urls=[ALERTMANAGER_URL],
        scrape_interval=scrape_interval,
    )


def render_compose_alertmanager(
    notify: NotifySpec, receivers: Sequence[AnyReceiver], header: str
) -> str:
    """alertmanager.yml for the compose stack: every secret read from the compose secret of
    its receiver (``/run/secrets/harborhook-receiver-<name>``), webhook URLs included
    (the image's Alertmanager reads ``url_file``)."""
    secret_files = {r.name: Path(PATHS.secrets) / receiver_secret_name(r.name) for r in receivers}
    config = build_alertmanager_config(
        notify, receivers, secret_files, secrets={}, webhook_url_file=True
    )
    comment = "".join(f"# {line}".rstrip() + "\n" for line in header.strip().splitlines())
    return comment + dump_alertmanager_config(config)


BASE_ALERTMANAGER_HEADER = """
Alertmanager config of the compose stack, from the built-in defaults: no receivers, so
every alert ends in `blackhole`. Generated by `harborctl compose generate`; do not edit.
Receivers set with `harborctl alerts set-*` reach the stack through
`harborctl compose overlay`.
"""


def render_compose_files(
    slo: SloSpec, alerting: AlertingSpec, scrape_interval: str
) -> dict[str, str]:
    """Path under ``deploy/docker`` → text, for every generated file of the stack."""
    files = {
        COMPOSE_FILE: render_compose_file(),
        PROMETHEUS_CONFIG: render_compose_prometheus(alerting, scrape_interval),
        ALERTMANAGER_CONFIG: render_compose_alertmanager(
            alerting.notify, (), BASE_ALERTMANAGER_HEADER
        ),
    }
    for name, text in render_rule_files(slo, alerting).items():
        files[f"{RULES_DIR}/{name}"] = text
    return files


def default_compose_files() -> dict[str, str]:
    """The committed set: rendered from the built-in defaults, whatever the local config."""
    return render_compose_files(SloSpec(), AlertingSpec(), SCRAPE_INTERVAL)


# --- writing ---------------------------------------------------------------------------------


def write_compose_files(directory: Path, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` under ``directory``; rule files no longer rendered are removed."""
    rules = directory / RULES_DIR
    wanted = {directory / name for name in files}
    if rules.is_dir():
        for stale in rules.glob("*.yml"):
            if stale not in wanted:
                with suppress(FileNotFoundError):
                    stale.unlink()
    return [write_file(directory / name, text) for name, text in files.items()]
