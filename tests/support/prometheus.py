"""A real Prometheus for tests: config from the project's template, fast scrapes.

    server = PrometheusServer(workdir)
    server.start({"worker": ["127.0.0.1:9101"]}, rule_files=[...], alertmanager_url=...)
    server.query('sum(harborhook_deliveries_total)')   # prometheus-api-client
    server.reconfigure(targets=...); server.reload()
    server.stop()

``prometheus_server`` (session fixture, import it into your test module) starts one with no
targets; tests call ``reconfigure`` to point it at what they run. Scrape and rule evaluation
intervals are ``SCRAPE_INTERVAL`` (1s).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_api_client import PrometheusConnect

from harborctl.render import write_file
from harborctl.stack.prometheus import render_prometheus_config
from tests.support.services import ManagedProcess, free_port, require_binary
from tests.support.wait import wait_until

PROMETHEUS_INSTALL_HINT = "run scripts/bootstrap (installs the Debian package prometheus)"
SCRAPE_INTERVAL = "1s"


class PrometheusServer:
    """/usr/bin/prometheus on 127.0.0.1, own tsdb dir, ``--web.enable-lifecycle``."""

    def __init__(self, workdir: Path, binary: str | None = None) -> None:
        self.binary = binary or require_binary("prometheus", PROMETHEUS_INSTALL_HINT)
        self.workdir = workdir
        self.port = free_port()
        self.config_path = workdir / "prometheus.yml"
        self.process: ManagedProcess | None = None
        self.targets: dict[str, list[str]] = {}
        self.rule_files: list[Path] = []
        self.alertmanager_url: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> PrometheusConnect:
        return PrometheusConnect(url=self.url, disable_ssl=True)

    def write_config(self) -> Path:
        text = render_prometheus_config(
            self.targets,
            rule_files=self.rule_files,
            alertmanager_urls=[self.alertmanager_url] if self.alertmanager_url else [],
            scrape_interval=SCRAPE_INTERVAL,
        )
        return write_file(self.config_path, text)

    def start(
        self,
        targets: Mapping[str, Sequence[str]] | None = None,
        rule_files: Sequence[Path] = (),
        alertmanager_url: str | None = None,
    ) -> None:
        self.targets = {job: list(t) for job, t in (targets or {}).items()}
        self.rule_files = list(rule_files)
        self.alertmanager_url = alertmanager_url
        self.write_config()
        argv = [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-lifecycle",
            "--enable-feature=exemplar-storage",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ]
        self.process = ManagedProcess("prometheus", argv, self.workdir / "prometheus.log")
        self.process.start()
        self.process.wait_ready(
            lambda: httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        )

    def reconfigure(
        self,
        targets: Mapping[str, Sequence[str]] | None = None,
        rule_files: Sequence[Path] | None = None,
        alertmanager_url: str | None = None,
    ) -> None:
        """Rewrite the config (only what is given changes) and reload it."""
        if targets is not None:
            self.targets = {job: list(t) for job, t in targets.items()}
        if rule_files is not None:
            self.rule_files = list(rule_files)
        if alertmanager_url is not None:
            self.alertmanager_url = alertmanager_url
        self.write_config()
        self.reload()

    def reload(self) -> None:
        """POST /-/reload; raises when Prometheus refuses the config."""
        answer = httpx.post(f"{self.url}/-/reload", timeout=10)
        assert answer.status_code == 200, f"reload refused: {answer.text}"

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Instant query through prometheus-api-client: ``[{metric: {...}, value: [t, v]}]``."""
        result: list[dict[str, Any]] = self.api.custom_query(promql)
        return result

    def value(self, promql: str) -> float | None:
        """The single value of a query that returns at most one series."""
        result = self.query(promql)
        assert len(result) <= 1, f"{promql} returned {len(result)} series"
        return float(result[0]["value"][1]) if result else None

    def active_targets(self) -> list[dict[str, Any]]:
        answer = httpx.get(f"{self.url}/api/v1/targets", timeout=5)
        answer.raise_for_status()
        targets: list[dict[str, Any]] = answer.json()["data"]["activeTargets"]
        return targets

    def wait_targets_up(self, timeout: float = 30) -> None:
        """Until every configured target has been scraped successfully."""
        expected = sum(len(t) for t in self.targets.values())

        def all_up() -> bool:
            targets = self.active_targets()
            return len(targets) == expected and all(t["health"] == "up" for t in targets)

        wait_until(
            all_up,
            timeout,
            interval=0.2,
            describe=lambda: f"all scrape targets up; saw {self.active_targets()}",
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


@pytest.fixture(scope="session")
def prometheus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = PrometheusServer(tmp_path_factory.mktemp("prometheus"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
