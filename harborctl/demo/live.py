"""The demo's traffic shown live while the run waits for the driven alert: to fire while the
dead endpoint burns the error budget, then to resolve once it healed (``LiveTraffic``).

Each look reads the recorder's notifications (``harborctl.demo.notifications``) and shows the
live summary (``harborctl.demo.summary``: counts from the database, p99 from the receiver);
it is recorded in the result as it goes (``summary``, ``fired_after``, ``resolved_after``, in
seconds), so an interrupted run still tells how far it got.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime

from harborctl.demo import scenario
from harborctl.demo.model import DemoObserver, DemoResult
from harborctl.demo.notifications import Notification, first_firing, first_resolved, notifications
from harborctl.demo.receivers import RECORDER, WEBHOOKS, ReceiverPair
from harborctl.demo.summary import Summary, first_success_latencies, summarize
from harborctl.demo.tenant import DemoTenant
from harborctl.demo.traffic import Publisher
from harborctl.demo.waiting import POLL


class LiveTraffic:
    """The publisher's traffic to ``tenant``, watched through the ``receivers`` and shown to
    the ``observer``; what is seen goes into ``result``."""

    def __init__(
        self,
        observer: DemoObserver,
        receivers: ReceiverPair,
        tenant: DemoTenant,
        publisher: Publisher,
        result: DemoResult,
    ) -> None:
        self.observer = observer
        self.receivers = receivers
        self.tenant = tenant
        self.publisher = publisher
        self.result = result

    def summary(self) -> Summary:
        """The live summary now (also the result's)."""
        published = self.publisher.snapshot()
        records = self.receivers.records(WEBHOOKS)
        paths = [e.path for e in scenario.ENDPOINTS if e.key != scenario.DEAD]
        latencies = first_success_latencies(records, {k: v.at for k, v in published.items()}, paths)
        replayed = len(self.tenant.replayed)
        summary = summarize(
            tenant_id=self.tenant.tenant_id,
            published=len(published),
            deliveries=sum(e.fanout for e in published.values()) + replayed,
            counts=self.tenant.store.events.count_by_status(),
            latencies=list(latencies.values()),
            replayed_dead=replayed,
            publish_errors=self.publisher.errors,
        )
        self.result.summary = summary
        return summary

    def show(self, since: float, total: float | None, status: str) -> None:
        """The live summary; ``since``: the phase's start (``time.monotonic()``); ``total``:
        its length when known (seconds)."""
        self.observer.traffic(self.summary(), time.monotonic() - since, total, status)

    def _notifications(self) -> list[Notification]:
        return notifications(self.receivers.records(RECORDER))

    def until_fired(
        self, started: float, duration: float, alert_timeout: float
    ) -> Notification | None:
        """The recorder's first notification that the driven alert fires, waited for until
        the traffic begun at ``started`` ran ``duration`` seconds and it came, or
        ``alert_timeout`` seconds more (None: it did not come)."""
        fired = None
        end = started + duration
        give_up = end + alert_timeout
        while True:
            now = time.monotonic()
            fired = fired or first_firing(self._notifications(), scenario.DRIVEN_ALERT)
            if fired and self.result.fired_after is None:
                self.result.fired_after = now - started
            if now >= end and fired:
                break
            if now >= give_up:
                break
            status = "burning the error budget"
            if fired:
                status = f"{scenario.DRIVEN_ALERT} fired after {self.result.fired_after:.0f}s"
            elif now >= end:
                status = f"waiting for {scenario.DRIVEN_ALERT}"
            if now < end:
                self.show(started, duration, status)
            else:
                self.show(end, None, status)
            time.sleep(POLL)
        self.show(started, duration, "fired" if fired else "did not fire")
        self.observer.traffic_done()
        return fired

    def until_resolved(
        self, healed_at: datetime, started: float, timeout: float, between: Callable[[], None]
    ) -> Notification | None:
        """The recorder's first notification after ``healed_at`` that the driven alert
        resolved, waited for ``timeout`` seconds from ``started`` (``time.monotonic()``);
        ``between`` runs after each look that found none. None: it did not come."""
        resolved = None
        give_up = started + timeout
        while time.monotonic() < give_up:
            resolved = first_resolved(self._notifications(), scenario.DRIVEN_ALERT, after=healed_at)
            if resolved:
                self.result.resolved_after = time.monotonic() - started
                break
            between()
            self.show(started, None, f"healed: waiting for {scenario.DRIVEN_ALERT} to resolve")
            time.sleep(POLL)
        self.show(started, None, "resolved" if resolved else "did not resolve")
        self.observer.traffic_done()
        return resolved
