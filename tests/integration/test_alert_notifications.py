"""Notifications configured by `harborctl alerts set-slack/set-email/set-webhook`, end to end
through the real Alertmanager to stand-ins as strict as the real services
(tests.support.notify_receivers): a mail server requiring AUTH, Slack's incoming-webhook API,
a webhook receiver. Firing and resolved arrive; `alerts send-test` reports Alertmanager's
verdict per receiver, delivered or the receiver's error, and exits 1 on a failure.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from harborctl.alerting import tools
from tests.support.alertmanager import AlertingSession, alerting, alertmanager_server
from tests.support.notify_receivers import (
    SlackWebhook,
    SmtpServer,
    WebhookRecorder,
    slack_webhook,
    smtp_server,
    webhook_recorder,
)
from tests.support.services import require_binary
from tests.support.state import snapshot
from tests.support.wait import wait_until

# fixtures, for pytest
__all__ = ["alerting", "alertmanager_server", "slack_webhook", "smtp_server", "webhook_recorder"]

HINT = "run scripts/bootstrap (installs the Debian package prometheus-alertmanager)"
DELIVERY_TIMEOUT = 30


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


def verdict(report: dict[str, Any], receiver: str) -> dict[str, Any]:
    [found] = [r for r in report["results"] if r["receiver"] == receiver]
    return dict(found)


def set_email(session: AlertingSession, smtp: SmtpServer, password_file: Path, *extra: str) -> Any:
    return session.harborctl(
        "alerts", "set-email",
        "--to", "oncall@example.com",
        "--from", "harborhook@example.com",
        "--smarthost", smtp.smarthost,
        "--username", smtp.username,
        "--password-file", str(password_file),
        *extra,
    )  # fmt: skip


def email_arrived(smtp: SmtpServer, summary: str, status: str) -> Any:
    for message in smtp.received():
        subject = str(message["subject"])
        if summary in subject and status in subject:
            return message
    return None


# --- Slack ------------------------------------------------------------------------------------


def test_set_slack_then_send_test_reaches_slack_and_resolves(
    alerting: AlertingSession, slack_webhook: SlackWebhook
) -> None:
    before = snapshot(alerting.state_dir)
    result = alerting.harborctl(
        "alerts", "set-slack", "--webhook-url", slack_webhook.url, "--channel", "#oncall"
    )
    assert result.exit_code == 0, result.output
    assert "reloaded" in result.output
    assert snapshot(alerting.state_dir) != before
    assert_secret_kept_out(alerting, slack_webhook.path)
    secret_file = alerting.settings().layout.secret_file("slack")
    assert secret_file.read_bytes() == slack_webhook.url.encode()  # exactly, no newline
    [row] = alerting.harborctl_json("alerts", "receivers")
    assert row["type"] == "slack" and slack_webhook.path not in str(row)

    sent = alerting.send_test("--severity", "page")
    assert sent["receivers"] == ["slack"]
    assert sent["delivered"] is True, sent
    assert verdict(sent, "slack")["result"] == "delivered"
    firing = wait_until(
        lambda: slack_webhook.messages(sent["summary"], "FIRING"),
        5,
        describe=slack_webhook.describe,
    )[0]
    assert firing["channel"] == "#oncall"
    assert "HarborHookTestAlert" in firing["attachments"][0]["title"]

    resolved = alerting.send_test("--severity", "page", "--resolve", sent["test_id"])
    assert resolved["delivered"] is True, resolved
    wait_until(
        lambda: slack_webhook.messages(sent["summary"], "RESOLVED"), 5,
        describe=slack_webhook.describe,
    )  # fmt: skip
    assert slack_webhook.refusals() == []


def test_send_test_verdict_from_metrics_alone(
    alerting: AlertingSession, slack_webhook: SlackWebhook
) -> None:
    """Without Alertmanager's log (not the local stack's), its /metrics decide."""
    assert (
        alerting.harborctl("alerts", "set-slack", "--webhook-url", slack_webhook.url).exit_code == 0
    )
    sent = alerting.send_test("--severity", "ticket", log=False)
    assert sent["log_file"] is None
    result = verdict(sent, "slack")
    assert result["result"] == "delivered" and result["evidence"] == "metrics", sent
    assert slack_webhook.messages(sent["summary"], "FIRING")


@pytest.mark.parametrize(
    ("wrong", "status", "answer"),
    [({"token": "n0tTheToken"}, 403, "invalid_token"), ({"team": "T0OTHER"}, 404, "no_service")],
)
def test_a_wrong_slack_url_is_reported_not_dropped(
    alerting: AlertingSession,
    slack_webhook: SlackWebhook,
    wrong: dict[str, str],
    status: int,
    answer: str,
) -> None:
    url = slack_webhook.url_with(**wrong)
    assert alerting.harborctl("alerts", "set-slack", "--webhook-url", url).exit_code == 0
    result = alerting.harborctl("alerts", "send-test", "--log-file", str(alerting.server.log_path))
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.stdout and answer in result.stdout, result.output
    report = alerting.send_test("--severity", "ticket", expect=1)
    failed = verdict(report, "slack")
    assert failed["result"] == "failed" and f"{status}: {answer}" in failed["detail"], report
    assert wrong.get("token", "T0OTHER") not in failed["detail"]  # the URL is a secret
    assert slack_webhook.bodies() == []
    assert (status, answer) in {(s, t) for _, s, t in slack_webhook.refusals()}


# --- email ------------------------------------------------------------------------------------


@pytest.mark.parametrize("smtp_server", ["LOGIN", "PLAIN"], indirect=True)
def test_set_email_delivers_through_smtp_requiring_auth(
    alerting: AlertingSession, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """The password file an operator writes ends in a newline; Alertmanager 0.25 sends the
    secret file verbatim, so HarborHook's copy must hold the password and nothing else."""
    password_file = tmp_path / "smtp-password"
    password_file.write_text(smtp_server.password + "\n")
    result = set_email(alerting, smtp_server, password_file, "--no-require-tls")
    assert result.exit_code == 0, result.output
    assert_secret_kept_out(alerting, smtp_server.password)
    secret = alerting.settings().layout.secret_file("email")
    assert secret.read_bytes() == smtp_server.password.encode()

    sent = alerting.send_test("--severity", "ticket")
    assert sent["delivered"] is True, (sent, smtp_server.describe())
    message = wait_until(
        lambda: email_arrived(smtp_server, sent["summary"], "FIRING"), 5,
        describe=smtp_server.describe,
    )  # fmt: skip
    assert message["to"] == "oncall@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None and sent["summary"] in body.get_content()
    attempts = smtp_server.attempts()
    assert attempts and all(a.password_matched for a in attempts), attempts
    assert {a.mechanism for a in attempts} == {smtp_server.mechanisms[0]}

    resolved = alerting.send_test("--severity", "ticket", "--resolve", sent["test_id"])
    assert resolved["delivered"] is True, (resolved, smtp_server.describe())
    wait_until(
        lambda: email_arrived(smtp_server, sent["summary"], "RESOLVED"), 5,
        describe=smtp_server.describe,
    )  # fmt: skip


