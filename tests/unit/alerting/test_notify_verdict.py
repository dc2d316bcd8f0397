"""Alertmanager's verdict on a notification, from lines of its real (0.25) log and /metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from harborctl.alerting.sendtest import LogFollower, redact
from harborctl.alerting.verdict import (
    Counters,
    NotifyEvent,
    increase,
    judge,
    parse_counters,
    parse_log_line,
    parse_logfmt,
    suppressed,
)

# lines written by prometheus-alertmanager 0.25.0 in the integration tests
SUCCESS = (
    "ts=2026-11-30T00:36:32.140Z caller=notify.go:743 level=debug component=dispatcher "
    'receiver=email integration=email[0] msg="Notify success" attempts=1'
)
ATTEMPT_FAILED = (
    "ts=2026-11-30T00:31:13.764Z caller=notify.go:732 level=warn component=dispatcher "
    'receiver=email integration=email[0] msg="Notify attempt failed, will retry later" '
    'attempts=1 err="*email.loginAuth auth: 535 5.7.8 Authentication credentials invalid"'
)
GAVE_UP = (
    "ts=2026-11-30T00:36:37.102Z caller=dispatch.go:352 level=error component=dispatcher "
    'msg="Notify for alerts failed" num_alerts=1 err="hook/webhook[0]: notify retry canceled '
    "due to unrecoverable error after 1 attempts: unexpected status code 404: "
    "http://127.0.0.1:4000/no: not found; slack/slack[0]: notify retry canceled after 2 "
    'attempts: Post \\"<redacted>\\": dial tcp: no such host"'
)
CANCELLED_BY_RELOAD = (
    "ts=2026-11-30T00:36:37.704Z caller=dispatch.go:352 level=debug component=dispatcher "
    'msg="Notify for alerts failed" num_alerts=1 err="slack/slack[0]: notify retry canceled '
    'after 2 attempts: context canceled"'
)
METRICS = """\
# TYPE alertmanager_notification_requests_failed_total counter
alertmanager_notification_requests_failed_total{integration="email"} 5
alertmanager_notification_requests_failed_total{integration="slack"} 0
# TYPE alertmanager_notification_requests_total counter
alertmanager_notification_requests_total{integration="email"} 7
alertmanager_notification_requests_total{integration="slack"} 3
# TYPE alertmanager_notifications_failed_total counter
alertmanager_notifications_failed_total{integration="email"} 1
alertmanager_notifications_total{integration="email"} 3
alertmanager_notifications_total{integration="slack"} 3
"""
NOW = datetime(2026, 11, 30, 0, 37, tzinfo=UTC)


def test_logfmt_values_are_unquoted_and_unescaped() -> None:
    fields = parse_logfmt('a=1 msg="two words" err="said \\"no\\"" empty=')
    assert fields == {"a": "1", "msg": "two words", "err": 'said "no"', "empty": ""}


def test_success_and_failed_attempt_lines_name_receiver_and_integration() -> None:
    [ok] = parse_log_line(SUCCESS)
    assert (ok.receiver, ok.integration, ok.integration_type, ok.delivered) == (
        "email", "email[0]", "email", True,
    )  # fmt: skip
    assert ok.at == datetime(2026, 11, 30, 0, 36, 32, 140000, tzinfo=UTC)
    [failed] = parse_log_line(ATTEMPT_FAILED)
    assert not failed.delivered and not failed.gave_up
    assert failed.error == "*email.loginAuth auth: 535 5.7.8 Authentication credentials invalid"


def test_a_gave_up_line_is_split_per_receiver_without_alertmanagers_wrapping() -> None:
    hook, slack = parse_log_line(GAVE_UP)
    assert (hook.receiver, hook.integration, hook.gave_up) == ("hook", "webhook[0]", True)
    assert hook.error == "unexpected status code 404: http://127.0.0.1:4000/no: not found"
    assert (slack.receiver, slack.error) == ("slack", 'Post "<redacted>": dial tcp: no such host')


def test_other_lines_and_reload_cancellations_are_not_verdicts() -> None:
    assert parse_log_line(CANCELLED_BY_RELOAD) == []
    assert parse_log_line('ts=x level=debug msg="flushing" alerts=[a]') == []
    assert parse_log_line("not logfmt at all") == []


def test_counters_per_integration_and_their_increase() -> None:
    counters = parse_counters(METRICS)
    assert counters["email"] == Counters(3, 1, 7, 5)
    assert counters["email"].successful_requests == 2
    grown = increase(counters, {"email": Counters(2, 1, 5, 4)})
    assert grown["email"] == Counters(1, 0, 2, 1) and grown["slack"] == Counters(3, 0, 3, 0)
    restarted = increase({"slack": Counters(requests=1)}, {"slack": Counters(requests=9)})
    assert restarted["slack"].requests == 1  # a counter that went down restarted


def test_the_log_decides_per_receiver() -> None:
    expected = {"email": ["email"], "slack": ["slack"]}
    events = [*parse_log_line(SUCCESS), *parse_log_line(GAVE_UP)]
    email, slack = judge(expected, {}, events, now=NOW, final=False)
    assert (email.result, email.evidence) == ("delivered", "log")
    assert (slack.result, slack.evidence) == ("failed", "log")
    assert slack.detail == 'Post "<redacted>": dial tcp: no such host'


def test_a_retried_failure_is_a_verdict_after_the_grace_or_at_the_deadline() -> None:
    expected = {"email": ["email"]}
    [attempt] = parse_log_line(ATTEMPT_FAILED)
    assert attempt.at is not None
    soon = attempt.at + timedelta(seconds=2)
    [pending] = judge(expected, {}, [attempt], now=soon, final=False)
    assert pending.result == "pending"  # Alertmanager retries: it may still get through
    later = attempt.at + timedelta(seconds=11)
    [failed] = judge(expected, {}, [attempt], now=later, final=False)
    assert failed.result == "failed" and "535" in (failed.detail or "")
    [at_deadline] = judge(expected, {}, [attempt], now=soon, final=True)
    assert at_deadline.result == "failed"
    retried_ok = NotifyEvent("email", "email[0]", True, at=soon)
    [ok] = judge(expected, {}, [attempt, retried_ok], now=later, final=False)
    assert ok.result == "delivered"


def test_the_counters_decide_where_the_log_is_silent() -> None:
    expected = {"a": ["email"], "b": ["email"]}
    one = {"email": Counters(requests=1)}
    assert [v.result for v in judge(expected, one, [], now=NOW, final=False)] == [
        "pending", "pending",
    ]  # fmt: skip
    two = {"email": Counters(requests=2)}
    verdicts = judge(expected, two, [], now=NOW, final=False)
    assert [(v.result, v.evidence) for v in verdicts] == [("delivered", "metrics")] * 2
    failing = {"email": Counters(requests=3, requests_failed=3)}
    assert judge(expected, failing, [], now=NOW, final=False)[0].result == "pending"
    at_deadline = judge(expected, failing, [], now=NOW, final=True)
    assert [v.result for v in at_deadline] == ["failed", "failed"]
    assert "3 failed email attempt" in (at_deadline[0].detail or "")
    nothing = judge(expected, {}, [], now=NOW, final=True)
    assert nothing[0].result == "pending" and "group_wait" in (nothing[0].detail or "")


def test_log_and_counters_together_attribute_the_remaining_successes() -> None:
    """b failed in the log; one email success counted: it is a's."""
    expected = {"a": ["email"], "b": ["email"]}
    failed_b = NotifyEvent("b", "email[0]", False, "535", gave_up=True, at=NOW)
    a, b = judge(expected, {"email": Counters(requests=2, requests_failed=1)}, [failed_b],
                 now=NOW, final=False)  # fmt: skip
    assert (a.result, a.evidence, b.result) == ("delivered", "metrics", "failed")


