"""The operator's side of alerts against the real Alertmanager (API v2): `alerts status`,
`silence`, `unsilence` and `routes`. A silenced alert is not notified, and is again after
unsilence; the routes drawn are the ones `amtool config routes test` walks.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from harborctl.alerting.rules import ALERTS
from tests.support.alertmanager import AlertingSession, alerting, alertmanager_server
from tests.support.notify_receivers import (
    SlackWebhook,
    WebhookRecorder,
    slack_webhook,
    webhook_recorder,
)
from tests.support.services import require_binary
from tests.support.state import snapshot
from tests.support.wait import wait_until

__all__ = ["alerting", "alertmanager_server", "slack_webhook", "webhook_recorder"]  # fixtures

HINT = "run scripts/bootstrap (installs the Debian package prometheus-alertmanager)"


def firing(session: AlertingSession, test_id: str) -> dict[str, Any]:
    status = session.harborctl_json("alerts", "status")
    [row] = [a for a in status["alerts"] if a["labels"].get("test_id") == test_id]
    return dict(row)


def test_status_shows_what_fires_since_when_where_it_went_and_its_runbook(
    alerting: AlertingSession, webhook_recorder: WebhookRecorder
) -> None:
    assert alerting.harborctl("alerts", "set-webhook", "--url", webhook_recorder.url).exit_code == 0
    empty = alerting.harborctl_json("alerts", "status")
    assert empty["alerts"] == [] and empty["silences"] == []
    human = alerting.harborctl("alerts", "status")
    assert human.exit_code == 0 and "nothing is firing" in human.stdout

    sent = alerting.send_test("--severity", "page")
    row = firing(alerting, sent["test_id"])
    assert row["alertname"] == "HarborHookTestAlert" and row["severity"] == "page"
    assert row["state"] == "active"
    assert row["receivers"] == ["webhook"]  # the blackhole, which sends nothing, left out
    assert row["runbook"].endswith("/HarborHookTestAlert.md")
    assert row["since"] and row["for"]
    human = alerting.harborctl("alerts", "status")
    assert "HarborHookTestAlert" in human.stdout and "HarborHookTestAlert.md" in human.stdout


def test_a_silenced_alert_is_not_notified_and_is_again_after_unsilence(
    alerting: AlertingSession, webhook_recorder: WebhookRecorder
) -> None:
    assert alerting.harborctl("alerts", "set-webhook", "--url", webhook_recorder.url).exit_code == 0
    silence = alerting.harborctl_json(
        "alerts", "silence", "HarborHookTestAlert", "--matcher", "severity=page",
        "--for", "2h", "--comment", "maintenance window",
    )  # fmt: skip
    silence_id = silence["silence_id"]
    assert silence["matchers"] == ['alertname="HarborHookTestAlert"', 'severity="page"']

    held = alerting.send_test("--severity", "page", expect=1)
    [result] = held["results"]
    assert result["result"] == "suppressed" and silence_id in result["detail"], held
    # the ticket, sent after the page, is notified: had the page been, it would be here first
    canary = alerting.send_test("--severity", "ticket")
    assert canary["delivered"] is True, canary
    assert webhook_recorder.alert("firing", test_id=canary["test_id"])
    assert webhook_recorder.alert("firing", test_id=held["test_id"]) is None

    status = alerting.harborctl_json("alerts", "status")
    [row] = [a for a in status["alerts"] if a["labels"].get("test_id") == held["test_id"]]
    assert row["state"] == "silenced" and row["silenced_by"] == [silence_id]
    [shown] = status["silences"]
    assert shown["id"] == silence_id and shown["state"] == "active"
    assert shown["comment"] == "maintenance window" and shown["created_by"]

    ended = alerting.harborctl_json("alerts", "unsilence", silence_id)
    assert ended["result"] == "expired"
    wait_until(
        lambda: webhook_recorder.alert("firing", test_id=held["test_id"]), 15,
        describe=webhook_recorder.describe,
    )  # fmt: skip
    assert alerting.harborctl_json("alerts", "status")["silences"] == []
    expired = alerting.harborctl_json("alerts", "status", "--expired")["silences"]
    assert [s["id"] for s in expired] == [silence_id]
    again = alerting.harborctl_json("alerts", "unsilence", silence_id)
    assert again["result"] == "already_expired"


def test_silence_names_the_firing_alerts_it_silences(alerting: AlertingSession) -> None:
    sent = alerting.send_test("--severity", "ticket")  # no receiver: it fires all the same
    data = alerting.harborctl_json(
        "alerts", "silence", "HarborHookTestAlert", "-m", f"test_id={sent['test_id']}",
        "--for", "30m", "--comment", "noise",
    )  # fmt: skip
    assert data["silenced_now"] == ["HarborHookTestAlert"]
    human = alerting.harborctl(
        "alerts", "silence", "HarborHookNoSuchAlert", "--for", "1h", "--comment", "typo"
    )
    assert human.exit_code == 0
    assert "0 firing alert" in human.stdout and "check the name" in human.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["silence", "HarborHookDlqSpike", "--for", "soon", "--comment", "x"],
        ["silence", "HarborHookDlqSpike", "--for", "0s", "--comment", "x"],
        ["silence", "HarborHookDlqSpike", "--for", "1h", "--comment", "  "],
        ["silence", "HarborHookDlqSpike", "--for", "1h", "--comment", "x", "-m", "no operator"],
        ["silence", "HarborHookDlqSpike", "--for", "1h", "--comment", "x", "-m", "bad-name=1"],
        ["silence", "HarborHookDlqSpike", "--for", "1h", "--comment", "x", "-m", "a=~(unclosed"],
        ["silence", " ", "--for", "1h", "--comment", "x"],
        ["unsilence", "not-a-uuid"],
        ["send-test", "--severity", "urgent"],
        ["send-test", "--log-file", "/nonexistent/alertmanager.log"],
    ],
)  # fmt: skip
def test_bad_input_is_one_line_exit_2_and_changes_nothing(
    alerting: AlertingSession, args: list[str]
) -> None:
    before = snapshot(alerting.state_dir)
    silences = alerting.api("GET", "/api/v2/silences").json()
    result = alerting.harborctl("alerts", *args)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("error: ")
    assert snapshot(alerting.state_dir) == before
    assert alerting.api("GET", "/api/v2/silences").json() == silences
    assert alerting.api("GET", "/api/v2/alerts").json() == []


def test_unsilence_of_an_unknown_silence_is_not_found(alerting: AlertingSession) -> None:
    result = alerting.harborctl("alerts", "unsilence", "0b3e5a0c-1111-4222-8333-944455556666")
    assert result.exit_code == 4, result.output
    assert result.stderr.strip() == "error: silence 0b3e5a0c-1111-4222-8333-944455556666 not found"


def amtool_receivers(config: str, labels: dict[str, str]) -> list[str]:
    amtool = require_binary("amtool", HINT)
    done = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config}",
         *(f"{k}={v}" for k, v in labels.items())],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return [name.strip() for name in done.stdout.strip().split(",") if name.strip()]


def test_routes_answer_which_receiver_gets_which_alert_as_alertmanager_does(
    alerting: AlertingSession, slack_webhook: SlackWebhook, webhook_recorder: WebhookRecorder
) -> None:
    page_only = ("set-slack", "--webhook-url", slack_webhook.url, "--severity", "page")
    assert alerting.harborctl("alerts", *page_only).exit_code == 0
    both = ("set-webhook", "--url", webhook_recorder.url, "--name", "hook")
    assert alerting.harborctl("alerts", *both).exit_code == 0

    routes = alerting.harborctl_json("alerts", "routes")
    assert routes["source"].startswith("Alertmanager at")
    assert routes["severities"] == {"page": ["hook", "slack"], "ticket": ["hook"]}
    assert routes["receivers"]["slack"] == ["slack"] and routes["receivers"]["blackhole"] == []
    config = str(alerting.settings().layout.alertmanager_config)
    by_name = {(row["alert"], row["severity"]): row for row in routes["alerts"]}
    for alert in ALERTS:
        row = by_name[(alert.name, alert.severity)]
        labels = {"alertname": alert.name, "severity": alert.severity, "area": alert.area}
        expected = [r for r in amtool_receivers(config, labels) if r != "blackhole"]
        assert sorted(row["receivers"]) == sorted(expected), (alert.name, expected)
        assert ("slack" in row["receivers"]) == (alert.severity == "page")

    human = alerting.harborctl("alerts", "routes")
    assert human.exit_code == 0, human.output
    assert 'severity="page" -> blackhole' in human.stdout
    assert "slack [slack] (continue)" in human.stdout
    assert "pages go to: hook, slack" in human.stdout


def test_routes_without_a_running_alertmanager_read_the_generated_file(
    alerting: AlertingSession,
) -> None:
    env = {**alerting.env, "HARBORHOOK_ALERTMANAGER_URL": "http://127.0.0.1:9"}
    from typer.testing import CliRunner

    from harborctl.cli.app import app

    result = CliRunner().invoke(app, ["alerts", "routes", "--json"], env=env)
    assert result.exit_code == 0, result.output
    assert "is not running" in result.stdout
    result = CliRunner().invoke(app, ["alerts", "routes"], env=env)
    assert "page alerts reach nobody" in result.stderr
