"""Alerting against real binaries: promtool unit tests of every alert, `harborctl alerts set-*`
refusing bad input, and a real Prometheus evaluating the generated rules against the real
ingest service and notifying through a real Alertmanager. (Notifications configured by
`alerts set-*` reaching strict local Slack/SMTP/webhook stand-ins: test_alert_notifications.py;
status, silences and routes: test_alert_ops.py.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from harborctl.alerting import tools
from harborctl.alerting.generate import write_rule_files
from harborctl.alerting.profiles import Profile
from harborctl.cli.app import app
from harborctl.settings import Settings
from tests.support.alertmanager import (
    AlertingSession,
    alerting,
    alertmanager_server,
    write_test_spec,
)
from tests.support.notify_receivers import WebhookRecorder, webhook_recorder
from tests.support.pipeline import Pipeline
from tests.support.prometheus import PrometheusServer
from tests.support.services import free_port, require_binary
from tests.support.state import snapshot
from tests.support.wait import wait_until

__all__ = ["alerting", "alertmanager_server", "webhook_recorder"]  # fixtures, for pytest

HINT = "run scripts/bootstrap (installs the Debian packages prometheus, prometheus-alertmanager)"

runner = CliRunner()


# --- promtool ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_alerts_test_runs_promtool_unit_tests_of_every_alert(
    alertmanager_server: AlertingSession,
) -> None:
    """`harborctl alerts test`: both unit-test files pass, for the normal and the demo profile
    (about 60 s: 3-day series, and 1h12m ones at the demo's 5 s interval)."""
    import json

    result = alertmanager_server.harborctl("alerts", "test", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unit_tests_passed"] is True
    assert report["unit_test_files"] == ["operations.test.yml", "slo.test.yml"]
    assert report["profiles"] == {
        profile: {"passed": True, "unit_test_files": ["operations.test.yml", "slo.test.yml"]}
        for profile in ("normal", "demo")
    }


@pytest.mark.parametrize("folder", ["tests/alerting", "tests/alerting/demo"])
def test_every_alert_has_a_firing_and_a_silent_unit_test(folder: str) -> None:
    from harborctl.alerting.rules import ALERTS

    text = "".join(p.read_text() for p in Path(folder).glob("*.test.yml"))
    for alert in ALERTS:
        assert f"alertname: {alert.name}\n        exp_alerts:\n" in text, alert.name
        assert f"alertname: {alert.name}, exp_alerts: []" in text, alert.name


def test_a_failing_demo_profile_test_fails_alerts_test(tmp_path: Path) -> None:
    """The demo profile's tests count: one wrong expectation there is exit code 1."""
    require_binary("promtool", HINT)
    import shutil

    shutil.copytree("tests/alerting", tmp_path / "alerting")
    demo = tmp_path / "alerting" / "demo" / "slo.test.yml"
    demo.write_text(demo.read_text().replace("short_window: 20s}", "short_window: 5m}", 1))
    settings_env = {"HARBORHOOK_STATE_DIR": str(tmp_path / "state")}
    result = runner.invoke(
        app, ["alerts", "test", "--tests", str(tmp_path / "alerting"), "--json"], env=settings_env
    )
    assert result.exit_code == 1, result.output
    import json

    report = json.loads(result.stdout)
    assert report["profiles"]["normal"]["passed"] is True
    assert report["profiles"]["demo"]["passed"] is False
    assert report["unit_tests_passed"] is False


@pytest.mark.parametrize("profile", list(Profile))
@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"slo": {"delivery_success_objective": 0.995, "bad_statuses": ["dead", "failed"]}},
        {"alerting": {"for": {"worker_down": "1s"}, "rule_interval": "1s"}},
    ],
)
def test_generated_rules_pass_promtool_check(
    tmp_path: Path, spec: dict[str, Any], profile: Profile
) -> None:
    promtool = require_binary("promtool", HINT)
    settings = Settings(state_dir=tmp_path, **spec)
    files = write_rule_files(settings, profile)  # checks with promtool before writing
    assert [f.name for f in files] == ["harborhook-slo.yml", "harborhook-operations.yml"]
    tools.check_rules(promtool, files)


# --- Alertmanager and receivers (deliveries: test_alert_notifications.py) ----------------------


@pytest.mark.parametrize(
    "args",
    [
        ["set-slack", "--webhook-url", "hooks.slack.com/services/no-scheme"],
        ["set-slack", "--webhook-url", "https://hooks.slack.com/x", "--channel", "two words"],
        ["set-slack", "--webhook-url", "https://hooks.slack.com/x", "--name", "Bad Name"],
        ["set-email", "--to", "not-an-address", "--from", "a@example.com", "--smarthost", "h:25"],
        ["set-email", "--to", "a@example.com", "--from", "a@example.com", "--smarthost", "h"],
        ["set-email", "--to", "a@example.com", "--from", "a@example.com", "--smarthost",
         "smtp.example.com:587", "--username", "me"],  # missing password
        ["set-email", "--to", "a@example.com", "--from", "a@example.com", "--smarthost",
         "smtp.example.com:587", "--username", "me", "--password-file", "/nonexistent"],
        ["set-webhook", "--url", "ftp://example.com/x"],
        ["remove", "nobody"],
    ],
)  # fmt: skip
def test_invalid_input_changes_nothing(alerting: AlertingSession, args: list[str]) -> None:
    ok = alerting.harborctl("alerts", "set-slack", "--webhook-url", "https://hooks.slack.com/a")
    assert ok.exit_code == 0, ok.output
    before = snapshot(alerting.state_dir)
    result = alerting.harborctl("alerts", *args)
    assert result.exit_code != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert snapshot(alerting.state_dir) == before


