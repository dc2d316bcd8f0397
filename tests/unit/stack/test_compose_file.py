"""The compose stack's files as rendered (committed copies in step with the code), the overlay
with your receivers, the Dockerfile, and the checks on a compose model, each shown to catch
what it is for on a small model of its own."""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from harborctl.alerting.receivers import EmailReceiver, SlackReceiver, WebhookReceiver
from harborctl.settings import Settings
from harborctl.stack.compose_check import (
    Mirror,
    datasource_uids_in,
    grafana_problems,
    image_problems,
    mount_problems,
    port_problems,
    start_order_problems,
)
from harborctl.stack.compose_file import (
    IMAGES,
    RULES_DIR,
    default_compose_files,
    deploy_dir,
    write_compose_files,
)
from harborctl.stack.compose_overlay import (
    OVERLAY_FILE,
    compose_argv,
    render_overlay,
    write_overlay,
)
from harborctl.stack.prometheus import render_prometheus_config

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy" / "docker"


# --- the committed files ---------------------------------------------------------------------


def test_the_committed_files_are_what_the_code_renders() -> None:
    """Fix a failure with `harborctl compose generate` (after changing a template, the
    alerting spec defaults or the images), and commit the result."""
    files = default_compose_files()
    assert deploy_dir() == DEPLOY
    for name, text in files.items():
        path = DEPLOY / name
        assert path.exists(), f"{path} is missing: run `harborctl compose generate`"
        assert path.read_text() == text, f"{path} differs: run `harborctl compose generate`"
    committed_rules = {p.name for p in (DEPLOY / RULES_DIR).glob("*.yml")}
    assert committed_rules == {Path(n).name for n in files if n.startswith(RULES_DIR)}


def test_generate_writes_the_same_set_and_removes_stale_rules(tmp_path: Path) -> None:
    stale = tmp_path / RULES_DIR / "renamed.yml"
    stale.parent.mkdir(parents=True)
    stale.write_text("groups: []\n")

    written = write_compose_files(tmp_path, default_compose_files())

    assert not stale.exists()
    assert {p.relative_to(tmp_path).as_posix() for p in written} == set(default_compose_files())


def test_the_compose_file_pins_every_image_and_publishes_on_loopback_only() -> None:
    document = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = document["services"]
    assert document["name"] == "harborhook"
    assert set(services) == {
        "nsqlookupd",
        "nsqd",
        "nsqadmin",
        "postgres",
        "migrate",
        "ingest",
        "worker",
        "monitor",
        "prometheus",
        "alertmanager",
        "grafana",
        "loki",
        "promtail",
        "tempo",
    }
    images = {service["image"] for service in services.values()}
    assert images == set(IMAGES.values())
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert "latest" not in text
    assert not re.search(r"\bsleep\b", text)


def test_prometheus_finds_every_worker_replica_by_the_service_name() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {"ingest", "worker", "monitor", "prometheus", "alertmanager"}
    assert jobs["worker"]["dns_sd_configs"] == [
        {"names": ["worker"], "type": "A", "port": 9101, "refresh_interval": "5s"}
    ]
    assert jobs["ingest"]["static_configs"] == [{"targets": ["ingest:8080"]}]
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"] == [
        {"targets": ["alertmanager:9093"]}
    ]


def test_dns_jobs_come_after_the_static_ones() -> None:
    config = yaml.safe_load(
        render_prometheus_config({"ingest": ["ingest:8080"]}, dns_jobs={"w": ("worker", 9)})
    )
    assert [job["job_name"] for job in config["scrape_configs"]] == ["ingest", "w"]
    assert config["scrape_configs"][1]["dns_sd_configs"][0]["names"] == ["worker"]


def test_the_committed_alertmanager_config_has_no_receiver_but_blackhole() -> None:
    config = yaml.safe_load((DEPLOY / "alertmanager/alertmanager.yml").read_text())
    assert config["receivers"] == [{"name": "blackhole"}]


# --- the overlay -------------------------------------------------------------------------------


