"""Pure parts of alerting: spec parsing, derived thresholds, validation, masking, rendering."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harborctl.alerting.alertmanager import render_alertmanager_config
from harborctl.alerting.receivers import (
    EmailReceiver,
    Severity,
    SlackReceiver,
    WebhookReceiver,
    check_email,
    check_name,
    check_smarthost,
    check_url,
    describe,
    mask_url,
)
from harborctl.alerting.rules import ALERTS, render_rule_files
from harborctl.alerting_spec import (
    BURN_WINDOWS,
    AlertingSpec,
    NotifySpec,
    SloSpec,
    burn_threshold,
    duration_seconds,
)
from harborctl.errors import ConfigError, ValidationError
from harborctl.settings import load_settings

REPO = Path(__file__).resolve().parents[3]


def test_defaults_work_and_yaml_sections_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "harborhook.yaml"
    config.write_text(
        "slo: {delivery_success_objective: 0.995}\n"
        "alerting: {backlog_high: 500, for: {worker_down: 30s}, notify: {group_wait: 5s}}\n"
    )
    monkeypatch.setenv("HARBORHOOK_CONFIG", str(config))
    settings = load_settings(state_dir=tmp_path)
    assert settings.slo.delivery_success_objective == 0.995
    assert settings.alerting.backlog_high == 500
    assert settings.alerting.for_.worker_down == "30s"
    assert settings.alerting.notify.group_wait == "5s"
    assert settings.alerting.notify.repeat_page == "1h"  # default kept


@pytest.mark.parametrize(
    "yaml_text",
    [
        "slo: {delivery_success_objective: 1.5}\n",
        "alerting: {for: {worker_down: soon}}\n",
        "alerting: {no_such_key: 1}\n",
    ],
)
def test_bad_spec_is_one_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, yaml_text: str
) -> None:
    config = tmp_path / "harborhook.yaml"
    config.write_text(yaml_text)
    monkeypatch.setenv("HARBORHOOK_CONFIG", str(config))
    with pytest.raises(ConfigError):
        load_settings(state_dir=tmp_path)


def test_burn_thresholds_are_derived_from_the_objective() -> None:
    assert [burn_threshold(SloSpec(), w) for w in BURN_WINDOWS] == [0.144, 0.06, 0.03, 0.01]
    strict = SloSpec(delivery_success_objective=0.999)
    assert [burn_threshold(strict, w) for w in BURN_WINDOWS] == [0.0144, 0.006, 0.003, 0.001]
    text = render_rule_files(strict, AlertingSpec())["harborhook-slo.yml"]
    assert "rate1h > 0.0144" in text and "rate5m > 0.0144" in text
    assert "rate3d > 0.001" in text and "rate6h > 0.001" in text


def test_every_alert_is_rendered_with_severity_summary_description_runbook() -> None:
    files = render_rule_files(SloSpec(), AlertingSpec(runbook_base_url="https://x/runbooks/"))
    rules = [
        rule
        for text in files.values()
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert {r["alert"] for r in rules} == {a.name for a in ALERTS}
    for rule in rules:
        assert rule["labels"]["severity"] in ("page", "ticket")
        assert {"summary", "description", "runbook"} <= set(rule["annotations"])
        assert rule["annotations"]["runbook"] == f"https://x/runbooks/{rule['alert']}.md"
    records = [
        rule["record"]
        for text in files.values()
        for group in yaml.safe_load(text)["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert f"harborhook:delivery_error_ratio:rate{window}" in records


def test_every_alert_has_a_runbook_naming_harborctl_commands() -> None:
    for alert in (*ALERTS, "HarborHookTestAlert"):
        name = alert if isinstance(alert, str) else alert.name
        page = REPO / "docs" / "runbooks" / f"{name}.md"
        assert page.is_file(), page
        assert "harborctl " in page.read_text()


def test_durations() -> None:
    assert duration_seconds("1h30m") == 5400
    assert duration_seconds("30d") == 30 * 86400


@pytest.mark.parametrize("name", ["slack", "team-a_2"])
def test_good_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "Slack", "a b", "blackhole", "x" * 41, "-a"])
def test_bad_names(name: str) -> None:
    with pytest.raises(ValidationError):
        check_name(name)


@pytest.mark.parametrize(
    "url", ["hooks.slack.com/x", "ftp://h/x", "https://", "https://h/x y", "http://h:99999/"]
)
def test_bad_urls_never_echo_the_value(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        check_url("--webhook-url", url)
    assert url not in str(caught.value) or url == "https://"


def test_emails_and_smarthosts() -> None:
    assert check_email("--to", "a@b.com, c@d.org") == "a@b.com, c@d.org"
    for bad in ("a", "a@b", "a@@b.com", "a@b.com; c@d.com", "<a@b.com>"):
        with pytest.raises(ValidationError):
            check_email("--to", bad)
    assert check_smarthost("smtp.gmail.com:587") == "smtp.gmail.com:587"
    for bad in ("smtp.gmail.com", ":25", "h:0", "h:x", "a b:25"):
        with pytest.raises(ValidationError):
            check_smarthost(bad)


def test_masking() -> None:
    secret = "https://hooks.slack.com/services/T1/B2/SECRET"
    assert mask_url(secret) == "https://hooks.slack.com/****"
    assert "SECRET" not in describe(SlackReceiver(name="s"), secret)
    email = EmailReceiver.model_validate(
        {"name": "e", "to": "a@b.com", "from": "c@d.com", "smarthost": "h:25",
         "username": "u", "has_password": True}
    )  # fmt: skip
    assert describe(email, "pw") == "a@b.com via h:25 as u, password ****"


def test_alertmanager_config_routes_by_severity_and_references_secret_files() -> None:
    receivers = [
        SlackReceiver(name="slack", severity=Severity.page),
        WebhookReceiver(name="hook", severity=Severity.ticket),
    ]
    files = {r.name: Path(f"/s/{r.name}") for r in receivers}
    text = render_alertmanager_config(
        NotifySpec(), receivers, files, {"slack": "https://hooks.slack.com/SECRET", "hook": "http://h/x"},
        Path("/s/receivers.yaml"),
    )  # fmt: skip
    config = yaml.safe_load(text)
    page, ticket = config["route"]["routes"]
    assert [r["receiver"] for r in page["routes"]] == ["slack"]
    assert [r["receiver"] for r in ticket["routes"]] == ["hook"]
    assert page["repeat_interval"] == "1h" and ticket["repeat_interval"] == "12h"
    assert "SECRET" not in text
    slack = next(r for r in config["receivers"] if r["name"] == "slack")
    assert slack["slack_configs"][0]["api_url_file"] == "/s/slack"
    assert config["inhibit_rules"][0]["equal"] == ["area", "test_id"]
    assert re.search(r"HarborHookIngestDown", str(config["inhibit_rules"][1]))


def test_alertmanager_config_keeps_go_templates_verbatim_and_secrets_in_files() -> None:
    receivers = [
        EmailReceiver.model_validate(
            {"name": "mail", "to": "a@b.com", "from": "hh@b.com", "smarthost": "smtp:25",
             "username": "u", "has_password": True}
        ),
        WebhookReceiver(name="hook"),
    ]  # fmt: skip
    files = {r.name: Path(f"/s/{r.name}") for r in receivers}
    inline = render_alertmanager_config(
        NotifySpec(), receivers, files, {"hook": "http://h/x"}, Path("/s/receivers.yaml")
    )
    config = yaml.safe_load(inline)
    [mail] = next(r for r in config["receivers"] if r["name"] == "mail")["email_configs"]
    assert mail["from"] == "hh@b.com" and mail["auth_password_file"] == "/s/mail"
    assert mail["text"].startswith("{{ range .Alerts }}[{{ .Status | toUpper }}]")
    assert mail["text"].endswith("Runbook: {{ .Annotations.runbook }}\n\n{{ end }}")
    [hook] = next(r for r in config["receivers"] if r["name"] == "hook")["webhook_configs"]
    assert hook == {"url": "http://h/x", "send_resolved": True}
    assert "URLs are inline" in inline
    by_file = render_alertmanager_config(
        NotifySpec(), receivers, files, {}, Path("/s/receivers.yaml"), webhook_url_file=True
    )
    assert "http://h/x" not in by_file and "URLs are inline" not in by_file
    [hook] = next(r for r in yaml.safe_load(by_file)["receivers"] if r["name"] == "hook")[
        "webhook_configs"
    ]
    assert hook == {"url_file": "/s/hook", "send_resolved": True}
