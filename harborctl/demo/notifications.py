"""Alertmanager's webhook notifications as the demo's recorder received them, and its verdict
on the other receivers of the same route (pure).

The body is Alertmanager's webhook JSON, version 4
(https://prometheus.io/docs/alerting/latest/configuration/#webhook_config): ``status`` of the
group (``resolved`` once every alert in it is), ``receiver``, and ``alerts`` each with its own
``status``, ``labels``, ``annotations``, ``startsAt`` and ``endsAt``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harborctl.alerting.verdict import Counters, NotifyEvent, ReceiverVerdict


@dataclass(frozen=True)
class NotifiedAlert:
    status: str  # firing | resolved
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class Notification:
    """One webhook notification: a group of alerts, sent to ``receiver`` at ``received_at``."""

    received_at: datetime
    receiver: str
    status: str  # firing | resolved (every alert of the group resolved)
    alerts: tuple[NotifiedAlert, ...]

    def about(self, alertname: str) -> list[NotifiedAlert]:
        return [a for a in self.alerts if a.labels.get("alertname") == alertname]


def parse_notification(received_at: str, body: str) -> Notification | None:
    """The notification in one recorded request; None for anything that is not one."""
    try:
        data: Any = json.loads(body)
        when = datetime.fromisoformat(received_at)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("version") != "4":
        return None
    alerts = [
        NotifiedAlert(
            str(a.get("status", "")),
            {str(k): str(v) for k, v in (a.get("labels") or {}).items()},
            {str(k): str(v) for k, v in (a.get("annotations") or {}).items()},
        )
        for a in data.get("alerts") or []
        if isinstance(a, dict)
    ]
    return Notification(when, str(data.get("receiver", "")), str(data.get("status")), tuple(alerts))


def notifications(records: Iterable[Mapping[str, Any]]) -> list[Notification]:
    """Every notification among receiver records (``received_at``, ``body``), in order."""
    found = [parse_notification(str(r["received_at"]), str(r["body"])) for r in records]
    return [n for n in found if n is not None]


def first_firing(found: Iterable[Notification], alertname: str) -> Notification | None:
    """The first notification telling that ``alertname`` fires."""
    for notification in found:
        if any(a.status == "firing" for a in notification.about(alertname)):
            return notification
    return None


def first_resolved(
    found: Iterable[Notification], alertname: str, after: datetime | None = None
) -> Notification | None:
    """The first notification (after ``after``) telling that ``alertname`` resolved: every
    alert of that name in it resolved."""
    for notification in found:
        if after is not None and notification.received_at < after:
            continue
        about = notification.about(alertname)
        if about and all(a.status == "resolved" for a in about):
            return notification
    return None


def route_verdicts(
    expected: Mapping[str, Sequence[str]],
    grown: Mapping[str, Counters],
    events: Sequence[NotifyEvent],
    *,
    each: int,
    recorder_kinds: Sequence[str] = ("webhook",),
    final: bool,
) -> list[ReceiverVerdict]:
    """Alertmanager's verdict on each receiver of ``expected`` (name → integration types) that
    shares one route with the demo's recorder: each of them was sent ``each`` notifications
    (as many as the recorder got). ``grown``: the notification counters' increase per
    integration since then; ``events``: what its log said per receiver. Delivered once an
    integration counted ``each`` successes for every receiver of that type (the recorder's
    ``recorder_kinds`` included); failed when the log names the receiver's error, or at the
    deadline (``final``) with fewer successes; pending otherwise."""
    verdicts = []
    for receiver, kinds in expected.items():
        result: ReceiverVerdict | None = None
        for kind in kinds:
            sharing = sum(1 for types in expected.values() if kind in types)
            needed = each * (sharing + list(recorder_kinds).count(kind))
            succeeded = grown.get(kind, Counters()).successful_requests
            errors = [
                e for e in events
                if e.receiver == receiver and e.integration_type == kind and not e.delivered
            ]  # fmt: skip
            if needed and succeeded >= needed:
                continue
            if errors and (final or any(e.gave_up for e in errors)):
                result = ReceiverVerdict(
                    receiver, tuple(kinds), "failed", errors[-1].error or "failed", "log"
                )
            elif final:
                result = ReceiverVerdict(
                    receiver, tuple(kinds), "failed",
                    f"Alertmanager counted {succeeded:g} of {needed} successful {kind} "
                    "notifications; its log names the receiver's error",
                    "metrics",
                )  # fmt: skip
            else:
                result = ReceiverVerdict(receiver, tuple(kinds), "pending")
            break
        delivered = ReceiverVerdict(
            receiver,
            tuple(kinds),
            "delivered",
            f"Alertmanager counted {each} notification(s) to it",
            "metrics",
        )
        verdicts.append(result or delivered)
    return verdicts


def notification_entries(
    status: str,
    found: Notification | None,
    verdicts: Sequence[ReceiverVerdict],
    alertname: str,
) -> list[dict[str, Any]]:
    """The result's entries for one ``status`` (firing | resolved): the recorder's
    notification ``found`` (its receiver, time and the ``alertname`` alerts in it) when it
    came, then Alertmanager's verdict on each other receiver."""
    entries: list[dict[str, Any]] = []
    if found is not None:
        entries.append(
            {
                "status": status,
                "receiver": found.receiver,
                "received_at": found.received_at.isoformat(),
                "alerts": [
                    {"status": a.status, "labels": dict(a.labels)} for a in found.about(alertname)
                ],
            }
        )
    entries += [{"status": status, **verdict.to_dict()} for verdict in verdicts]
    return entries