SECRETS = {
    "oncall": "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
    "mail": "smtp-password-secret",
    "hook": "https://example.com/hook?token=webhook-secret",
}


def receivers() -> list[Any]:
    return [
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


def test_the_overlay_names_each_secret_file_and_never_its_content(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path / "state")
    secret_files = {name: tmp_path / "secrets" / name for name in SECRETS}

    overlay = render_overlay(settings, receivers(), secret_files, uid=1234, gid=5678)

    for text in overlay.files.values():
        for secret in SECRETS.values():
            assert secret not in text
    compose = yaml.safe_load(overlay.files[OVERLAY_FILE])
    assert compose["secrets"] == {
        f"harborhook-receiver-{name}": {"file": str(path)} for name, path in secret_files.items()
    }
    alertmanager = compose["services"]["alertmanager"]
    assert alertmanager["user"] == "1234:5678"
    assert sorted(alertmanager["secrets"]) == sorted(compose["secrets"])
    targets = {v["target"]: v for v in alertmanager["volumes"]}
    assert targets["/etc/alertmanager/alertmanager.yml"]["source"] == str(
        settings.layout.compose_dir / "alertmanager/alertmanager.yml"
    )
    assert targets["/alertmanager"]["read_only"] is False
    config = yaml.safe_load(overlay.files["alertmanager/alertmanager.yml"])
    by_name = {r["name"]: r for r in config["receivers"]}
    assert by_name["oncall"]["slack_configs"][0]["api_url_file"] == (
        "/run/secrets/harborhook-receiver-oncall"
    )
    assert by_name["mail"]["email_configs"][0]["auth_password_file"] == (
        "/run/secrets/harborhook-receiver-mail"
    )
    assert by_name["hook"]["webhook_configs"][0] == {
        "url_file": "/run/secrets/harborhook-receiver-hook",
        "send_resolved": True,
    }


def test_the_overlay_follows_the_alerting_config(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path,
        alerting={"jobs": {"worker": "hh-worker"}, "backlog_high": 77},
        prometheus_scrape_interval="15s",
    )

    overlay = render_overlay(settings, [], {}, uid=1, gid=1)

    prometheus = yaml.safe_load(overlay.files["prometheus/prometheus.yml"])
    assert prometheus["global"]["scrape_interval"] == "15s"
    assert "hh-worker" in {job["job_name"] for job in prometheus["scrape_configs"]}
    assert "77" in overlay.files["prometheus/rules/harborhook-operations.yml"]
    assert "secrets" not in yaml.safe_load(overlay.files[OVERLAY_FILE])


def test_write_overlay_keeps_alertmanager_yml_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARBORHOOK_CONFIG", raising=False)
    settings = Settings(state_dir=tmp_path)

    overlay = write_overlay(settings)

    config = overlay.directory / "alertmanager/alertmanager.yml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert (overlay.directory / "alertmanager/data").is_dir()
    assert overlay.compose_file.exists()
    argv = compose_argv(settings, "up", "-d")
    assert argv[:4] == ["docker", "compose", "--project-directory", str(DEPLOY)]
    assert argv[4:] == [
        "-f",
        str(DEPLOY / "docker-compose.yml"),
        "-f",
        str(overlay.compose_file),
        "up",
        "-d",
    ]


# --- the Dockerfile ----------------------------------------------------------------------------


def dockerfile() -> list[str]:
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_the_image_is_slim_python_run_as_a_user_with_a_healthcheck() -> None:
    lines = dockerfile()
    [base] = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", base), base
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    entry = next(i for i, line in enumerate(lines) if line.startswith("ENTRYPOINT "))
    assert max(i for i, line in enumerate(lines) if line.startswith("USER ")) < entry
    [health] = [line for line in lines if line.startswith("HEALTHCHECK ")]
    assert "/readyz" in health
    assert any(line.startswith("RUN pip install -e .") for line in lines)


def test_dockerignore_lets_in_what_the_dockerfile_copies() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*"  # everything else (tests, .git, state) stays out
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    copied = [
        source.rstrip("/")
        for line in dockerfile()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    ]
    assert copied and set(copied) <= allowed
    assert {"pyproject.toml", "harborctl", "templates"} <= set(copied)


# --- the checks, on small models ---------------------------------------------------------------


def service(**fields: Any) -> dict[str, Any]:
    return {"image": "example/app:1.2.3", **fields}


@pytest.mark.parametrize(
    ("image", "pinned"),
    [
        ("nsqio/nsq:v1.3.0", True),
        ("python:3.11.10-slim-bookworm", True),
        ("postgres:16.4", True),
        ("harborhook:0.1.0", True),
        ("registry.local:5000/team/app:2.0.1", True),
        ("prom/prometheus:latest", False),
        ("prom/prometheus", False),
        ("registry.local:5000/team/app", False),
        ("grafana/grafana:main", False),
        ("postgres:16", False),
    ],
)
def test_images_must_carry_a_version(image: str, pinned: bool) -> None:
    problems = image_problems({"services": {"s": service(image=image)}})
    assert (problems == []) is pinned, problems


def test_a_port_on_every_interface_is_refused() -> None:
    model = {
        "services": {
            "good": service(ports=[{"host_ip": "127.0.0.1", "published": "80", "target": 80}]),
            "bad": service(ports=[{"published": "81", "target": 81}]),
            "worse": service(ports=[{"host_ip": "0.0.0.0", "published": "82", "target": 82}]),
        }
    }
    problems = port_problems(model)
    assert len(problems) == 2
    assert problems[0].startswith("bad: port 81->81 is published on every interface")
    assert "0.0.0.0" in problems[1]


def test_mounts_must_exist_under_the_roots(tmp_path: Path) -> None:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "conf.yml").write_text("x: 1\n")
    (tmp_path / "elsewhere.yml").write_text("x: 1\n")

    def bind(source: Path | str) -> dict[str, Any]:
        return {"type": "bind", "source": str(source), "target": "/etc/x"}

    model = {
        "services": {
            "ok": service(volumes=[bind(tmp_path / "repo/conf.yml"), bind("/var/run/docker.sock")]),
            "missing": service(volumes=[bind(tmp_path / "repo/gone.yml")]),
            "outside": service(volumes=[bind(tmp_path / "elsewhere.yml")]),
            "built": service(build={"context": str(tmp_path / "repo"), "dockerfile": "Dockerfile"}),
        },
        "secrets": {"s": {"file": str(tmp_path / "repo/missing-secret")}},
    }
    problems = mount_problems(model, [tmp_path / "repo"])
    assert any(p.startswith("missing: mounted path") and "does not exist" in p for p in problems)
    assert any(p.startswith("outside: mounted path") and "is outside" in p for p in problems)
    assert any(p.startswith("built: Dockerfile") for p in problems)
    assert any(p.startswith("secret s: file") for p in problems)
    assert not any(p.startswith("ok:") for p in problems)


