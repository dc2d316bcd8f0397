"""A real Alertmanager for tests (its receivers' stand-ins: ``tests.support.notify_receivers``).

    server = AlertmanagerServer(workdir, config_path)   # config written by harborctl
    server.start(); server.url; server.stop()

``alertmanager_server`` (session fixture, import it into your test module) runs one whose
``--config.file`` is ``<state_dir>/alertmanager/alertmanager.yml`` of its state dir, with
notification timings shortened through the ``alerting:`` spec in
``<state_dir>/harborhook.yaml`` (group_wait/group_interval 1s), so `harborctl alerts set-*`
run against that state dir reconfigure it for real. ``alerting`` (function fixture) is the
same session, left clean afterwards: every firing alert resolved, every silence expired,
every receiver removed. ``AlertingSession.harborctl(...)`` runs the CLI against it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import Result
from typer.testing import CliRunner

from harborctl.settings import Settings
from tests.support.services import ManagedProcess, free_port, require_binary

ALERTMANAGER_INSTALL_HINT = (
    "run scripts/bootstrap (installs the Debian package prometheus-alertmanager)"
)
BINARIES = ("prometheus-alertmanager", "alertmanager")
FAST_NOTIFY = {
    "group_wait": "1s",
    "group_interval": "1s",
    "repeat_page": "1h",
    "repeat_ticket": "1h",
    "resolve_timeout": "1m",
}


def alertmanager_binary() -> str:
    from tests.support.services import find_binary

    for name in BINARIES:
        found = find_binary(name)
        if found:
            return found
    return require_binary(BINARIES[0], ALERTMANAGER_INSTALL_HINT)


class AlertmanagerServer:
    """Alertmanager on 127.0.0.1, own storage dir, no cluster port."""

    def __init__(self, workdir: Path, config_path: Path, binary: str | None = None) -> None:
        self.binary = binary or alertmanager_binary()
        self.workdir = workdir
        self.config_path = config_path
        self.port = free_port()
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """Its log (logfmt, debug level): what `alerts send-test --log-file` reads."""
        return self.workdir / "alertmanager.log"

    def start(self) -> None:
        argv = [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]
        self.process = ManagedProcess("alertmanager", argv, self.log_path)
        self.process.start()
        self.process.wait_ready(
            lambda: httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        )

    def log_tail(self) -> str:
        return self.process.log_tail(60) if self.process else ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()


def write_test_spec(state_dir: Path, **alerting: Any) -> Path:
    """``<state_dir>/harborhook.yaml`` with fast notification timings (plus ``alerting``)."""
    spec = {"alerting": {"notify": FAST_NOTIFY, **alerting}}
    path = state_dir / "harborhook.yaml"
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return path


@dataclass
class AlertingSession:
    """The state dir the session's Alertmanager reads its config from."""

    state_dir: Path
    server: AlertmanagerServer

    @property
    def env(self) -> dict[str, str]:
        return {
            "HARBORHOOK_STATE_DIR": str(self.state_dir),
            "HARBORHOOK_CONFIG": str(self.state_dir / "harborhook.yaml"),
            "HARBORHOOK_ALERTMANAGER_URL": self.server.url,
            "HARBORHOOK_PROMETHEUS_URL": f"http://127.0.0.1:{free_port()}",  # none running
        }

    def settings(self) -> Settings:
        return Settings(state_dir=self.state_dir, alertmanager_url=self.server.url)

    def harborctl(self, *args: str, stdin: str | None = None) -> Result:
        """`harborctl ARGS` against this state dir and Alertmanager (in process)."""
        from harborctl.cli.app import app

        return CliRunner().invoke(app, list(args), env=self.env, input=stdin)

    def harborctl_json(self, *args: str, expect: int = 0) -> Any:
        """`harborctl ARGS --json`: its JSON, after checking the exit code."""
        result = self.harborctl(*args, "--json")
        assert result.exit_code == expect, (
            f"harborctl {' '.join(args)} exited {result.exit_code}: {result.output}\n"
            f"--- Alertmanager log ---\n{self.server.log_tail()}"
        )
        return json.loads(result.stdout)

    def send_test(self, *args: str, expect: int = 0, log: bool = True) -> dict[str, Any]:
        """`alerts send-test --json ARGS`, reading Alertmanager's log unless ``log`` is off."""
        extra = ("--log-file", str(self.server.log_path)) if log else ()
        data: dict[str, Any] = self.harborctl_json("alerts", "send-test", *extra, *args,
                                                   expect=expect)  # fmt: skip
        assert data["accepted"] is True
        return data

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.server.url + path, timeout=10, **kwargs)

    def reset(self) -> None:
        """Resolve every firing alert, expire every silence, remove every receiver."""
        now = datetime.now(UTC).isoformat()
        firing = self.api("GET", "/api/v2/alerts").json()
        if firing:
            resolved = [
                {"labels": a["labels"], "annotations": a["annotations"],
                 "startsAt": a["startsAt"], "endsAt": now}
                for a in firing
            ]  # fmt: skip
            assert self.api("POST", "/api/v2/alerts", json=resolved).status_code == 200
        for silence in self.api("GET", "/api/v2/silences").json():
            if silence["status"]["state"] != "expired":
                self.api("DELETE", f"/api/v2/silence/{silence['id']}")
        for row in self.harborctl_json("alerts", "receivers"):
            assert self.harborctl("alerts", "remove", row["name"]).exit_code == 0


@pytest.fixture(scope="session")
def alertmanager_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AlertingSession]:
    from harborctl.alerting.generate import write_alertmanager_config
    from harborctl.settings import load_settings

    binary = alertmanager_binary()
    state_dir = tmp_path_factory.mktemp("alerting-state")
    config = write_test_spec(state_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HARBORHOOK_CONFIG", str(config))
        settings = load_settings(state_dir=state_dir)
        write_alertmanager_config(settings)
    server = AlertmanagerServer(
        tmp_path_factory.mktemp("alertmanager"),
        settings.layout.alertmanager_config,
        binary,
    )
    try:
        server.start()
        yield AlertingSession(state_dir, server)
    finally:
        server.stop()


@pytest.fixture
def alerting(alertmanager_server: AlertingSession) -> Iterator[AlertingSession]:
    """The session's Alertmanager, reset afterwards (alerts resolved, silences expired,
    receivers removed)."""
    yield alertmanager_server
    alertmanager_server.reset()
