"""prometheus.yml from the template: content, promtool's verdict, and the stack's use of it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harborctl.settings import Settings
from harborctl.stack.configs import prepare_stack_configs
from harborctl.stack.model import StackOptions
from harborctl.stack.plan import plan_stack
from harborctl.stack.prometheus import render_prometheus_config, stack_scrape_jobs


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        ingest_port=18080,
        worker_metrics_port=19101,
        monitor_port=19102,
        prometheus_port=19090,
        alertmanager_port=19093,
    )


def test_config_scrapes_every_job_loads_rules_and_names_alertmanager() -> None:
    text = render_prometheus_config(
        {"ingest": ["127.0.0.1:8080"], "worker": ["127.0.0.1:9101", "127.0.0.1:9201"]},
        rule_files=["/state/prometheus/rules/*.yml"],
        alertmanager_urls=["http://127.0.0.1:9093"],
        scrape_interval="1s",
    )
    config = yaml.safe_load(text)
    assert config["global"]["scrape_interval"] == "1s"
    assert config["rule_files"] == ["/state/prometheus/rules/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"
    ]
    jobs = {j["job_name"]: j["static_configs"][0]["targets"] for j in config["scrape_configs"]}
    assert jobs == {"ingest": ["127.0.0.1:8080"], "worker": ["127.0.0.1:9101", "127.0.0.1:9201"]}


def test_without_alertmanager_or_rules_there_is_no_alerting_section() -> None:
    config = yaml.safe_load(render_prometheus_config({"monitor": ["127.0.0.1:9102"]}))
    assert "alerting" not in config
    assert config["rule_files"] == []


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_stack_configs_pass_promtool_and_amtool(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    written = prepare_stack_configs(
        settings,
        ["ingest", "worker", "monitor", "alertmanager", "prometheus"],
        "http://127.0.0.1:19093",
    )
    prometheus_yml = next(p for p in written if p.name == "prometheus.yml")
    checked = subprocess.run(
        ["promtool", "check", "config", str(prometheus_yml)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    jobs = {
        job["job_name"]: job["static_configs"][0]["targets"]
        for job in yaml.safe_load(prometheus_yml.read_text())["scrape_configs"]
    }
    assert jobs == {
        "ingest": ["127.0.0.1:18080"],
        "worker": ["127.0.0.1:19101"],
        "monitor": ["127.0.0.1:19102"],
        "prometheus": ["127.0.0.1:19090"],  # itself: rule evaluation failures
        "alertmanager": ["127.0.0.1:19093"],  # failed notifications
    }
    # every job the rules expect a target for (HarborHookTargetMissing) is scraped
    assert set(jobs) == set(settings.alerting.jobs.expected())
    alertmanager_yml = next(p for p in written if p.name == "alertmanager.yml")
    amtool = shutil.which("amtool")
    if amtool:
        result = subprocess.run(
            [amtool, "check-config", str(alertmanager_yml)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_scrape_jobs_follow_the_job_names_of_the_rules_and_only_what_runs(tmp_path: Path) -> None:
    settings = Settings(
        state_dir=tmp_path, prometheus_port=19090, alerting={"jobs": {"prometheus": "prom"}}
    )
    jobs = stack_scrape_jobs(settings, ["ingest", "worker", "monitor", "prometheus"])
    assert jobs["prom"] == ["127.0.0.1:19090"]
    assert "alertmanager" not in jobs  # not installed: not scraped (TargetMissing says so)


def test_stack_runs_monitor_alertmanager_and_prometheus_with_their_flags(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    plan = plan_stack(
        settings,
        StackOptions(nsq=False),
        which=lambda name: f"/usr/bin/{name}",
        environ={},
        python="/py",
    )
    state = settings.state_dir.absolute()
    assert plan.component("monitor").command == (
        "/py",
        "-m",
        "harborctl",
        "run",
        "monitor",
        "--port",
        "19102",
    )
    assert plan.component("prometheus").command == (
        "/usr/bin/prometheus",
        f"--config.file={state}/prometheus/prometheus.yml",
        f"--storage.tsdb.path={state}/prometheus/data",
        "--web.listen-address=127.0.0.1:19090",
        "--web.enable-lifecycle",
        "--web.enable-admin-api",
        "--enable-feature=exemplar-storage",
    )
    alertmanager = plan.component("alertmanager")
    assert alertmanager.command[0] == "/usr/bin/prometheus-alertmanager"
    assert "--cluster.listen-address=" in alertmanager.command
    assert alertmanager.health_url == "http://127.0.0.1:19093/-/ready"


def test_stack_skips_prometheus_and_alertmanager_when_not_installed(tmp_path: Path) -> None:
    plan = plan_stack(
        _settings(tmp_path), StackOptions(nsq=False), which=lambda name: None, environ={}
    )
    assert [c.name for c in plan.components] == ["ingest", "worker", "monitor"]
    assert any("prometheus not on PATH" in note for note in plan.notes)


def test_the_cli_talks_to_the_prometheus_and_alertmanager_the_stack_runs(tmp_path: Path) -> None:
    from harborctl.stack.plan import stack_settings

    plan = plan_stack(
        _settings(tmp_path), StackOptions(nsq=False), which=lambda n: f"/usr/bin/{n}", environ={}
    )
    decided = stack_settings(plan.env, plan.components)
    assert decided["alertmanager_url"] == "http://127.0.0.1:19093"
    assert decided["prometheus_url"] == "http://127.0.0.1:19090"
    without = plan_stack(
        _settings(tmp_path), StackOptions(nsq=False), which=lambda n: None, environ={}
    )
    assert "alertmanager_url" not in stack_settings(without.env, without.components)
