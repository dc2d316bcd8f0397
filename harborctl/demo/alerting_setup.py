"""Alerting switched to the demo for the length of a run, each change registered with the step
that undoes it (``harborctl.demo.restore.Changes``; the steps are ``harborctl.demo.cleanup``'s).

Alertmanager gets the demo receiver (`alerts set-webhook`'s logic, name ``harborhook-demo``,
posting to the demo's recorder) and a config sending only the driven alert of the demo
profile, to it and the --notify receivers; the rules switch to the demo profile and
Prometheus reloads them. The files changed are snapshotted first, byte for byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path

from harborctl.alerting import generate as gen
from harborctl.alerting.profiles import Profile
from harborctl.alerting.receivers import Severity, WebhookReceiver
from harborctl.alerting.store import load_receivers
from harborctl.demo import cleanup, scenario
from harborctl.demo.restore import Changes, FileSnapshot
from harborctl.layout import StateLayout
from harborctl.settings import Settings

RULE_FILES = ("harborhook-slo.yml", "harborhook-operations.yml")  # in the layout's rules dir


def remove_leftover_receiver(settings: Settings, note: Callable[[str], None]) -> None:
    """A demo killed before it could clean up left its receiver: remove it first."""
    names = [r.name for r in load_receivers(settings.layout)]
    if scenario.DEMO_RECEIVER in names:
        note(f"removing the receiver {scenario.DEMO_RECEIVER} an earlier demo left behind")
        gen.remove_receiver(settings, scenario.DEMO_RECEIVER)


def _rule_files(layout: StateLayout) -> list[Path]:
    return [layout.rules_dir / name for name in RULE_FILES]


def _alertmanager_files(layout: StateLayout) -> list[Path]:
    """Alertmanager's config, the receivers and the demo receiver's secret."""
    return [
        layout.alertmanager_config,
        layout.receivers_file,
        layout.secret_file(scenario.DEMO_RECEIVER),
    ]


def _directories(layout: StateLayout) -> list[Path]:
    """Where those files live: the switch may create them."""
    return [layout.secrets_dir, layout.alerting_dir]


def take_snapshot(settings: Settings) -> FileSnapshot:
    """The files the switch changes, as they are, and which of their directories do not
    exist yet."""
    layout = settings.layout
    return FileSnapshot.take(
        [*_rule_files(layout), *_alertmanager_files(layout)],
        dirs=[layout.alerting_dir, layout.secrets_dir],
    )


def switch_to_demo(
    settings: Settings,
    snapshot: FileSnapshot,
    changes: Changes,
    recorder_url: str,
    notify: Sequence[str],
) -> float:
    """Alertmanager sends only the driven alert, to the recorder at ``recorder_url`` and the
    receivers ``notify``; the rules are the demo profile's. Each change is added to
    ``changes`` (undone to ``snapshot``, from ``take_snapshot``) before it is made. Answers
    when the demo rules were written (Unix seconds: from then on the recordings are the demo
    profile's). Errors are the generator's and clients' (``HarborHookError``)."""
    rule_files = _rule_files(settings.layout)
    am_files = [*_alertmanager_files(settings.layout), *_directories(settings.layout)]
    changes.add("alertmanager", lambda: cleanup.restore_alertmanager(settings, snapshot, am_files))
    gen.set_receiver(
        settings,
        WebhookReceiver(name=scenario.DEMO_RECEIVER, severity=Severity.all),
        recorder_url,
    )
    gen.notify_only(
        settings,
        [scenario.DEMO_RECEIVER, *notify],
        [f'alertname="{scenario.DRIVEN_ALERT}"', scenario.DEMO_PROFILE_MATCHER],
        Profile.demo,
    )
    changes.add("rules", lambda: cleanup.restore_rules(settings, snapshot, rule_files))
    since = time.time()
    gen.write_rule_files(settings, Profile.demo)
    gen.reload_prometheus(settings.prometheus_url)
    return since