EMAIL = ["set-email", "--to", "a@example.com", "--from", "a@example.com",
         "--smarthost", "smtp.example.com:587"]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "stdin"),
    [
        ([*EMAIL, "--username", "me", "--password-stdin"], " leading-space\n"),
        ([*EMAIL, "--username", "me", "--password-stdin"], "trailing-space \n"),
        ([*EMAIL, "--username", "me", "--password-stdin"], "tab\tinside\n"),
        ([*EMAIL, "--username", "me", "--password-stdin"], "two\nlines\n"),
        ([*EMAIL, "--username", "me", "--password-stdin"], "\n"),
        ([*EMAIL, "--username", " me", "--password-stdin"], "pw\n"),
        ([*EMAIL, "--password-stdin"], "pw\n"),  # a password without a login
        (["set-slack", "--webhook-url", "-"], "not a url\n"),
    ],
)
def test_secrets_alertmanager_would_not_read_back_are_refused(
    alerting: AlertingSession, args: list[str], stdin: str
) -> None:
    """One line, exit 2, nothing changed; the secret itself is never echoed."""
    before = snapshot(alerting.state_dir)
    result = alerting.harborctl("alerts", *args, stdin=stdin)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    secret = stdin.strip()
    assert not secret or secret not in result.stderr
    assert snapshot(alerting.state_dir) == before


def test_a_password_file_that_is_not_text_is_refused(
    alerting: AlertingSession, tmp_path: Path
) -> None:
    binary = tmp_path / "password.bin"
    binary.write_bytes(b"\xff\xfe\x00pw")
    before = snapshot(alerting.state_dir)
    result = alerting.harborctl(
        "alerts", *EMAIL, "--username", "me", "--password-file", str(binary)
    )
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == f"error: --password-file: {binary} is not UTF-8 text"
    assert snapshot(alerting.state_dir) == before


def test_config_rejected_by_amtool_changes_nothing(
    alerting: AlertingSession, tmp_path: Path
) -> None:
    """A spec Alertmanager refuses (bad group_by label) stops set-* before any file changes."""
    state = tmp_path / "state"
    config = write_test_spec(state, notify={"group_by": ["not a label!"]})
    env = {**alerting.env, "HARBORHOOK_STATE_DIR": str(state), "HARBORHOOK_CONFIG": str(config)}
    before = snapshot(state)
    result = runner.invoke(
        app, ["alerts", "set-slack", "--webhook-url", "https://hooks.slack.com/a"], env=env
    )
    assert result.exit_code == 2, result.output
    assert "amtool check-config" in result.stderr
    assert snapshot(state) == before


def test_without_alertmanager_set_succeeds_and_send_test_says_why(tmp_path: Path) -> None:
    env = {
        "HARBORHOOK_STATE_DIR": str(tmp_path),
        "HARBORHOOK_ALERTMANAGER_URL": f"http://127.0.0.1:{free_port()}",
    }
    result = runner.invoke(
        app, ["alerts", "set-slack", "--webhook-url", "https://hooks.slack.com/a"], env=env
    )
    assert result.exit_code == 0, result.output
    assert "not running" in result.stderr
    result = runner.invoke(app, ["alerts", "send-test"], env=env)
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: Alertmanager is not running at")


# --- Prometheus -> Alertmanager -> receiver ---------------------------------------------------


@pytest.mark.slow
def test_prometheus_fires_worker_down_from_real_services_to_the_webhook(
    alerting: AlertingSession, webhook_recorder: WebhookRecorder, tmp_path: Path, sqlite_url: str
) -> None:
    """Real ingest scraped and up; a worker target nobody serves: WorkerDown reaches the
    receiver, IngestDown does not."""
    result = alerting.harborctl("alerts", "set-webhook", "--url", webhook_recorder.url)
    assert result.exit_code == 0, result.output
    rules_state = tmp_path / "rules-state"
    settings = Settings(
        state_dir=rules_state,
        alerting={"rule_interval": "1s", "for": {"worker_down": "2s", "ingest_down": "2s"}},
    )
    rule_files = write_rule_files(settings)

    (tmp_path / "pipeline").mkdir()
    pipeline = Pipeline(tmp_path / "pipeline", sqlite_url, "db")
    pipeline.start_ingest()
    dead_worker = f"127.0.0.1:{free_port()}"
    prometheus = PrometheusServer(tmp_path / "prometheus")
    try:
        prometheus.start(
            {"ingest": [f"127.0.0.1:{pipeline.ingest_port}"], "worker": [dead_worker]},
            rule_files=rule_files,
            alertmanager_url=alerting.server.url,
        )

        def worker_down() -> dict[str, Any] | None:
            return webhook_recorder.alert("firing", alertname="HarborHookWorkerDown")

        alert = wait_until(
            worker_down,
            60,
            interval=0.2,
            describe=lambda: (
                f"WorkerDown at the receiver; Prometheus alerts: "
                f"{httpx.get(prometheus.url + '/api/v1/alerts').text}"
            ),
        )
        assert alert["status"] == "firing"
        assert alert["labels"]["instance"] == dead_worker
        assert alert["labels"]["severity"] == "page"
        assert dead_worker in alert["annotations"]["summary"]
        assert alert["annotations"]["runbook"].endswith("/HarborHookWorkerDown.md")
        assert prometheus.value('up{job="ingest"}') == 1.0
        names = {a["labels"]["alertname"] for a in webhook_recorder.alerts()}
        assert "HarborHookIngestDown" not in names
    finally:
        prometheus.stop()
        pipeline.stop()
