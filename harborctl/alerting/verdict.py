"""Alertmanager's own verdict on a notification, read from its /metrics and its log (pure).

Two sources, both Alertmanager 0.25's (``notify/notify.go``, ``dispatch/dispatch.go``):

- ``/metrics``, per integration (``email``, ``slack``, ``webhook``, ...), not per receiver:
  ``alertmanager_notification_requests_total`` and ``..._requests_failed_total`` count every
  attempt as it ends; ``alertmanager_notifications_total`` and ``..._failed_total`` count
  whole notifications, the failure only once Alertmanager gives up retrying (after
  group_interval). So a successful attempt is ``requests - requests_failed``.
- its log (logfmt), per receiver: ``msg="Notify attempt failed, will retry later"`` (warn,
  ``receiver=``, ``integration=email[0]``, ``err=``) on the first failed attempt;
  ``msg="Notify success"`` (debug on a first attempt, info after retries); and
  ``msg="Notify for alerts failed"`` (error) whose ``err`` holds one
  ``<receiver>/<integration>[i]: ...`` part per failed integration when Alertmanager gives up
  (at once for an error it does not retry: a 4xx answer, a bad address; at debug level the
  same line only says that a config reload cancelled the attempt).

``judge`` turns what was seen into one ``ReceiverVerdict`` per receiver: the log decides
where it names the receiver; the counters decide for the receivers of an integration the log
said nothing about (enough successful attempts: delivered; at the deadline, failed attempts
and no success: failed). A failed attempt that Alertmanager retries is a verdict only after
``retry_grace`` (it may still succeed) or at the deadline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from prometheus_client.parser import text_string_to_metric_families

Result = Literal["delivered", "failed", "suppressed", "pending"]
Evidence = Literal["log", "metrics", "alertmanager", "none"]

METRIC_FIELDS = {
    "alertmanager_notifications_total": "notifications",
    "alertmanager_notifications_failed_total": "notifications_failed",
    "alertmanager_notification_requests_total": "requests",
    "alertmanager_notification_requests_failed_total": "requests_failed",
}
MSG_SUCCESS = "Notify success"
MSG_ATTEMPT_FAILED = "Notify attempt failed, will retry later"
MSG_GAVE_UP = "Notify for alerts failed"
RETRY_GRACE = timedelta(seconds=10)
# how Alertmanager wraps the integration's own error when it gives up (notify.go RetryStage)
_GAVE_UP_PREFIX = re.compile(
    r"^notify retry canceled (?:due to unrecoverable error )?after \d+ attempts: "
)

_LOGFMT = re.compile(r'([A-Za-z_][A-Za-z0-9_.-]*)=("(?:[^"\\]|\\.)*"|\S*)')
_PART = re.compile(r"(?:^|; )([A-Za-z0-9_-]+)/([a-z0-9_]+\[\d+\]): ")


# --- /metrics ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Counters:
    """Alertmanager's notification counters of one integration."""

    notifications: float = 0.0
    notifications_failed: float = 0.0
    requests: float = 0.0
    requests_failed: float = 0.0

    @property
    def successful_requests(self) -> float:
        return self.requests - self.requests_failed

    def minus(self, earlier: Counters) -> Counters:
        """The increase since ``earlier`` (a counter that went down restarted: all of it)."""

        def delta(now: float, then: float) -> float:
            return now - then if now >= then else now

        return Counters(
            delta(self.notifications, earlier.notifications),
            delta(self.notifications_failed, earlier.notifications_failed),
            delta(self.requests, earlier.requests),
            delta(self.requests_failed, earlier.requests_failed),
        )


def parse_counters(text: str) -> dict[str, Counters]:
    """Integration -> its counters, from Alertmanager's /metrics text."""
    found: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            field = METRIC_FIELDS.get(sample.name)
            integration = sample.labels.get("integration")
            if field and integration:
                found.setdefault(integration, {})[field] = float(sample.value)
    return {name: Counters(**values) for name, values in found.items()}


def increase(after: Mapping[str, Counters], before: Mapping[str, Counters]) -> dict[str, Counters]:
    """Per integration, what the counters grew by between two readings."""
    return {name: now.minus(before.get(name, Counters())) for name, now in after.items()}


# --- the log ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NotifyEvent:
    """One notification outcome Alertmanager logged for a receiver's integration."""

    receiver: str
    integration: str  # as logged: "email[0]"
    delivered: bool
    error: str | None = None
    gave_up: bool = False  # Alertmanager stopped retrying (or never retries this error)
    at: datetime | None = None

    @property
    def integration_type(self) -> str:
        return self.integration.split("[", 1)[0]


def _unquote(value: str) -> str:
    if not (len(value) >= 2 and value[0] == value[-1] == '"'):
        return value
    try:
        text = json.loads(value)
    except ValueError:
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return text if isinstance(text, str) else value[1:-1]


def parse_logfmt(line: str) -> dict[str, str]:
    """The ``key=value`` pairs of one logfmt line (quoted values unescaped)."""
    return {key: _unquote(value) for key, value in _LOGFMT.findall(line)}


