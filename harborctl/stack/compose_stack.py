"""The compose stack run through the Docker CLI: ``harborctl up/down/status --mode compose``.

``ComposeStack(settings).up(workers=N)`` writes your overlay (``compose_overlay``) and runs
``docker compose ... up -d --build --wait`` with ``HARBORHOOK_WORKERS=N`` (the worker
service's replicas); ``down(volumes=...)`` runs ``docker compose ... down [--volumes]``;
``status()`` reads ``docker compose ... ps --all --format json`` and probes each service's
own health endpoint where the compose file publishes it on 127.0.0.1. Every command needs a
Docker engine: ``EngineUnavailable`` (one line, exit 69) when ``docker info`` gets no answer.

``parse_compose_ps`` reads both shapes ``docker compose ps --format json`` has printed: one
JSON object per line (Compose v2.21 and later) and one JSON array (earlier v2 releases), each
object with ``Name``, ``Service``, ``State`` (running, exited, ...), ``Health`` (healthy,
unhealthy, starting, or empty without a healthcheck), ``ExitCode`` and ``Publishers``
(``[{"URL", "TargetPort", "PublishedPort", "Protocol"}]``, null in some versions). Source:
https://docs.docker.com/reference/cli/docker/compose/ps/ and Compose's ``cmd/formatter``.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from harborctl.errors import EngineUnavailable, StackError
from harborctl.settings import Settings
from harborctl.stack.compose import docker_engine_reachable
from harborctl.stack.compose_overlay import OVERLAY_FILE, compose_argv, write_overlay

WORKERS_VARIABLE = "HARBORHOOK_WORKERS"  # the worker service's replicas in the compose file
# the health endpoint of each service the compose file publishes: (container port, path),
# the same endpoints as the services' healthchecks in templates/compose/docker-compose.yml.j2
HEALTH_PATHS: Mapping[str, tuple[int, str]] = {
    "ingest": (8080, "/readyz"),
    "nsqadmin": (4171, "/ping"),
    "prometheus": (9090, "/-/ready"),
    "alertmanager": (9093, "/-/ready"),
    "grafana": (3000, "/api/health"),
    "loki": (3100, "/ready"),
    "tempo": (3200, "/ready"),
}
# services that run once and exit 0 when done (the database migration before ingest)
ONE_SHOT_SERVICES = frozenset({"migrate"})
NO_ENGINE = (
    "no Docker engine answers (`docker info` failed): start Docker, "
    "or run `harborctl up --mode native`"
)

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


@dataclass(frozen=True)
class Published:
    host: str
    published_port: int
    target_port: int
    protocol: str = "tcp"


@dataclass(frozen=True)
class ComposeContainer:
    """One row of ``docker compose ps --format json``."""

    name: str
    service: str
    state: str
    health: str = ""
    exit_code: int = 0
    published: tuple[Published, ...] = ()

    def url_for(self, target_port: int, path: str = "") -> str | None:
        """``http://host:published<path>`` for a published ``target_port``, else None."""
        for port in self.published:
            if port.target_port == target_port and port.published_port:
                host = port.host if port.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
                return f"http://{host}:{port.published_port}{path}"
        return None


def _container(item: Any) -> ComposeContainer:
    if not isinstance(item, dict) or "Service" not in item:
        raise StackError(f"docker compose ps: not a container: {str(item)[:80]}")
    publishers = item.get("Publishers") or []
    return ComposeContainer(
        name=str(item.get("Name") or item["Service"]),
        service=str(item["Service"]),
        state=str(item.get("State") or "").lower(),
        health=str(item.get("Health") or "").lower(),
        exit_code=int(item.get("ExitCode") or 0),
        published=tuple(
            Published(
                host=str(p.get("URL") or ""),
                published_port=int(p.get("PublishedPort") or 0),
                target_port=int(p.get("TargetPort") or 0),
                protocol=str(p.get("Protocol") or "tcp"),
            )
            for p in publishers
            if isinstance(p, dict)
        ),
    )


