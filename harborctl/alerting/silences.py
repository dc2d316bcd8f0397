"""Silences and the firing alerts, in the shapes ``alerts status/silence/unsilence`` show (pure).

Input and output shapes are Alertmanager's API v2 (``api/v2/openapi.yaml``):
``build_silence`` gives a ``postableSilence``; ``alert_row`` and ``silence_row`` flatten a
``gettableAlert`` / ``gettableSilence`` into one row of plain values (times ISO 8601, UTC).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from harborctl.alerting.alertmanager import BLACKHOLE
from harborctl.alerting.matchers import Matcher
from harborctl.errors import ValidationError

SILENCE_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


def check_silence_id(value: str) -> str:
    """A silence id is a UUID (the API's ``format: uuid``)."""
    if not SILENCE_ID.match(value.strip()):
        raise ValidationError(
            "ID", f"ID: {value!r} is not a silence id (a UUID, see `harborctl alerts status`)"
        )
    return value.strip().lower()


def build_silence(
    matchers: Sequence[Matcher],
    duration: timedelta,
    comment: str,
    author: str,
    now: datetime,
) -> dict[str, Any]:
    """A ``postableSilence`` from now for ``duration``; ValidationError when Alertmanager would
    refuse it (no matcher, every matcher matching the empty string, no time, no comment)."""
    if not matchers:
        raise ValidationError("ALERT", "a silence needs at least one matcher")
    if all(m.matches_empty() for m in matchers):
        raise ValidationError(
            "--matcher", "--matcher: at least one matcher must not match the empty string"
        )
    if duration <= timedelta(0):
        raise ValidationError("--for", "--for: the silence must last longer than 0s")
    if not comment.strip():
        raise ValidationError("--comment", "--comment: say why you silence it")
    return {
        "matchers": [m.to_api() for m in matchers],
        "startsAt": now.isoformat(),
        "endsAt": (now + duration).isoformat(),
        "createdBy": author,
        "comment": comment.strip(),
    }


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def age(since: datetime | None, now: datetime) -> str:
    """``3h12m``, ``45s``: how long ago ``since`` was."""
    if since is None:
        return ""
    seconds = max(0, int((now - since).total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def alert_state(alert: Mapping[str, Any]) -> str:
    """``active``, ``silenced``, ``inhibited`` or ``unprocessed``."""
    status = alert.get("status") or {}
    if status.get("silencedBy"):
        return "silenced"
    if status.get("inhibitedBy"):
        return "inhibited"
    return str(status.get("state") or "unknown")


def alert_row(
    alert: Mapping[str, Any], now: datetime, nowhere: Collection[str] = (BLACKHOLE,)
) -> dict[str, Any]:
    """One firing alert: name, severity, state, since, receivers (those in ``nowhere``, which
    send nothing, left out), runbook, silences."""
    labels: Mapping[str, str] = alert.get("labels") or {}
    annotations: Mapping[str, str] = alert.get("annotations") or {}
    status = alert.get("status") or {}
    since = _time(alert.get("startsAt"))
    receivers = [r["name"] for r in alert.get("receivers") or [] if r.get("name") not in nowhere]
    return {
        "alertname": labels.get("alertname", ""),
        "severity": labels.get("severity", ""),
        "state": alert_state(alert),
        "since": since.isoformat() if since else None,
        "for": age(since, now),
        "receivers": receivers,
        "runbook": annotations.get("runbook") or annotations.get("runbook_url"),
        "summary": annotations.get("summary", ""),
        "silenced_by": list(status.get("silencedBy") or []),
        "inhibited_by": list(status.get("inhibitedBy") or []),
        "labels": dict(labels),
        "fingerprint": alert.get("fingerprint"),
    }


def silence_row(silence: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """One silence: id, matchers, state, when it ends, who and why."""
    ends = _time(silence.get("endsAt"))
    starts = _time(silence.get("startsAt"))
    return {
        "id": silence.get("id"),
        "matchers": [str(Matcher.from_api(m)) for m in silence.get("matchers") or []],
        "state": (silence.get("status") or {}).get("state"),
        "starts_at": starts.isoformat() if starts else None,
        "ends_at": ends.isoformat() if ends else None,
        "ends_in": age(now, ends) if ends and ends > now else "",
        "created_by": silence.get("createdBy"),
        "comment": silence.get("comment"),
    }
