"""``alerts send-test``: post a test alert and wait for Alertmanager's verdict on each receiver.

Posting an alert only proves that Alertmanager took it. What an operator wants to know is
whether the notification reached Slack, the mailbox, the webhook; Alertmanager knows, and
says so in its /metrics and its log (``harborctl.alerting.verdict``). So ``send_test``:

1. reads the config Alertmanager runs (``/api/v2/status``): which receivers take the alert
   (Alertmanager's own routing for a firing alert, the same walk over its tree for a
   resolution) and their integrations, and the group_wait (firing) or group_interval
   (resolution) after which it notifies;
2. reads its notification counters and remembers where its log ends (when there is one);
3. posts the alert (API v2);
4. until every receiver has a verdict or the deadline passes (that wait plus ``MARGIN``):
   follows the counters, the new log lines and the alert's state (a silenced or inhibited
   alert is not sent, and says by what).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harborctl.alerting.client import AlertmanagerClient
from harborctl.alerting.receivers import mask_url
from harborctl.alerting.routing import RouteNode, integrations, match, parse_routing
from harborctl.alerting.testalert import build_test_alert, new_test_id
from harborctl.alerting.verdict import (
    NotifyEvent,
    ReceiverVerdict,
    increase,
    judge,
    parse_counters,
    parse_log_line,
    suppressed,
)
from harborctl.alerting_spec import duration_seconds
from harborctl.settings import Settings

MARGIN_SECONDS = 15.0  # after group_wait: the attempt itself, a retry, the log being written
POLL_SECONDS = 0.5
CLOCK_SKEW = timedelta(seconds=1)  # log timestamps against this machine's clock


@dataclass
class SendTestReport:
    """What ``send_test`` did and what Alertmanager said about each receiver."""

    test_id: str
    severity: str
    resolved: bool
    alertmanager_url: str
    summary: str
    receivers: list[str]
    wait_name: str  # group_wait or group_interval
    wait: str  # its value in the running config, e.g. "30s"
    waited: bool
    deadline_seconds: float
    log_file: Path | None
    verdicts: list[ReceiverVerdict] = field(default_factory=list)
    waited_seconds: float = 0.0

    @property
    def delivered(self) -> bool:
        """True when every receiver got it (and trivially when no receiver takes it)."""
        return all(v.result == "delivered" for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": True,
            "test_id": self.test_id,
            "severity": self.severity,
            "resolved": self.resolved,
            "alertmanager_url": self.alertmanager_url,
            "summary": self.summary,
            "receivers": self.receivers,
            "waited": self.waited,
            "waits_for": f"{self.wait_name} {self.wait}",
            "expect_within_seconds": duration_seconds(self.wait),
            "deadline_seconds": self.deadline_seconds,
            "waited_seconds": round(self.waited_seconds, 1),
            "log_file": str(self.log_file) if self.log_file else None,
            "delivered": self.delivered if self.waited else None,
            "results": [v.to_dict() for v in self.verdicts],
        }


class LogFollower:
    """The lines appended to a log file since ``start()`` (a rotated file is read anew)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self._partial = b""

    def start(self) -> None:
        try:
            self.offset = self.path.stat().st_size
        except OSError:
            self.offset = 0

    def new_lines(self) -> list[str]:
        try:
            size = self.path.stat().st_size
            if size < self.offset:  # rotated or truncated
                self.offset, self._partial = 0, b""
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except OSError:
            return []
        self.offset += len(chunk)
        data = self._partial + chunk
        *lines, self._partial = data.split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines]


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every receiver secret replaced by its masked form."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, mask_url(secret) if "://" in secret else "****")
    return text


def _route_for(tree: RouteNode, labels: Mapping[str, str]) -> RouteNode:
    hits = match(tree, labels)
    return hits[0] if hits else tree


def send_test(
    settings: Settings,
    severity: str,
    resolve: str | None = None,
    *,
    log_file: Path | None = None,
    timeout: float | None = None,
    wait: bool = True,
    secrets: Sequence[str] = (),
    progress: Callable[[SendTestReport], None] = lambda report: None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> SendTestReport:
    """Post the test alert (or resolve test ``resolve``) and wait for the verdicts.

    ``progress`` is called once the alert is posted, before waiting. Raises ServiceError when
    Alertmanager is not reachable or refuses the alert.
    """
    test_id = resolve or new_test_id()
    posted_at = now()
    alert = build_test_alert(
        severity, test_id, posted_at, settings.alerting.runbook_base_url, resolved=bool(resolve)
    )
    with AlertmanagerClient(settings.alertmanager_url) as client:
        config = client.running_config()
        tree = parse_routing(config)
        kinds = integrations(config)
        route = _route_for(tree, alert.labels)
        wait_name = "group_interval" if resolve else "group_wait"
        wait_value = route.group_interval if resolve else route.group_wait
        deadline = timeout if timeout is not None else duration_seconds(wait_value) + MARGIN_SECONDS
        before = parse_counters(client.metrics_text())
        follower = LogFollower(log_file) if log_file else None
        if follower:
            follower.start()

        client.post_alerts([alert])
        started = clock()
        filters = [f'test_id="{test_id}"', f'alertname="{alert.labels["alertname"]}"']
        if resolve:
            names = [node.receiver for node in match(tree, alert.labels)]
        else:
            found = client.alerts(filters)
            names = [r["name"] for r in (found[0]["receivers"] if found else [])]
        expected = {name: kinds.get(name, []) for name in dict.fromkeys(names) if kinds.get(name)}
        report = SendTestReport(
            test_id=test_id,
            severity=severity,
            resolved=bool(resolve),
            alertmanager_url=settings.alertmanager_url,
            summary=alert.annotations["summary"],
            receivers=list(expected),
            wait_name=wait_name,
            wait=wait_value,
            waited=wait and bool(expected),
            deadline_seconds=deadline,
            log_file=log_file,
        )
        progress(report)
        if not report.waited:
            return report

        earliest = posted_at - CLOCK_SKEW
        if not resolve:
            earliest += timedelta(seconds=duration_seconds(wait_value))
        events: list[NotifyEvent] = []
        while True:
            if follower:
                for line in follower.new_lines():
                    events += [e for e in parse_log_line(line) if e.at is None or e.at >= earliest]
            final = clock() - started >= deadline
            state = None if resolve else client.alerts(filters)
            held = state[0]["status"] if state else {}
            if held.get("state") == "suppressed":
                verdicts = suppressed(
                    expected, held.get("silencedBy") or [], held.get("inhibitedBy") or []
                )
            else:
                grown = increase(parse_counters(client.metrics_text()), before)
                verdicts = judge(expected, grown, events, now=now(), final=final)
            if final or all(v.result != "pending" for v in verdicts):
                break
            sleep(POLL_SECONDS)
        report.verdicts = [
            replace(v, detail=redact(v.detail, secrets) if v.detail else None) for v in verdicts
        ]
        report.waited_seconds = clock() - started
        return report
