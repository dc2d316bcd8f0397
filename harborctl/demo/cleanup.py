"""Putting back what the demo changed: the undo steps ``DemoRun`` registers (in
``harborctl.demo.restore.Changes``), and the note on notifications Alertmanager gave up on.

::

    restore_rules           the normal rule files back, Prometheus reloaded, then the demo
                            profile's alerts Alertmanager still holds resolved
    restore_alertmanager    the demo receiver removed; Alertmanager's files byte for byte as
                            before, and reloaded when any was put back
    retire_tenant           once nothing of the demo is pending (interrupted: its receiver
                            paths healed and its DLQ replayed first): its endpoints deleted
    delete_series           its series deleted from Prometheus (admin API), so no normal
                            rule ever counts its errors
    failed_notifications    Alertmanager's count of notifications it gave up on

Errors are the clients' (``HarborHookError``); ``Changes.undo_all`` turns each into a note.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path

from harborctl.alerting import generate as gen
from harborctl.alerting.client import Alert, AlertmanagerClient
from harborctl.alerting.profiles import Profile, RuleWindows, rule_profile
from harborctl.alerting.verdict import parse_counters
from harborctl.demo import scenario
from harborctl.demo.receivers import ReceiverPair
from harborctl.demo.restore import FileSnapshot
from harborctl.demo.tenant import DemoTenant
from harborctl.errors import HarborHookError, NotFound
from harborctl.settings import Settings
from harborctl.telemetry.prometheus import PrometheusAdminClient

SETTLE_TIMEOUT = 30.0  # seconds for the demo's deliveries to be final
INTERRUPTED_SETTLE = 15.0  # the same when the run was interrupted
RATIO = "harborhook:delivery_error_ratio:rate"  # the recordings' name, before their window


def restore_rules(settings: Settings, snapshot: FileSnapshot, rule_files: Sequence[Path]) -> None:
    """The rule files as ``snapshot`` holds them, Prometheus reloaded, and the demo's alerts
    resolved in Alertmanager."""
    snapshot.restore(list(rule_files))
    gen.reload_prometheus(settings.prometheus_url)
    resolve_demo_alerts(settings.alertmanager_url)


def resolve_demo_alerts(alertmanager_url: str) -> None:
    """Alerts of the demo profile Alertmanager still holds (Prometheus would let them
    lapse only minutes later) resolved now, before the operator's config is back."""
    now = datetime.now(UTC)
    with AlertmanagerClient(alertmanager_url) as client:
        held = client.alerts([scenario.DEMO_PROFILE_MATCHER])
        if held:
            client.post_alerts(
                [
                    Alert(
                        labels=a.get("labels") or {},
                        annotations=a.get("annotations") or {},
                        starts_at=datetime.fromisoformat(
                            str(a.get("startsAt")).replace("Z", "+00:00")
                        ),
                        ends_at=now,
                    )
                    for a in held
                ]
            )


def restore_alertmanager(settings: Settings, snapshot: FileSnapshot, files: Sequence[Path]) -> None:
    """The demo receiver removed (when there), then ``files`` (and directories) as
    ``snapshot`` holds them; Alertmanager reloaded when any was put back."""
    with suppress(NotFound):
        gen.remove_receiver(settings, scenario.DEMO_RECEIVER)
    if snapshot.restore(list(files)):
        with AlertmanagerClient(settings.alertmanager_url) as client:
            client.reload()


def retire_tenant(
    tenant: DemoTenant,
    receivers: ReceiverPair,
    *,
    interrupted: bool,
    note: Callable[[str], None],
) -> None:
    """Once nothing of the demo is pending (``SETTLE_TIMEOUT``, or ``INTERRUPTED_SETTLE``
    seconds; else a note): the tenant's endpoints deleted, so no later delivery counts.
    Interrupted, its receiver paths are healed and its DLQ replayed first, to let whatever is
    pending land."""
    if interrupted:
        for demo in scenario.ENDPOINTS:
            with suppress(HarborHookError):
                receivers.switch(demo.path, scenario.HEALED_BEHAVIOUR)
        if scenario.DEAD in tenant.endpoints:
            with suppress(HarborHookError):
                tenant.replay_dead()
    if not tenant.settle(INTERRUPTED_SETTLE if interrupted else SETTLE_TIMEOUT):
        note(
            f"{tenant.pending()} of the demo's deliveries are still pending: with its "
            "receiver gone they will fail and count against the error budget"
        )
    for endpoint_id in tenant.endpoints.values():
        with suppress(HarborHookError):
            tenant.api.delete_endpoint(tenant.tenant_id, endpoint_id)


def delete_series(
    settings: Settings,
    tenant_id: str,
    endpoint_ids: Iterable[str],
    demo_rules_since: float | None,
    note: Callable[[str], None],
) -> None:
    """The demo's own series out of Prometheus: its tenant's and endpoints', its alerts,
    the recordings only the demo profile makes, and what the normal-window recordings
    held while the demo profile computed them (since ``demo_rules_since``, Unix seconds).
    A note when Prometheus runs without its admin API."""
    normal = RuleWindows().ratio_windows
    demo_only = [
        w for w in rule_profile(Profile.demo, settings.alerting).windows.ratio_windows
        if w not in normal
    ]  # fmt: skip
    endpoints = "|".join(sorted(endpoint_ids))
    selectors = [
        f'{{tenant_id="{tenant_id}"}}',
        f'{{__name__=~"{RATIO}({"|".join(demo_only)})"}}',
        f'{{__name__=~"ALERTS|ALERTS_FOR_STATE", {scenario.DEMO_PROFILE_MATCHER}}}',
    ]
    if endpoints:
        selectors.append(f'{{endpoint_id=~"{endpoints}"}}')
    with PrometheusAdminClient(settings.prometheus_url) as prometheus:
        deleted = prometheus.delete_series(selectors)
        if deleted and demo_rules_since is not None:
            prometheus.delete_series(
                [f'{{__name__=~"{RATIO}({"|".join(normal)})"}}'],
                start=demo_rules_since,
                end=time.time(),
            )
    if not deleted:
        note(
            "Prometheus runs without --web.enable-admin-api: the demo's deliberate "
            "errors stay in its data, and the normal burn-rate rules may alert on them "
            "for up to their longest window (restart the stack with a newer harborctl)"
        )


def failed_notifications(alertmanager_url: str) -> dict[str, float]:
    """Alertmanager's count of notifications it gave up on, per integration ({} when it
    cannot be read)."""
    with suppress(HarborHookError), AlertmanagerClient(alertmanager_url) as am:
        counters = parse_counters(am.metrics_text())
        return {name: c.notifications_failed for name, c in counters.items()}
    return {}


def failed_notifications_note(
    before: Mapping[str, float], after: Mapping[str, float]
) -> str | None:
    """What to tell when Alertmanager gave up on notifications between the two counts of
    ``failed_notifications``; None when it gave up on none."""
    grown = {k: v - before.get(k, 0.0) for k, v in after.items()}
    failed = {k: v for k, v in grown.items() if v > 0}
    if not failed:
        return None
    counted = ", ".join(f"{v:g} {k}" for k, v in sorted(failed.items()))
    return (
        f"Alertmanager gave up on notifications while the demo ran ({counted}): "
        "HarborHookNotificationsFailing will say so; `harborctl alerts send-test` "
        "shows each receiver's error"
    )
