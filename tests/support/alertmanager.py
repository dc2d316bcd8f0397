"""A real Alertmanager for tests, and local recorders for what it sends (HTTP and SMTP).

    server = AlertmanagerServer(workdir, config_path)   # config written by harborctl
    server.start(); server.url; server.stop()

``alertmanager_server`` (session fixture, import it into your test module) runs one whose
``--config.file`` is ``<state_dir>/alertmanager/alertmanager.yml`` of ``ALERTING_STATE``'s
state dir, with notification timings shortened through the ``alerting:`` spec in
``<state_dir>/harborhook.yaml`` (group_wait/group_interval 1s), so `harborctl alerts set-*`
run against that state dir reconfigure it for real.
"""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from aiohttp import web

from harborctl.settings import Settings
from tests.support.aio_server import serving
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

    def start(self) -> None:
        argv = [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]
        self.process = ManagedProcess("alertmanager", argv, self.workdir / "alertmanager.log")
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


# --- recorders ------------------------------------------------------------------------------


@dataclass
class HttpRecorder:
    """Every JSON body POSTed to it, by path."""

    url: str = ""
    received: list[tuple[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self, path: str) -> list[Any]:
        with self.lock:
            return [body for got_path, body in self.received if got_path == path]


@pytest.fixture
def http_recorder() -> Iterator[HttpRecorder]:
    recorder = HttpRecorder()

    async def record(request: web.Request) -> web.Response:
        body = await request.json()
        with recorder.lock:
            recorder.received.append((request.path, body))
        return web.Response(text="ok")  # Slack answers "ok"

    app = web.Application()
    app.router.add_post("/{tail:.*}", record)
    with serving(app) as url:
        recorder.url = url
        yield recorder


@dataclass
class SmtpRecorder:
    host: str
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    @property
    def smarthost(self) -> str:
        return f"{self.host}:{self.port}"


@pytest.fixture
def smtp_recorder() -> Iterator[SmtpRecorder]:
    from aiosmtpd.controller import Controller

    recorder = SmtpRecorder("127.0.0.1", free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            recorder.messages.append(message)  # type: ignore[arg-type]
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname=recorder.host, port=recorder.port)
    controller.start()
    try:
        yield recorder
    finally:
        controller.stop()