def parse_compose_ps(text: str) -> list[ComposeContainer]:
    """The containers of ``docker compose ps --format json`` output (either shape; module
    docstring); [] for empty output. StackError when it is not that JSON."""
    stripped = text.strip()
    if not stripped:
        return []
    try:
        if stripped.startswith("["):
            items = json.loads(stripped)
        else:
            items = [json.loads(line) for line in stripped.splitlines() if line.strip()]
    except ValueError as exc:
        raise StackError(f"docker compose ps printed no JSON: {exc}") from exc
    if not isinstance(items, list):
        raise StackError("docker compose ps: expected a JSON array or JSON lines")
    return [_container(item) for item in items]


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    service: str
    state: str
    healthy: bool
    health: str
    url: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ComposeStatus:
    services: tuple[ServiceStatus, ...]

    @property
    def running(self) -> bool:
        return any(s.state == "running" for s in self.services)

    @property
    def healthy(self) -> bool:
        return self.running and all(s.healthy for s in self.services)

    def to_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "mode": "compose",
            "healthy": self.healthy,
            "services": [s.to_dict() for s in self.services],
        }


def service_status(container: ComposeContainer, http: httpx.Client) -> ServiceStatus:
    """Docker's view (state, healthcheck), then the service's own health endpoint when it is
    published."""
    port, path = HEALTH_PATHS.get(container.service, (0, ""))
    url = container.url_for(port, path) if port else None
    shown = (container.url_for(port) if port else None) or ""

    def row(healthy: bool, health: str) -> ServiceStatus:
        return ServiceStatus(
            container.name, container.service, container.state, healthy, health, shown
        )

    if container.service in ONE_SHOT_SERVICES and container.state == "exited":
        done = container.exit_code == 0
        return row(done, "done" if done else f"exited {container.exit_code}")
    if container.state != "running":
        return row(False, container.state or "unknown")
    if container.health not in ("", "healthy"):
        return row(False, f"healthcheck {container.health}")
    if url is None:
        return row(True, container.health or "running")
    try:
        answer = http.get(url)
    except httpx.HTTPError as exc:
        return row(False, f"{url}: {type(exc).__name__}")
    if answer.status_code != 200:
        return row(False, f"{url}: HTTP {answer.status_code}")
    return row(True, "ok")


class ComposeStack:
    """The compose stack of ``deploy/docker`` with your overlay, through ``docker compose``.

    ``run`` is ``subprocess.run`` (a stand-in in tests); ``engine`` says whether a Docker
    engine answers.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        run: Runner = subprocess.run,
        engine: Callable[[], bool] = docker_engine_reachable,
    ) -> None:
        self.settings = settings
        self.run = run
        self.engine = engine

    @property
    def has_overlay(self) -> bool:
        return (self.settings.layout.compose_dir / OVERLAY_FILE).exists()

    def up_argv(self) -> list[str]:
        return compose_argv(self.settings, "up", "-d", "--build", "--wait")

    def down_argv(self, *, volumes: bool) -> list[str]:
        extra = ("--volumes",) if volumes else ()
        return compose_argv(self.settings, "down", *extra, overlay=self.has_overlay)

    def ps_argv(self) -> list[str]:
        return compose_argv(
            self.settings, "ps", "--all", "--format", "json", overlay=self.has_overlay
        )

    def require_engine(self) -> None:
        if not self.engine():
            raise EngineUnavailable(NO_ENGINE)

    def up(self, *, workers: int = 1) -> list[str]:
        """Write the overlay, start every service and wait until each is healthy (compose's
        ``--wait``); returns the command run. StackError when compose fails."""
        self.require_engine()
        write_overlay(self.settings)
        argv = self.up_argv()
        self._run(argv, "up", {WORKERS_VARIABLE: str(workers)})
        return argv

    def down(self, *, volumes: bool = False) -> list[str]:
        """Stop and remove the containers (and the named volumes with ``volumes``)."""
        self.require_engine()
        argv = self.down_argv(volumes=volumes)
        self._run(argv, "down")
        return argv

    def status(self) -> ComposeStatus:
        self.require_engine()
        result = self._run(self.ps_argv(), "ps", capture=True)
        containers = parse_compose_ps(result.stdout)
        with httpx.Client(timeout=httpx.Timeout(2.0), trust_env=False) as http:
            return ComposeStatus(tuple(service_status(c, http) for c in containers))

    def _run(
        self,
        argv: Sequence[str],
        verb: str,
        env: Mapping[str, str] | None = None,
        *,
        capture: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        try:
            result = self.run(
                list(argv),
                env={**os.environ, **(env or {})},
                stdin=subprocess.DEVNULL,
                capture_output=capture,
                text=True,
                check=False,
            )
        except OSError as exc:
            raise StackError(f"could not run {argv[0]}: {exc}") from exc
        if result.returncode != 0:
            detail = (result.stderr or "").strip().splitlines()[-1:] if capture else []
            reason = f": {detail[0]}" if detail else ""
            raise StackError(f"docker compose {verb} exited {result.returncode}{reason}")
        return result