def _timestamp(fields: Mapping[str, str]) -> datetime | None:
    try:
        return datetime.fromisoformat(fields["ts"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None


def split_gave_up(error: str) -> list[tuple[str, str, str]]:
    """``(receiver, integration, error)`` for each part of a "Notify for alerts failed" err."""
    starts = list(_PART.finditer(error))
    parts = []
    for index, found in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(error)
        parts.append((found.group(1), found.group(2), error[found.end() : end]))
    return parts


def parse_log_line(line: str) -> list[NotifyEvent]:
    """The notification outcomes in one line of Alertmanager's log ([] for other lines)."""
    if "msg=" not in line or "Notify" not in line:
        return []
    fields = parse_logfmt(line)
    msg = fields.get("msg")
    at = _timestamp(fields)
    receiver, integration = fields.get("receiver"), fields.get("integration")
    if msg == MSG_SUCCESS and receiver and integration:
        return [NotifyEvent(receiver, integration, True, at=at)]
    if msg == MSG_ATTEMPT_FAILED and receiver and integration:
        return [NotifyEvent(receiver, integration, False, fields.get("err") or "", at=at)]
    if msg == MSG_GAVE_UP and fields.get("level") != "debug":  # debug: cancelled by a reload
        return [
            NotifyEvent(name, integ, False, _GAVE_UP_PREFIX.sub("", error), gave_up=True, at=at)
            for name, integ, error in split_gave_up(fields.get("err") or "")
        ]
    return []


# --- the verdict ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiverVerdict:
    receiver: str
    integrations: tuple[str, ...]
    result: Result
    detail: str | None = None  # the receiver's error, or what the verdict rests on
    evidence: Evidence = "none"

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "integrations": list(self.integrations),
            "result": self.result,
            "detail": self.detail,
            "evidence": self.evidence,
        }


def _from_log(
    events: Sequence[NotifyEvent], now: datetime, final: bool, retry_grace: timedelta
) -> ReceiverVerdict | None:
    """The verdict the log gives for one receiver's integration, or None."""
    if any(e.delivered for e in events):
        return ReceiverVerdict("", (), "delivered", "Alertmanager logged its success", "log")
    failures = [e for e in events if not e.delivered]
    if not failures:
        return None
    first, last = failures[0], failures[-1]
    settled = (
        final
        or any(e.gave_up for e in failures)
        or (first.at is not None and now - first.at >= retry_grace)
    )
    if not settled:
        return None
    return ReceiverVerdict("", (), "failed", last.error or "failed (no error logged)", "log")


def _combine(
    receiver: str, types: tuple[str, ...], parts: list[ReceiverVerdict]
) -> ReceiverVerdict:
    for result in ("failed", "pending"):
        for part in parts:
            if part.result == result:
                return replace(part, receiver=receiver, integrations=types)
    first = parts[0] if parts else ReceiverVerdict("", (), "delivered")
    return replace(first, receiver=receiver, integrations=types)


def judge(
    expected: Mapping[str, Sequence[str]],
    grown: Mapping[str, Counters],
    events: Sequence[NotifyEvent],
    *,
    now: datetime,
    final: bool,
    retry_grace: timedelta = RETRY_GRACE,
) -> list[ReceiverVerdict]:
    """One verdict per receiver of ``expected`` (receiver -> its integration types), from the
    counters' increase ``grown`` and the log ``events`` seen since the alert was posted;
    ``final``: the deadline has passed, nothing pending stays undecided for long."""
    decided: dict[tuple[str, str], ReceiverVerdict] = {}
    for receiver, types in expected.items():
        for kind in types:
            mine = [e for e in events if e.receiver == receiver and e.integration_type == kind]
            verdict = _from_log(mine, now, final, retry_grace)
            if verdict is not None:
                decided[(receiver, kind)] = verdict

    for kind in sorted({k for types in expected.values() for k in types}):
        undecided = [
            r for r, types in expected.items() if kind in types and (r, kind) not in decided
        ]
        if not undecided:
            continue
        counters = grown.get(kind, Counters())
        logged_ok = sum(1 for (r, k), v in decided.items() if k == kind and v.result == "delivered")
        successes = counters.successful_requests - logged_ok
        if successes >= len(undecided):
            verdict = ReceiverVerdict(
                "", (), "delivered",
                f"Alertmanager counted {successes:g} successful {kind} notification(s)", "metrics",
            )  # fmt: skip
        elif final and counters.requests_failed > 0:
            verdict = ReceiverVerdict(
                "", (), "failed",
                f"Alertmanager counted {counters.requests_failed:g} failed {kind} attempt(s) and "
                f"no success; its log names the receiver's error",
                "metrics",
            )  # fmt: skip
        elif final:
            verdict = ReceiverVerdict(
                "", (), "pending",
                f"no {kind} notification attempt seen before the deadline (Alertmanager waits "
                "group_wait before the first)",
            )  # fmt: skip
        else:
            verdict = ReceiverVerdict("", (), "pending")
        for receiver in undecided:
            decided[(receiver, kind)] = verdict

    return [
        _combine(receiver, tuple(types), [decided[(receiver, kind)] for kind in types])
        for receiver, types in expected.items()
    ]


def suppressed(
    expected: Mapping[str, Sequence[str]], silenced_by: Sequence[str], inhibited_by: Sequence[str]
) -> list[ReceiverVerdict]:
    """Every receiver's verdict for an alert Alertmanager holds back (silence, inhibition)."""
    why = (
        f"silenced by {', '.join(silenced_by)}"
        if silenced_by
        else f"inhibited by {', '.join(inhibited_by) or 'another alert'}"
    )
    return [
        ReceiverVerdict(receiver, tuple(types), "suppressed", f"not sent: {why}", "alertmanager")
        for receiver, types in expected.items()
    ]