def test_start_order_needs_healthchecks_one_shots_and_no_sleeps() -> None:
    healthy = {"test": ["CMD", "true"], "interval": "5s"}
    model = {
        "services": {
            "db": service(healthcheck=healthy),
            "nohealth": service(),
            "disabled": service(healthcheck={"disable": True}),
            "once": service(restart="no", command=["run", "migrate"]),
            "forever": service(restart="unless-stopped"),
            "app": service(
                depends_on={
                    "db": {"condition": "service_healthy"},
                    "once": {"condition": "service_completed_successfully"},
                }
            ),
            "bad": service(
                depends_on={
                    "nohealth": {"condition": "service_healthy"},
                    "disabled": {"condition": "service_healthy"},
                    "forever": {"condition": "service_completed_successfully"},
                    "ghost": {"condition": "service_started"},
                },
                command=["sh", "-c", "sleep 10 && run"],
            ),
        }
    }
    problems = start_order_problems(model)
    assert not any(p.startswith("app:") for p in problems)
    assert sorted(p.split(":")[0] for p in problems) == ["bad"] * 5
    joined = "\n".join(problems)
    assert "nohealth to be healthy, which has no healthcheck" in joined
    assert "disabled to be healthy, which has no healthcheck" in joined
    assert "forever to complete, which restarts (unless-stopped)" in joined
    assert "ghost, which is no service" in joined
    assert "sleeps" in joined