def test_a_wrong_smtp_password_is_reported_not_dropped(
    alerting: AlertingSession, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    password_file = tmp_path / "wrong-password"
    password_file.write_text("not-" + smtp_server.password)
    assert set_email(alerting, smtp_server, password_file, "--no-require-tls").exit_code == 0

    report = alerting.send_test("--severity", "page", expect=1)
    failed = verdict(report, "email")
    assert failed["result"] == "failed", report
    assert "535" in failed["detail"] and failed["evidence"] == "log", failed
    assert smtp_server.password not in str(report)
    assert smtp_server.received() == []
    assert smtp_server.attempts() and not any(a.password_matched for a in smtp_server.attempts())


def test_a_failed_email_is_reported_from_metrics_alone(
    alerting: AlertingSession, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Without the log, failed attempts and no success at the deadline are a failure."""
    password_file = tmp_path / "wrong-password"
    password_file.write_text("wrong")
    assert set_email(alerting, smtp_server, password_file, "--no-require-tls").exit_code == 0
    report = alerting.send_test("--severity", "page", "--timeout", "6", expect=1, log=False)
    failed = verdict(report, "email")
    assert failed["result"] == "failed" and failed["evidence"] == "metrics", report
    assert "failed email attempt" in failed["detail"]


def test_require_tls_against_a_server_without_starttls_is_reported(
    alerting: AlertingSession, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    password_file = tmp_path / "password"
    password_file.write_text(smtp_server.password)
    assert set_email(alerting, smtp_server, password_file).exit_code == 0  # require_tls on
    report = alerting.send_test("--severity", "page", expect=1)
    failed = verdict(report, "email")
    assert failed["result"] == "failed" and "STARTTLS" in failed["detail"], report
    assert smtp_server.attempts() == []  # the password never left in clear


def test_a_secret_file_from_an_earlier_version_is_repaired(
    alerting: AlertingSession, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    """Earlier versions wrote the password + newline: `alerts generate` (and `up`) rewrite
    it in the exact form, and the mail gets through."""
    password_file = tmp_path / "password"
    password_file.write_text(smtp_server.password)
    assert set_email(alerting, smtp_server, password_file, "--no-require-tls").exit_code == 0
    secret = alerting.settings().layout.secret_file("email")
    secret.write_text(smtp_server.password + "\n")

    generated = alerting.harborctl_json("alerts", "generate")
    assert generated["repaired_secret_files"] == [str(secret)]
    assert generated["alertmanager_reloaded"] is True
    assert secret.read_bytes() == smtp_server.password.encode()
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    report = alerting.send_test("--severity", "page")
    assert report["delivered"] is True, (report, smtp_server.describe())


# --- webhook ----------------------------------------------------------------------------------


def test_set_webhook_delivers_firing_and_resolved(
    alerting: AlertingSession, webhook_recorder: WebhookRecorder
) -> None:
    url = webhook_recorder.url
    result = alerting.harborctl(
        "alerts", "set-webhook", "--url", "-", "--severity", "page", stdin=url + "\n"
    )
    assert result.exit_code == 0, result.output
    assert_secret_kept_out(alerting, url, inline_ok=True)  # no url_file in Alertmanager 0.25
    [row] = alerting.harborctl_json("alerts", "receivers")
    assert url not in str(row) and row["severity"] == "page"

    ticket = alerting.send_test("--severity", "ticket")
    assert ticket["receivers"] == []  # a page-only receiver
    sent = alerting.send_test("--severity", "page")
    assert sent["delivered"] is True, sent
    firing = wait_until(
        lambda: webhook_recorder.alert("firing", test_id=sent["test_id"]), 5,
        describe=webhook_recorder.describe,
    )  # fmt: skip
    assert firing["annotations"]["summary"] == sent["summary"]
    resolved = alerting.send_test("--severity", "page", "--resolve", sent["test_id"])
    assert resolved["delivered"] is True, resolved
    wait_until(
        lambda: webhook_recorder.alert("resolved", test_id=sent["test_id"]), 5,
        describe=webhook_recorder.describe,
    )  # fmt: skip
    assert webhook_recorder.alert("firing", test_id=ticket["test_id"]) is None
    assert webhook_recorder.refusals() == []


def test_one_receiver_failing_does_not_hide_the_others(
    alerting: AlertingSession,
    slack_webhook: SlackWebhook,
    webhook_recorder: WebhookRecorder,
) -> None:
    wrong = webhook_recorder.base_url + "/no-such-hook"
    assert (
        alerting.harborctl("alerts", "set-slack", "--webhook-url", slack_webhook.url).exit_code == 0
    )
    assert alerting.harborctl("alerts", "set-webhook", "--url", wrong).exit_code == 0
    result = alerting.harborctl("alerts", "send-test", "--log-file", str(alerting.server.log_path))
    assert result.exit_code == 1, result.output
    [slack] = [line for line in result.stdout.splitlines() if "│ slack " in line]
    [webhook] = [line for line in result.stdout.splitlines() if "│ webhook " in line]
    assert "delivered" in slack, result.stdout
    assert "FAILED" in webhook and "404" in webhook, result.stdout
    assert "/no-such-hook" not in result.stdout  # the URL is a secret: masked
    assert "NOT delivered to webhook" in result.stdout


def test_no_wait_only_posts(alerting: AlertingSession, webhook_recorder: WebhookRecorder) -> None:
    assert alerting.harborctl("alerts", "set-webhook", "--url", webhook_recorder.url).exit_code == 0
    sent = alerting.send_test("--no-wait")
    assert sent["waited"] is False and sent["delivered"] is None and sent["results"] == []
    assert sent["receivers"] == ["webhook"] and sent["expect_within_seconds"] == 1
    wait_until(
        lambda: webhook_recorder.alert("firing", test_id=sent["test_id"]), 10,
        describe=webhook_recorder.describe,
    )  # fmt: skip
