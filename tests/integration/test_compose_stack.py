"""The compose stack checked as far as it goes without a Docker engine, with real tools: the
Compose Specification loader Docker Compose uses (harborhook-compose-check), promtool and
amtool on the configs as the containers see them, Grafana's provisioning, and the image's
install step run outside Docker.

Every check is also shown to fail: a copy of the stack is broken one way at a time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harborctl.alerting.receivers import EmailReceiver, SlackReceiver, WebhookReceiver
from harborctl.alerting.store import dump_receivers
from harborctl.cli.app import app
from harborctl.stack.compose_check import check_compose, load_compose_model
from tests.support.services import require_binary

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "docker"
COMPOSE = DEPLOY / "docker-compose.yml"
HINT = "run scripts/bootstrap"
HARBORHOOK_SERVICES = ("migrate", "ingest", "worker", "monitor")

runner = CliRunner()


@pytest.fixture(autouse=True)
def tools() -> None:
    """The checks below must run, not be skipped: every tool they use is required."""
    require_binary("harborhook-compose-check", HINT)
    require_binary("promtool", HINT)
    require_binary("amtool", HINT)


@pytest.fixture
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("HARBORHOOK_CONFIG", "HARBORHOOK_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    state = tmp_path / "state"
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(state))
    return state


def checks(output: str) -> dict[str, dict[str, Any]]:
    body = json.loads(output)
    return {check["check"]: check for check in body["checks"]}


# --- the committed stack -----------------------------------------------------------------------


def test_the_committed_stack_passes_every_check(state_dir: Path) -> None:
    result = runner.invoke(app, ["compose", "check", "--no-overlay", "--json"])

    assert result.exit_code == 0, result.output
    found = checks(result.output)
    assert list(found) == [
        "compose file",
        "images",
        "ports",
        "mounts",
        "start order",
        "prometheus",
        "alertmanager",
        "grafana",
    ]
    assert all(c["ok"] and c["skipped"] is None for c in found.values()), found
    assert found["prometheus"]["detail"] == "5 scrape jobs, 2 rule files"
    assert json.loads(result.output)["files"] == [str(COMPOSE)]


def test_the_model_starts_in_order_and_talks_by_service_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HARBORHOOK_WORKERS", "3")

    model = load_compose_model([COMPOSE], DEPLOY)

    services = model["services"]
    assert services["worker"]["deploy"]["replicas"] == 3

    def waits_for(name: str) -> dict[str, str]:
        return {dep: how["condition"] for dep, how in services[name]["depends_on"].items()}

    assert waits_for("migrate") == {"postgres": "service_healthy"}
    for name in ("ingest", "worker", "monitor"):
        assert waits_for(name)["migrate"] == "service_completed_successfully"
    assert waits_for("ingest")["nsqd"] == "service_healthy"
    assert waits_for("nsqd") == {"nsqlookupd": "service_healthy"}
    assert waits_for("promtail") == {"loki": "service_healthy"}
    assert services["migrate"]["command"] == ["run", "migrate"]
    assert services["migrate"]["restart"] == "no"
    for name in HARBORHOOK_SERVICES:
        service = services[name]
        assert service["image"] == f"harborhook:{_version()}"
        assert service["build"]["context"] == str(REPO)
        env = service["environment"]
        assert env["HARBORHOOK_OTLP_ENDPOINT"] == "http://tempo:4318"
        assert env["HARBORHOOK_DATABASE_URL"] == "postgresql://harborhook@postgres:5432/harborhook"
        assert json.loads(env["HARBORHOOK_NSQD_TCP_ADDRESSES"]) == ["nsqd:4150"]
        assert json.loads(env["HARBORHOOK_NSQLOOKUPD_HTTP_ADDRESSES"]) == ["nsqlookupd:4161"]
        assert env["HARBORHOOK_LOG_TO_FILE"] == "false"
    published = {
        name: sorted(int(p["published"]) for p in service.get("ports", []))
        for name, service in services.items()
        if service.get("ports")
    }
    assert published == {
        "ingest": [8080],
        "nsqadmin": [4171],
        "prometheus": [9090],
        "alertmanager": [9093],
        "grafana": [3000],
        "loki": [3100],
        "tempo": [3200],
    }
    volumes = set(model["volumes"])
    assert {"postgres-data", "nsqd-data", "prometheus-data", "grafana-data"} <= volumes


def _version() -> str:
    import harborctl

    return harborctl.__version__


# --- the overlay with your receivers --------------------------------------------------------


SECRETS = {
    "oncall": "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
    "mail": "smtp-password-secret",
    "hook": "https://example.com/hook?token=webhook-secret",
}


def configure_receivers(state: Path) -> None:
    """Receivers as `harborctl alerts set-*` leaves them: receivers.yaml, 0600 secret files."""
    receivers = [
        SlackReceiver(name="oncall", channel="#ops"),
        EmailReceiver.model_validate(
            {
                "name": "mail",
                "to": "ops@example.com",
                "from": "hh@example.com",
                "smarthost": "smtp.example.com:587",
                "username": "hh",
                "has_password": True,
            }
        ),
        WebhookReceiver(name="hook"),
    ]
    secrets = state / "alerting" / "secrets"
    secrets.mkdir(parents=True)
    os.chmod(secrets, 0o700)
    (state / "alerting" / "receivers.yaml").write_text(dump_receivers(receivers))
    for name, secret in SECRETS.items():
        path = secrets / name
        path.write_text(secret)
        os.chmod(path, 0o600)


def test_the_overlay_mounts_your_receivers_secrets_and_passes_every_check(
    state_dir: Path,
) -> None:
    configure_receivers(state_dir)

    written = runner.invoke(app, ["compose", "overlay", "--json"])
    checked = runner.invoke(app, ["compose", "check", "--json"])

    assert written.exit_code == 0, written.output
    overlay = json.loads(written.output)
    assert overlay["overlay"] == str(state_dir / "compose" / "docker-compose.overlay.yml")
    assert overlay["command"][-4:] == ["up", "-d", "--build", "--wait"]
    assert checked.exit_code == 0, checked.output
    found = checks(checked.output)
    assert all(c["ok"] and c["skipped"] is None for c in found.values()), found
    assert found["alertmanager"]["detail"] == "4 receivers, 3 secrets mounted"
    assert json.loads(checked.output)["files"] == [str(COMPOSE), overlay["overlay"]]

    model = load_compose_model([COMPOSE, Path(overlay["overlay"])], DEPLOY)
    alertmanager = model["services"]["alertmanager"]
    assert alertmanager["user"] == f"{os.getuid()}:{os.getgid()}"
    assert {s["target"] for s in alertmanager["secrets"]} == {
        f"/run/secrets/harborhook-receiver-{name}" for name in SECRETS
    }
    assert {name: s["file"] for name, s in model["secrets"].items()} == {
        f"harborhook-receiver-{name}": str(state_dir / "alerting" / "secrets" / name)
        for name in SECRETS
    }
    mounts = {v["target"]: v["source"] for v in alertmanager["volumes"]}
    assert mounts["/etc/alertmanager/alertmanager.yml"] == str(
        state_dir / "compose" / "alertmanager" / "alertmanager.yml"
    )
    # the overlay replaced the committed mounts (same target), it did not add to them
    assert len(alertmanager["volumes"]) == 2
    prometheus_mounts = {
        v["target"]: v["source"] for v in model["services"]["prometheus"]["volumes"]
    }
    assert prometheus_mounts["/etc/prometheus/rules"] == str(state_dir / "compose/prometheus/rules")

    # no secret anywhere but in its own file
    everything = json.dumps(model) + written.output + checked.output
    for path in (state_dir / "compose").rglob("*"):
        if path.is_file():
            everything += path.read_text()
    for secret in SECRETS.values():
        assert secret not in everything


# --- each check fails when its rule is broken -------------------------------------------------


def copy_of_the_stack(root: Path) -> Path:
    """The parts of the checkout the compose file reads, under ``root``."""
    shutil.copytree(DEPLOY, root / "deploy" / "docker")
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copyfile(REPO / name, root / name)
    return root / "deploy" / "docker"


BREAKAGES = [
    pytest.param(
        "docker-compose.yml",
        "restart_policy",
        "compose file",
        "restart_policy",
        id="schema",
    ),
    pytest.param(
        "docker-compose.yml",
        "prom/prometheus:v2.53.2",
        "images",
        "is not pinned",
        id="latest-image",
    ),
    pytest.param(
        "docker-compose.yml",
        '"127.0.0.1:9090:9090"',
        "ports",
        "not 127.0.0.1",
        id="port-on-every-interface",
    ),
    pytest.param("loki/loki.yaml", None, "mounts", "does not exist", id="missing-mount"),
    pytest.param(
        "docker-compose.yml",
        'restart: "no"',
        "start order",
        "which restarts",
        id="one-shot-restarts",
    ),
    pytest.param(
        "prometheus/rules/harborhook-slo.yml",
        "expr:",
        "prometheus",
        "promtool check config",
        id="bad-promql",
    ),
    pytest.param(
        "prometheus/prometheus.yml",
        '"ingest:8080"',
        "prometheus",
        "no service of the stack",
        id="unknown-scrape-target",
    ),
    pytest.param(
        "alertmanager/alertmanager.yml",
        "receiver: blackhole",
        "alertmanager",
        "amtool",
        id="undefined-receiver",
    ),
    pytest.param(
        "grafana/dashboards/broken.json", None, "grafana", "uid nowhere", id="unknown-uid"
    ),
]
REPLACEMENTS = {
    "restart_policy": ("    restart: unless-stopped\n", "    restart_policy: unless-stopped\n"),
    "prom/prometheus:v2.53.2": ("prom/prometheus:v2.53.2", "prom/prometheus:latest"),
    '"127.0.0.1:9090:9090"': ('"127.0.0.1:9090:9090"', '"9090:9090"'),
    'restart: "no"': ('restart: "no"', "restart: on-failure"),
    "expr:": ("expr: ", "expr: sum(rate(x[5m]) "),
    '"ingest:8080"': ('"ingest:8080"', '"ingestt:8080"'),
    "receiver: blackhole": ("  receiver: blackhole\n", "  receiver: nobody\n"),
}


@pytest.mark.parametrize(("relative", "change", "check", "message"), BREAKAGES)
def test_each_check_catches_what_it_is_for(
    tmp_path: Path, relative: str, change: str | None, check: str, message: str
) -> None:
    deploy = copy_of_the_stack(tmp_path)
    path = deploy / relative
    if relative == "loki/loki.yaml":
        path.unlink()
    elif relative.endswith("broken.json"):
        path.write_text(json.dumps({"panels": [{"datasource": {"uid": "nowhere"}}]}))
    else:
        assert change is not None
        old, new = REPLACEMENTS[change]
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))

    results = {
        r.name: r for r in check_compose([deploy / "docker-compose.yml"], deploy, [tmp_path])
    }

    assert not results[check].ok, results[check]
    assert any(message in problem for problem in results[check].problems), results[check]
    assert [name for name, r in results.items() if not r.ok] == [check]


def test_the_same_copy_unbroken_passes(tmp_path: Path) -> None:
    deploy = copy_of_the_stack(tmp_path)
    results = check_compose([deploy / "docker-compose.yml"], deploy, [tmp_path])
    assert [(r.name, r.problems) for r in results if not r.ok] == []


# --- the image's install step, outside Docker ------------------------------------------------


@pytest.mark.slow
def test_the_image_install_step_gives_a_working_harborctl(tmp_path: Path) -> None:
    """What the Dockerfile copies (all .dockerignore lets in), installed as it does it
    (pip install -e in the copy; dependencies from this environment): harborctl runs, finds
    its templates beside the package and migrates a database."""
    context = tmp_path / "opt" / "harborhook"
    context.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPO / name, context / name)
    for name in ("harborctl", "templates"):
        shutil.copytree(REPO / name, context / name, ignore=shutil.ignore_patterns("__pycache__"))
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    env = {
        k: v for k, v in os.environ.items() if k != "PYTHONPATH" and not k.startswith("HARBORHOOK_")
    }
    env["PYTHONNOUSERSITE"] = "1"

    def run(*argv: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=tmp_path,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    installed = run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--no-deps",
        "-e",
        str(context),
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    where = run(str(python), "-c", "import harborctl.render as r; print(r.templates_dir())")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()) == context / "templates"
    database = tmp_path / "hh.db"
    migrated = run(
        str(tmp_path / "venv" / "bin" / "harborctl"),
        "run",
        "migrate",
        HARBORHOOK_DATABASE_URL=f"sqlite:///{database}",
        HARBORHOOK_STATE_DIR=str(tmp_path / "state"),
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "database migrated" in migrated.stdout
    assert database.exists()