def test_a_receiver_with_several_integrations_fails_when_one_fails() -> None:
    expected = {"both": ["email", "slack"]}
    events = [NotifyEvent("both", "email[0]", True, at=NOW),
              NotifyEvent("both", "slack[0]", False, "404", gave_up=True, at=NOW)]  # fmt: skip
    [verdict] = judge(expected, {}, events, now=NOW, final=False)
    assert verdict.result == "failed" and verdict.integrations == ("email", "slack")


def test_suppressed_names_the_silence() -> None:
    [held] = suppressed({"slack": ["slack"]}, ["abc-123"], [])
    assert held.result == "suppressed" and "silenced by abc-123" in (held.detail or "")
    [inhibited] = suppressed({"slack": ["slack"]}, [], ["f00"])
    assert "inhibited by f00" in (inhibited.detail or "")


def test_secrets_are_masked_in_errors() -> None:
    url = "https://hooks.slack.com/services/T/B/token"
    text = redact(
        f"unexpected status code 404: {url}: no_service; password hunter2", [url, "hunter2"]
    )
    assert (
        text
        == "unexpected status code 404: https://hooks.slack.com/****: no_service; password ****"
    )


def test_the_log_follower_reads_only_new_whole_lines_and_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "alertmanager.log"
    log.write_text("old line\n")
    follower = LogFollower(log)
    follower.start()
    assert follower.new_lines() == []
    with log.open("a") as handle:
        handle.write("first\nsec")
    assert follower.new_lines() == ["first"]
    with log.open("a") as handle:
        handle.write("ond\n")
    assert follower.new_lines() == ["second"]
    log.write_text("after rotation\n")
    assert follower.new_lines() == ["after rotation"]
