"""The compose stack through the Docker CLI, without a Docker engine: the argv it runs, the
parsing of `docker compose ps --format json` in both shapes compose has printed, and the
status built from it with each published service's own health endpoint."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harborctl.errors import EngineUnavailable, StackError
from harborctl.settings import Settings
from harborctl.stack.compose_file import deploy_dir
from harborctl.stack.compose_stack import (
    ComposeContainer,
    ComposeStack,
    Published,
    parse_compose_ps,
    service_status,
)

# as Compose v2.21+ prints them (one object per line); Publishers null when none
PS_LINES = [
    {
        "ID": "1f0c",
        "Name": "harborhook-ingest-1",
        "Image": "harborhook:dev",
        "Project": "harborhook",
        "Service": "ingest",
        "State": "running",
        "Status": "Up 2 minutes (healthy)",
        "Health": "healthy",
        "ExitCode": 0,
        "Publishers": [
            {"URL": "127.0.0.1", "TargetPort": 8080, "PublishedPort": 8080, "Protocol": "tcp"}
        ],
    },
    {
        "ID": "2a1b",
        "Name": "harborhook-worker-2",
        "Service": "worker",
        "State": "running",
        "Health": "starting",
        "ExitCode": 0,
        "Publishers": None,
    },
    {
        "ID": "3c2d",
        "Name": "harborhook-migrate-1",
        "Service": "migrate",
        "State": "exited",
        "Health": "",
        "ExitCode": 0,
        "Publishers": [],
    },
]


class Recorder:
    """Stands in for subprocess.run: records each call, answers ``stdout``."""

    def __init__(self, stdout: str = "", returncode: int = 0, stderr: str = "") -> None:
        self.calls: list[tuple[list[str], dict[str, Any]]] = []
        self.stdout, self.returncode, self.stderr = stdout, returncode, stderr

    def __call__(self, argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append((argv, kwargs))
        return subprocess.CompletedProcess(argv, self.returncode, self.stdout, self.stderr)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state")


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """Answers like the services: 200 on 127.0.0.1:8080/readyz, 503 elsewhere."""

    def answer(request: httpx.Request) -> httpx.Response:
        ok = request.url.host == "127.0.0.1" and request.url.port == 8080
        ok = ok and request.url.path == "/readyz"
        return httpx.Response(200 if ok else 503)

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        yield client


def _base(settings: Settings, overlay: bool) -> list[str]:
    files = ["-f", str(deploy_dir() / "docker-compose.yml")]
    if overlay:
        files += ["-f", str(settings.layout.compose_dir / "docker-compose.overlay.yml")]
    return ["docker", "compose", "--project-directory", str(deploy_dir()), *files]


def test_up_writes_the_overlay_and_runs_compose_up_with_the_workers(settings: Settings) -> None:
    run = Recorder()
    stack = ComposeStack(settings, run=run, engine=lambda: True)

    command = stack.up(workers=3)

    assert command == [*_base(settings, True), "up", "-d", "--build", "--wait"]
    [(argv, kwargs)] = run.calls
    assert argv == command
    assert kwargs["env"]["HARBORHOOK_WORKERS"] == "3"  # the worker service's replicas
    assert (settings.layout.compose_dir / "docker-compose.overlay.yml").exists()


def test_down_and_ps_use_the_overlay_only_once_it_exists(settings: Settings) -> None:
    run = Recorder()
    stack = ComposeStack(settings, run=run, engine=lambda: True)

    assert stack.down_argv(volumes=False) == [*_base(settings, False), "down"]
    assert stack.ps_argv() == [*_base(settings, False), "ps", "--all", "--format", "json"]
    stack.up()
    assert stack.down(volumes=True) == [*_base(settings, True), "down", "--volumes"]
    assert run.calls[-1][0][-2:] == ["down", "--volumes"]


def test_every_command_needs_an_engine(settings: Settings) -> None:
    run = Recorder()
    stack = ComposeStack(settings, run=run, engine=lambda: False)
    for command in (stack.up, stack.down, stack.status):
        with pytest.raises(EngineUnavailable, match="no Docker engine answers") as raised:
            command()
        assert raised.value.exit_code == 69
    assert run.calls == []
    assert not settings.layout.compose_dir.exists()  # nothing written either


def test_a_failing_compose_is_one_line_with_its_status(settings: Settings) -> None:
    run = Recorder(returncode=1, stderr="pulling...\nno such service: ingest\n")
    stack = ComposeStack(settings, run=run, engine=lambda: True)
    with pytest.raises(StackError, match=r"^docker compose ps exited 1: no such service"):
        stack.status()
    with pytest.raises(StackError, match=r"^docker compose down exited 1$"):
        stack.down()


def test_ps_json_lines_and_json_array_read_alike() -> None:
    lines = "\n".join(json.dumps(item) for item in PS_LINES) + "\n"
    array = json.dumps(PS_LINES, indent=2)

    assert parse_compose_ps(lines) == parse_compose_ps(array)
    ingest, worker, migrate = parse_compose_ps(lines)
    assert (ingest.name, ingest.service, ingest.state, ingest.health) == (
        "harborhook-ingest-1",
        "ingest",
        "running",
        "healthy",
    )
    assert ingest.published == (Published("127.0.0.1", 8080, 8080, "tcp"),)
    assert ingest.url_for(8080, "/readyz") == "http://127.0.0.1:8080/readyz"
    assert worker.published == () and worker.url_for(9101) is None
    assert (migrate.state, migrate.exit_code) == ("exited", 0)
    assert parse_compose_ps("") == parse_compose_ps("[]") == []


@pytest.mark.parametrize("text", ["not json", '{"Name": "x"}', '"running"', "[1, 2]"])
def test_output_that_is_not_ps_json_is_a_stack_error(text: str) -> None:
    with pytest.raises(StackError, match="docker compose ps"):
        parse_compose_ps(text)


def test_status_asks_docker_then_each_published_health_endpoint(
    settings: Settings, http: httpx.Client
) -> None:
    ingest, worker, migrate = parse_compose_ps(json.dumps(PS_LINES))

    row = service_status(ingest, http)
    assert (row.healthy, row.health, row.url) == (True, "ok", "http://127.0.0.1:8080")
    assert service_status(worker, http).health == "healthcheck starting"
    assert not service_status(worker, http).healthy
    assert (service_status(migrate, http).healthy, service_status(migrate, http).health) == (
        True,
        "done",
    )
    prometheus = ComposeContainer(
        "harborhook-prometheus-1",
        "prometheus",
        "running",
        "healthy",
        published=(Published("127.0.0.1", 19090, 9090),),
    )
    row = service_status(prometheus, http)
    assert not row.healthy and row.health == "http://127.0.0.1:19090/-/ready: HTTP 503"
    stopped = ComposeContainer("harborhook-nsqd-1", "nsqd", "exited", exit_code=137)
    assert (service_status(stopped, http).healthy, service_status(stopped, http).health) == (
        False,
        "exited",
    )


def test_status_of_the_whole_stack(settings: Settings) -> None:
    healthy = [{**item, "Health": "healthy"} for item in PS_LINES[1:]]  # no published port
    run = Recorder(stdout="\n".join(json.dumps(item) for item in healthy))
    current = ComposeStack(settings, run=run, engine=lambda: True).status()

    assert current.running and current.healthy
    assert [s.service for s in current.services] == ["worker", "migrate"]
    assert current.to_dict()["mode"] == "compose"
    empty = ComposeStack(settings, run=Recorder(stdout=""), engine=lambda: True).status()
    assert not empty.running and not empty.healthy
