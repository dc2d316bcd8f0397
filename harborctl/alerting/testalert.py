"""The synthetic alert ``harborctl alerts send-test`` posts to Alertmanager (pure)."""

from __future__ import annotations

import secrets
import socket
from datetime import datetime, timedelta

from harborctl.alerting.client import Alert

TEST_ALERT_NAME = "HarborHookTestAlert"
FIRING_FOR = timedelta(hours=1)  # resolves by itself if never resolved by hand


def new_test_id() -> str:
    return secrets.token_hex(4)


def build_test_alert(
    severity: str,
    test_id: str,
    now: datetime,
    runbook_base: str,
    resolved: bool = False,
) -> Alert:
    """A firing (or, with ``resolved``, ended) test alert; ``test_id`` makes each one new."""
    host = socket.gethostname()
    return Alert(
        labels={
            "alertname": TEST_ALERT_NAME,
            "severity": severity,
            "area": "test",
            "test_id": test_id,
            "instance": host,
        },
        annotations={
            "summary": f"HarborHook test alert {test_id}: notifications reach you",
            "description": (
                f"Sent by `harborctl alerts send-test --severity {severity}` on {host} at "
                f"{now.isoformat(timespec='seconds')}. Nothing is wrong; resolve it with "
                f"`harborctl alerts send-test --resolve {test_id} --severity {severity}`."
            ),
            "runbook": f"{runbook_base.rstrip('/')}/{TEST_ALERT_NAME}.md",
        },
        starts_at=now,
        ends_at=now if resolved else now + FIRING_FOR,
    )
