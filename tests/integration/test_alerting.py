"""Alerting against real binaries: promtool unit tests of every alert, a real Alertmanager
configured by `harborctl alerts set-*` delivering to local Slack/webhook/SMTP recorders, and a
real Prometheus evaluating the generated rules against the real ingest service.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from harborctl.alerting import tools
from harborctl.alerting.generate import write_rule_files
from harborctl.cli.app import app
from harborctl.settings import Settings
from tests.support.alertmanager import (
    AlertingSession,
    HttpRecorder,
    SmtpRecorder,
    alertmanager_server,
    http_recorder,
    smtp_recorder,
    write_test_spec,
)
from tests.support.pipeline import Pipeline
from tests.support.prometheus import PrometheusServer
from tests.support.services import free_port, require_binary
from tests.support.wait import wait_until

__all__ = ["alertmanager_server", "http_recorder", "smtp_recorder"]  # fixtures, for pytest

SLACK_URL_PATH = "/services/T0HARBOR/B0HOOK/s3cr3tSlackToken"
SMTP_PASSWORD = "sm7p-pa55word-do-not-leak"
HINT = "run scripts/bootstrap (installs the Debian packages prometheus, prometheus-alertmanager)"

runner = CliRunner()


def harborctl(session: AlertingSession, *args: str, stdin: str | None = None) -> Any:
    result = runner.invoke(app, list(args), env=session.env, input=stdin)
    return result


@pytest.fixture
def session(alertmanager_server: AlertingSession) -> Iterator[AlertingSession]:
    """The shared Alertmanager state dir, with every receiver removed afterwards."""
    yield alertmanager_server
    for name in [r["name"] for r in receivers_json(alertmanager_server)]:
        assert harborctl(alertmanager_server, "alerts", "remove", name).exit_code == 0


def receivers_json(session: AlertingSession) -> list[dict[str, Any]]:
    import json

    result = harborctl(session, "alerts", "receivers", "--json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout)
    return rows


def snapshot(state_dir: Path) -> dict[str, bytes]:
    """Every file under the state dir, byte for byte."""
    return {
        str(path.relative_to(state_dir)): path.read_bytes()
        for path in sorted(state_dir.rglob("*"))
        if path.is_file() and "data" not in path.relative_to(state_dir).parts
    }


def assert_secret_kept_out(session: AlertingSession, secret: str, inline_ok: bool = False) -> None:
    """The spec and receivers.yaml never hold ``secret``; alertmanager.yml only if ``inline_ok``,
    and it is 0600 and passes amtool check-config either way."""
    layout = session.settings().layout
    config = layout.alertmanager_config
    assert secret not in (session.state_dir / "harborhook.yaml").read_text()
    assert secret not in layout.receivers_file.read_text()
    if not inline_ok:
        assert secret not in config.read_text()
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    for secret_file in layout.secrets_dir.iterdir():
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    amtool = require_binary("amtool", HINT)
    tools.check_alertmanager_config(amtool, config)


def send_test(session: AlertingSession, *args: str) -> dict[str, Any]:
    import json

    result = harborctl(session, "alerts", "send-test", "--json", *args)
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    assert data["accepted"] is True
    return data


# --- promtool ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_alerts_test_runs_promtool_unit_tests_of_every_alert(
    alertmanager_server: AlertingSession,
) -> None:
    """`harborctl alerts test`: both unit-test files pass (about 25 s: 3-day series)."""
    import json

    result = harborctl(alertmanager_server, "alerts", "test", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unit_tests_passed"] is True
    assert report["unit_test_files"] == ["operations.test.yml", "slo.test.yml"]


def test_every_alert_has_a_firing_and_a_silent_unit_test() -> None:
    from harborctl.alerting.rules import ALERTS

    text = "".join(p.read_text() for p in Path("tests/alerting").glob("*.test.yml"))
    for alert in ALERTS:
        assert f"alertname: {alert.name}\n        exp_alerts:\n" in text, alert.name
        assert f"alertname: {alert.name}, exp_alerts: []" in text, alert.name


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {"slo": {"delivery_success_objective": 0.995, "bad_statuses": ["dead", "failed"]}},
        {"alerting": {"for": {"worker_down": "1s"}, "rule_interval": "1s"}},
    ],
)
def test_generated_rules_pass_promtool_check(tmp_path: Path, spec: dict[str, Any]) -> None:
    promtool = require_binary("promtool", HINT)
    settings = Settings(state_dir=tmp_path, **spec)
    files = write_rule_files(settings)  # checks with promtool before writing
    assert [f.name for f in files] == ["harborhook-slo.yml", "harborhook-operations.yml"]
    tools.check_rules(promtool, files)


# --- Alertmanager and receivers ----------------------------------------------------------------


def test_set_slack_then_send_test_reaches_slack_and_resolves(
    session: AlertingSession, http_recorder: HttpRecorder
) -> None:
    before = snapshot(session.state_dir)
    slack_url = http_recorder.url + SLACK_URL_PATH
    result = harborctl(
        session, "alerts", "set-slack", "--webhook-url", slack_url, "--channel", "#oncall"
    )
    assert result.exit_code == 0, result.output
    assert "reloaded" in result.output
    assert snapshot(session.state_dir) != before
    assert_secret_kept_out(session, SLACK_URL_PATH)
    [row] = receivers_json(session)
    assert row["type"] == "slack" and SLACK_URL_PATH not in str(row)

    sent = send_test(session, "--severity", "page")
    assert sent["receivers"] == ["slack"]

    def slack_message(status: str) -> dict[str, Any] | None:
        for body in http_recorder.bodies(SLACK_URL_PATH):
            attachment = body["attachments"][0]
            if sent["summary"] in attachment["text"] and status in attachment["title"]:
                return body
        return None

    firing = wait_until(
        lambda: slack_message("FIRING"), 30, describe=lambda: f"{http_recorder.received}"
    )
    assert firing["channel"] == "#oncall"
    assert "HarborHookTestAlert" in firing["attachments"][0]["title"]

    send_test(session, "--severity", "page", "--resolve", sent["test_id"])
    wait_until(lambda: slack_message("RESOLVED"), 30, describe="a resolved Slack message")


def test_set_email_delivers_through_smtp(
    session: AlertingSession, smtp_recorder: SmtpRecorder, tmp_path: Path
) -> None:
    password_file = tmp_path / "smtp-password"
    password_file.write_text(SMTP_PASSWORD + "\n")
    result = harborctl(
        session,
        "alerts", "set-email",
        "--to", "oncall@example.com",
        "--from", "harborhook@example.com",
        "--smarthost", smtp_recorder.smarthost,
        "--username", "harborhook",
        "--password-file", str(password_file),
        "--no-require-tls",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_secret_kept_out(session, SMTP_PASSWORD)
    secret = session.settings().layout.secret_file("email")
    assert secret.read_text().strip() == SMTP_PASSWORD

    sent = send_test(session, "--severity", "ticket")

    def arrived(status: str) -> Any:
        for message in smtp_recorder.messages:
            subject = str(message["subject"])
            if sent["summary"] in subject and status in subject:
                return message
        return None

    message = wait_until(lambda: arrived("FIRING"), 30, describe=lambda: session.server.log_tail())
    assert message["to"] == "oncall@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and sent["summary"] in body.get_content()
    send_test(session, "--severity", "ticket", "--resolve", sent["test_id"])
    wait_until(lambda: arrived("RESOLVED"), 30, describe="a resolved email")


def test_set_webhook_delivers_firing_and_resolved(
    session: AlertingSession, http_recorder: HttpRecorder
) -> None:
    url = http_recorder.url + "/alerts"
    result = harborctl(session, "alerts", "set-webhook", "--url", "-", "--severity", "page",
                       stdin=url + "\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert_secret_kept_out(session, url, inline_ok=True)  # no url_file in Alertmanager 0.25
    [row] = receivers_json(session)
    assert url not in str(row) and row["severity"] == "page"

    ticket = send_test(session, "--severity", "ticket")
    assert ticket["receivers"] == []  # a page-only receiver
    sent = send_test(session, "--severity", "page")

    def notification(status: str) -> dict[str, Any] | None:
        for body in http_recorder.bodies("/alerts"):
            for alert in body["alerts"]:
                if alert["labels"].get("test_id") == sent["test_id"] and alert["status"] == status:
                    return dict(alert)
        return None

    firing = wait_until(lambda: notification("firing"), 30, describe="a firing webhook")
    assert firing["annotations"]["summary"] == sent["summary"]
    send_test(session, "--severity", "page", "--resolve", sent["test_id"])
    wait_until(lambda: notification("resolved"), 30, describe="a resolved webhook")
    assert not any(
        a["labels"].get("test_id") == ticket["test_id"]
        for body in http_recorder.bodies("/alerts")
        for a in body["alerts"]
    )


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
def test_invalid_input_changes_nothing(session: AlertingSession, args: list[str]) -> None:
    ok = harborctl(session, "alerts", "set-slack", "--webhook-url", "https://hooks.slack.com/a")
    assert ok.exit_code == 0, ok.output
    before = snapshot(session.state_dir)
    result = harborctl(session, "alerts", *args)
    assert result.exit_code != 0
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert snapshot(session.state_dir) == before


def test_config_rejected_by_amtool_changes_nothing(
    session: AlertingSession, tmp_path: Path
) -> None:
    """A spec Alertmanager refuses (bad group_by label) stops set-* before any file changes."""
    state = tmp_path / "state"
    config = write_test_spec(state, notify={"group_by": ["not a label!"]})
    env = {**session.env, "HARBORHOOK_STATE_DIR": str(state), "HARBORHOOK_CONFIG": str(config)}
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
    session: AlertingSession, http_recorder: HttpRecorder, tmp_path: Path, sqlite_url: str
) -> None:
    """Real ingest scraped and up; a worker target nobody serves: WorkerDown reaches the
    receiver, IngestDown does not."""
    url = http_recorder.url + "/prometheus-alerts"
    result = harborctl(session, "alerts", "set-webhook", "--url", url)
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
            alertmanager_url=session.server.url,
        )

        def worker_down() -> dict[str, Any] | None:
            for body in http_recorder.bodies("/prometheus-alerts"):
                for alert in body["alerts"]:
                    if alert["labels"]["alertname"] == "HarborHookWorkerDown":
                        return dict(alert)
            return None

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
        names = {
            a["labels"]["alertname"]
            for body in http_recorder.bodies("/prometheus-alerts")
            for a in body["alerts"]
        }
        assert "HarborHookIngestDown" not in names
    finally:
        prometheus.stop()
        pipeline.stop()
