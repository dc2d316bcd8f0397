"""Alertmanager's verdict on the --notify receivers while the demo runs (``NotifyWatch``).

They share one route with the demo's recorder, so each was sent as many notifications as the
recorder got since the watch began; whether they landed is read from Alertmanager's counters
and log (``harborctl.alerting.verdict``, as ``alerts send-test`` reads them) and judged by
``harborctl.demo.notifications.route_verdicts``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from harborctl.alerting.client import AlertmanagerClient
from harborctl.alerting.routing import integrations
from harborctl.alerting.sendtest import LogFollower
from harborctl.alerting.verdict import (
    Counters,
    NotifyEvent,
    ReceiverVerdict,
    increase,
    parse_counters,
    parse_log_line,
)
from harborctl.demo.notifications import notifications, route_verdicts
from harborctl.demo.receivers import RECORDER, ReceiverPair
from harborctl.demo.waiting import POLL, deadline
from harborctl.settings import Settings


class NotifyWatch:
    """Alertmanager's verdict on the receivers ``names`` for the notifications the recorder
    got since the watch began (none named: no verdicts, and Alertmanager is not asked).

    Raises the Alertmanager client's ``HarborHookError`` when it cannot be read."""

    def __init__(self, settings: Settings, names: Sequence[str], receivers: ReceiverPair) -> None:
        self.settings = settings
        self.names = list(names)
        self.receivers = receivers
        self.start = len(receivers.records(RECORDER))
        self.expected: dict[str, list[str]] = {}
        self.before: dict[str, Counters] = {}
        self.events: list[NotifyEvent] = []
        self.follower: LogFollower | None = None
        if not self.names:
            return
        with AlertmanagerClient(settings.alertmanager_url) as client:
            kinds = integrations(client.running_config())
            self.before = parse_counters(client.metrics_text())
        self.expected = {name: kinds.get(name, []) for name in self.names}
        log = settings.layout.process_log("alertmanager")
        if log.exists():
            self.follower = LogFollower(log)
            self.follower.start()

    def verdicts(self, *, final: bool) -> list[ReceiverVerdict]:
        """One verdict per receiver, as things stand (``final``: pending counts as failed)."""
        if not self.names:
            return []
        if self.follower:
            self.events += [e for line in self.follower.new_lines() for e in parse_log_line(line)]
        each = len(notifications(self.receivers.records(RECORDER, self.start)))
        with AlertmanagerClient(self.settings.alertmanager_url) as client:
            grown = increase(parse_counters(client.metrics_text()), self.before)
        return route_verdicts(self.expected, grown, self.events, each=each, final=final)

    def wait(self, seconds: float) -> list[ReceiverVerdict]:
        """The verdicts once none is pending, or final after ``seconds``."""
        until = deadline(seconds)
        while True:
            final = time.monotonic() >= until
            found = self.verdicts(final=final)
            if final or all(v.result != "pending" for v in found):
                return found
            time.sleep(POLL)
