"""harborhook-compose-check, the compose file validator built from scripts/compose-check: the
Compose Specification loader Docker Compose uses (compose-go), run without a Docker engine.

It accepts a valid file and prints the normalized model; it rejects schema errors, bad port
syntax, dangling references and (with --strict) unset variables, naming the problem.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import require_binary

COMPOSE_CHECK_INSTALL_HINT = "run scripts/bootstrap (builds it from scripts/compose-check)"

GOOD = """
    name: harborhook
    services:
      postgres:
        image: postgres:16.4
        healthcheck:
          test: ["CMD", "pg_isready", "-U", "postgres"]
          interval: 2s
        volumes:
          - pgdata:/var/lib/postgresql/data
      worker:
        image: harborhook:${HARBORHOOK_TAG:-dev}
        ports: ["127.0.0.1:${WORKER_METRICS_PORT}:9100"]
        volumes: ["./config/worker.toml:/etc/harborhook/worker.toml:ro"]
        secrets: [receiver_secret]
        depends_on:
          postgres: {condition: service_healthy}
    volumes:
      pgdata: {}
    secrets:
      receiver_secret:
        file: ./secrets/receiver_secret
"""


@pytest.fixture(scope="module")
def compose_check() -> str:
    return require_binary("harborhook-compose-check", COMPOSE_CHECK_INSTALL_HINT)


def run_check(
    binary: str, project: Path, text: str, *args: str
) -> subprocess.CompletedProcess[str]:
    compose_file = project / "docker-compose.yml"
    compose_file.write_text(textwrap.dedent(text))
    return subprocess.run(
        [binary, "-f", str(compose_file), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},  # nothing from the caller's environment interpolates
    )


def test_a_valid_file_prints_the_normalized_model(compose_check: str, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WORKER_METRICS_PORT=9101\n")

    result = run_check(compose_check, tmp_path, GOOD)

    assert result.returncode == 0, result.stderr
    model: dict[str, Any] = json.loads(result.stdout)
    assert model["name"] == "harborhook"
    worker = model["services"]["worker"]
    assert worker["image"] == "harborhook:dev"  # ${VAR:-default} interpolated
    assert worker["ports"] == [
        {
            "mode": "ingress",
            "host_ip": "127.0.0.1",
            "target": 9100,
            "published": "9101",  # from the project's .env
            "protocol": "tcp",
        }
    ]
    [bind] = worker["volumes"]
    assert bind["type"] == "bind"
    assert bind["source"] == str(tmp_path / "config/worker.toml")  # resolved, not checked
    assert bind["read_only"] is True
    assert worker["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert model["secrets"]["receiver_secret"]["file"] == str(tmp_path / "secrets/receiver_secret")


def test_env_file_replaces_the_project_env(compose_check: str, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WORKER_METRICS_PORT=9101\n")
    (tmp_path / "ci.env").write_text("WORKER_METRICS_PORT=9202\n")

    result = run_check(compose_check, tmp_path, GOOD, "--env-file", str(tmp_path / "ci.env"))
    quiet = run_check(compose_check, tmp_path, GOOD, "-q")

    assert result.returncode == 0, result.stderr
    [port] = json.loads(result.stdout)["services"]["worker"]["ports"]
    assert port["published"] == "9202"
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "", "")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param(
            """
            services:
              nsqd:
                image: nsqio/nsq:v1.3.0
                restart_policy: always
            """,
            "services.nsqd.restart_policy",
            id="unknown-key",
        ),
        pytest.param(
            """
            services:
              nsqd:
                image: nsqio/nsq:v1.3.0
                ports: ["127.0.0.1:41x51:4151"]
            """,
            "Invalid hostPort: 41x51",
            id="bad-port",
        ),
        pytest.param(
            """
            services:
              nsqd:
                image: nsqio/nsq:v1.3.0
                networks: [backend]
            """,
            "undefined network backend",
            id="undefined-network",
        ),
        pytest.param(
            """
            services:
              nsqd:
                image: nsqio/nsq:v1.3.0
                env_file: ./missing.env
            """,
            "missing.env not found",
            id="missing-env-file",
        ),
        pytest.param(
            """
            services:
              nsqd:
                 image: nsqio/nsq:v1.3.0
                ports: [
            """,
            "yaml:",
            id="not-yaml",
        ),
    ],
)
def test_an_invalid_file_is_rejected_with_its_reason(
    compose_check: str, tmp_path: Path, text: str, reason: str
) -> None:
    result = run_check(compose_check, tmp_path, text)

    assert result.returncode == 1
    assert result.stdout == ""
    assert reason in result.stderr
    assert result.stderr.startswith("compose-check: ")


def test_an_unset_variable_warns_and_fails_under_strict(compose_check: str, tmp_path: Path) -> None:
    text = """
        services:
          nsqd:
            image: nsqio/nsq:${NSQ_TAG}
    """
    warning = 'warning: The "NSQ_TAG" variable is not set. Defaulting to a blank string.'

    lenient = run_check(compose_check, tmp_path, text, "-q")
    strict = run_check(compose_check, tmp_path, text, "-q", "--strict")

    assert lenient.returncode == 0
    assert warning in lenient.stderr
    assert strict.returncode == 1
    assert warning in strict.stderr


def test_bad_usage_exits_2(compose_check: str, tmp_path: Path) -> None:
    result = run_check(compose_check, tmp_path, GOOD, "--format", "toml")

    assert result.returncode == 2
    assert "--format must be json or yaml" in result.stderr
