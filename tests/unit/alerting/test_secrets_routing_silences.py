"""Secret files in the exact form, label matchers, the routing walk and silences (pure)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from harborctl.alerting.alertmanager import render_alertmanager_config
from harborctl.alerting.matchers import Matcher, parse_matcher
from harborctl.alerting.receivers import EmailReceiver, Severity, SlackReceiver, WebhookReceiver
from harborctl.alerting.routing import integrations, match, parse_routing, receivers_for
from harborctl.alerting.secret_files import (
    check_secret,
    needs_rewrite,
    secret_bytes,
    secret_from_file,
)
from harborctl.alerting.silences import alert_row, build_silence, check_silence_id, silence_row
from harborctl.alerting.store import read_secret, repair_secret_files, write_secret
from harborctl.alerting_spec import NotifySpec
from harborctl.errors import ValidationError
from harborctl.layout import StateLayout

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

# --- secret files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "secret"),
    [("pw", "pw"), ("pw\n", "pw"), ("pw\r\n", "pw"), ("p w", "p w"), ("ünïcødé\n", "ünïcødé")],
)
def test_a_secret_is_the_line_given_without_its_line_ending(given: str, secret: str) -> None:
    assert check_secret("--password-file", given) == secret
    assert secret_bytes(secret) == secret.encode()  # what the file holds: nothing more


@pytest.mark.parametrize(
    ("given", "why"),
    [
        ("", "empty"),
        ("\n", "empty"),
        ("two\nlines", "single line"),
        ("pw\n\n", "single line"),
        (" pw", "whitespace"),
        ("pw \n", "whitespace"),
        ("pw\t", "whitespace"),
        ("p\x00w", "control character"),
        ("p\x1bw", "control character"),
    ],
)
def test_secrets_no_version_of_alertmanager_reads_back_the_same_are_refused(
    given: str, why: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        check_secret("--password-stdin", given)
    assert why in str(raised.value) and str(raised.value).startswith("--password-stdin: ")
    assert "\n" not in str(raised.value)


def test_a_file_written_with_a_newline_is_read_without_it_and_rewritten(tmp_path: Path) -> None:
    assert secret_from_file(b"pw\n") == "pw" and needs_rewrite(b"pw\n")
    assert not needs_rewrite(b"pw")
    layout = StateLayout.at(tmp_path)
    email = EmailReceiver.model_validate(
        {"name": "email", "to": "a@example.com", "from": "b@example.com",
         "smarthost": "h:25", "username": "u", "has_password": True}
    )  # fmt: skip
    slack = SlackReceiver(name="slack")
    path = write_secret(layout, "email", "pw")
    assert path.read_bytes() == b"pw" and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.secrets_dir.stat().st_mode) == 0o700
    path.write_bytes(b"pw\n")
    write_secret(layout, "slack", "https://hooks.slack.com/services/T/B/x")
    assert repair_secret_files(layout, [email, slack]) == [path]
    assert path.read_bytes() == b"pw" and read_secret(layout, "email") == "pw"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert repair_secret_files(layout, [email, slack]) == []


# --- matchers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("severity=page", Matcher("severity", "=", "page")),
        ('severity="page"', Matcher("severity", "=", "page")),
        ("area != test", Matcher("area", "!=", "test")),
        ('alertname=~"HarborHook(Ingest|Worker)Down"',
         Matcher("alertname", "=~", "HarborHook(Ingest|Worker)Down")),
        ('summary="says \\"hi\\""', Matcher("summary", "=", 'says "hi"')),
        ("instance!~10\\..*", Matcher("instance", "!~", "10\\..*")),
    ],
)  # fmt: skip
def test_matchers_parse_as_amtool_writes_them(text: str, expected: Matcher) -> None:
    assert parse_matcher(text) == expected
    assert parse_matcher(str(expected)) == expected  # printed back the same


def test_matcher_semantics_follow_alertmanager() -> None:
    regex = Matcher("alertname", "=~", "HarborHook.*Down")
    assert regex.matches({"alertname": "HarborHookWorkerDown"})
    assert not regex.matches({"alertname": "xHarborHookWorkerDown"})  # anchored
    assert Matcher("area", "!=", "test").matches({})  # unset is ""
    assert Matcher("area", "=", "").matches_empty()
    assert Matcher.from_api(Matcher("a", "!~", "b").to_api()) == Matcher("a", "!~", "b")
    assert Matcher("a", "!~", "b").to_api() == {
        "name": "a", "value": "b", "isRegex": True, "isEqual": False,
    }  # fmt: skip


@pytest.mark.parametrize("text", ["severity", "=page", "bad-name=1", "a=~(", "1abc=x"])
def test_bad_matchers_are_one_validation_error(text: str) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_matcher(text)
    assert str(raised.value).startswith("--matcher: ")


# --- routing ----------------------------------------------------------------------------------


def _generated(tmp_path: Path) -> dict[str, object]:
    receivers = [
        SlackReceiver(name="slack", severity=Severity.page),
        EmailReceiver.model_validate(
            {"name": "mail", "to": "a@example.com", "from": "b@example.com", "smarthost": "h:25"}
        ),
        WebhookReceiver(name="hook", severity=Severity.ticket),
    ]
    text = render_alertmanager_config(
        NotifySpec(), receivers,
        secret_files={r.name: tmp_path / r.name for r in receivers},
        secrets={"hook": "https://example.com/hook"},
        receivers_file=tmp_path / "receivers.yaml",
    )  # fmt: skip
    config: dict[str, object] = yaml.safe_load(text)
    return config


def test_the_generated_routes_send_each_severity_to_its_receivers(tmp_path: Path) -> None:
    config = _generated(tmp_path)
    tree = parse_routing(config)
    page = {"alertname": "HarborHookWorkerDown", "severity": "page", "area": "worker"}
    ticket = {"alertname": "HarborHookDlqSpike", "severity": "ticket", "area": "dlq"}
    assert receivers_for(tree, page) == ["slack", "mail"]
    assert receivers_for(tree, ticket) == ["mail", "hook"]
    assert receivers_for(tree, {"alertname": "Other"}) == ["mail", "hook"]  # severity!="page"
    assert integrations(config) == {
        "blackhole": [], "slack": ["slack"], "mail": ["email"], "hook": ["webhook"],
    }  # fmt: skip
    assert tree.group_wait == "30s" and tree.routes[0].repeat_interval == "1h"
    assert tree.routes[0].routes[0].group_wait == "30s"  # inherited


def test_the_walk_stops_at_the_first_match_unless_continue() -> None:
    config = {
        "route": {
            "receiver": "default",
            "group_wait": "10s",
            "routes": [
                {"receiver": "a", "match": {"team": "x"}},
                {"receiver": "b", "match_re": {"team": "x|y"}},
                {"receiver": "c", "matchers": ['team="y"'], "continue": True,
                 "routes": [{"receiver": "c1", "matchers": ["env=prod"]}]},
                {"receiver": "d", "matchers": ['team=~"y|z"']},
            ],
        }
    }  # fmt: skip
    tree = parse_routing(config)
    assert receivers_for(tree, {"team": "x"}) == ["a"]
    assert receivers_for(tree, {"team": "y"}) == ["b"]  # b matched, no continue: stop
    assert receivers_for(tree, {"team": "z"}) == ["d"]
    assert receivers_for(tree, {"team": "q"}) == ["default"]
    assert [n.path for n in match(tree, {"team": "x"})] == ["0"]
    assert tree.routes[2].routes[0].receiver == "c1"


# --- silences ---------------------------------------------------------------------------------


def test_a_silence_is_a_postable_silence_from_now() -> None:
    matchers = [Matcher("alertname", "=", "HarborHookDlqSpike"), Matcher("area", "=", "dlq")]
    body = build_silence(matchers, timedelta(hours=2), " deploy ", "me@host", NOW)
    assert body == {
        "matchers": [m.to_api() for m in matchers],
        "startsAt": "2026-01-02T03:04:05+00:00",
        "endsAt": "2026-01-02T05:04:05+00:00",
        "createdBy": "me@host",
        "comment": "deploy",
    }


@pytest.mark.parametrize(
    ("matchers", "duration", "comment", "field"),
    [
        ([], timedelta(hours=1), "x", "ALERT"),
        ([Matcher("a", "=~", ".*")], timedelta(hours=1), "x", "--matcher"),
        ([Matcher("a", "=", "b")], timedelta(0), "x", "--for"),
        ([Matcher("a", "=", "b")], timedelta(hours=1), " ", "--comment"),
    ],
)
def test_silences_alertmanager_would_refuse_are_refused_first(
    matchers: list[Matcher], duration: timedelta, comment: str, field: str
) -> None:
    with pytest.raises(ValidationError) as raised:
        build_silence(matchers, duration, comment, "me", NOW)
    assert raised.value.field == field


def test_silence_ids_are_uuids() -> None:
    assert check_silence_id(" 0B3E5A0C-1111-4222-8333-944455556666 ") == (
        "0b3e5a0c-1111-4222-8333-944455556666"
    )
    with pytest.raises(ValidationError):
        check_silence_id("0b3e5a0c")


def test_rows_of_alerts_and_silences() -> None:
    alert = {
        "labels": {"alertname": "HarborHookWorkerDown", "severity": "page"},
        "annotations": {"runbook": "docs/runbooks/HarborHookWorkerDown.md", "summary": "down"},
        "receivers": [{"name": "blackhole"}, {"name": "slack"}],
        "startsAt": "2026-01-02T01:00:00.000Z",
        "status": {"state": "suppressed", "silencedBy": ["s1"], "inhibitedBy": []},
        "fingerprint": "abc",
    }
    row = alert_row(alert, NOW)
    assert row["receivers"] == ["slack"] and row["state"] == "silenced"
    assert row["since"] == "2026-01-02T01:00:00+00:00" and row["for"] == "2h4m"
    assert row["runbook"] == "docs/runbooks/HarborHookWorkerDown.md"
    silence = {
        "id": "s1", "status": {"state": "active"}, "createdBy": "me", "comment": "why",
        "matchers": [{"name": "alertname", "value": "X", "isRegex": False, "isEqual": True}],
        "startsAt": "2026-01-02T03:00:00Z", "endsAt": "2026-01-02T05:00:00Z",
    }  # fmt: skip
    shown = silence_row(silence, NOW)
    assert shown["matchers"] == ['alertname="X"'] and shown["ends_in"] == "1h55m"