def test_the_mirror_rewrites_mounted_paths_only() -> None:
    mirror = Mirror(Path("/tmp/m"), ["/etc/prometheus/rules", "/run/secrets/a"])
    text = (
        'rule_files: ["/etc/prometheus/rules/*.yml"]\n'
        "api_url_file: /run/secrets/a\n"
        "other: /run/secrets/ab\n"
        "kept: /etc/prometheus/rulesets\n"
    )
    assert mirror.rewrite(text) == (
        'rule_files: ["/tmp/m/etc/prometheus/rules/*.yml"]\n'
        "api_url_file: /tmp/m/run/secrets/a\n"
        "other: /run/secrets/ab\n"
        "kept: /etc/prometheus/rulesets\n"
    )


def test_dashboard_datasource_uids_skip_variables_and_builtins() -> None:
    dashboard = {
        "annotations": {"list": [{"datasource": {"type": "grafana", "uid": "-- Grafana --"}}]},
        "panels": [
            {"datasource": {"type": "prometheus", "uid": "prometheus"}},
            {"targets": [{"datasource": {"uid": "${ds}"}}, {"datasource": {"uid": "loki"}}]},
        ],
    }
    assert sorted(datasource_uids_in(dashboard)) == ["loki", "prometheus"]


def grafana_model(tmp_path: Path, dashboard: dict[str, Any], provider_path: str) -> dict[str, Any]:
    datasources = tmp_path / "datasources"
    providers = tmp_path / "providers"
    dashboards = tmp_path / "dashboards"
    for directory in (datasources, providers, dashboards):
        directory.mkdir(exist_ok=True)
    (datasources / "ds.yaml").write_text(
        yaml.safe_dump({"datasources": [{"uid": "prometheus", "url": "http://prometheus:9090"}]})
    )
    (providers / "p.yaml").write_text(
        yaml.safe_dump({"providers": [{"name": "hh", "options": {"path": provider_path}}]})
    )
    (dashboards / "d.json").write_text(json.dumps(dashboard))

    def bind(source: Path, target: str) -> dict[str, Any]:
        return {"type": "bind", "source": str(source), "target": target}

    return {
        "services": {
            "prometheus": service(),
            "grafana": service(
                volumes=[
                    bind(datasources, "/etc/grafana/provisioning/datasources"),
                    bind(providers, "/etc/grafana/provisioning/dashboards"),
                    bind(dashboards, "/var/lib/grafana/dashboards/hh"),
                ]
            ),
        }
    }


def test_grafana_provisioning_must_resolve(tmp_path: Path) -> None:
    good = {"panels": [{"datasource": {"uid": "prometheus"}}]}
    bad = {"panels": [{"datasource": {"uid": "tempo"}}]}

    assert (
        grafana_problems(
            grafana_model(tmp_path, good, "/var/lib/grafana/dashboards/hh"), "grafana"
        )[0]
        == []
    )
    [unknown] = grafana_problems(
        grafana_model(tmp_path, bad, "/var/lib/grafana/dashboards/hh"), "grafana"
    )[0]
    assert "d.json queries datasource uid tempo, which is not provisioned" in unknown
    [unmounted] = grafana_problems(
        grafana_model(tmp_path, good, "/var/lib/grafana/dashboards"), "grafana"
    )[0]
    assert "reads /var/lib/grafana/dashboards, which is no mounted directory" in unmounted


def test_the_overlay_directory_is_the_state_dirs() -> None:
    settings = Settings(state_dir=Path(os.sep) / "srv" / "hh")
    assert settings.layout.compose_dir == Path("/srv/hh/compose")
