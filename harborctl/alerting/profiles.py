"""Rule profiles: the same alert rules and notification timing on another time scale (pure).

``normal``
    The rules as the ``slo:``/``alerting:`` spec says: the SRE Workbook's burn-rate windows
    (1h/5m, 6h/30m, 1d/2h, 3d/6h), the spec's ``for`` durations, rule interval and
    Alertmanager timing.
``demo``
    Every time in them divided by ``DEMO_TIME_SCALE`` (60: an hour becomes a minute), so a
    burn-rate alert fires within about a minute of an endpoint burning the error budget and
    resolves within about a minute of its recovery (``harborctl demo``). Thresholds, the
    objective and the SLO window named in the texts stay as they are. Floors keep the result
    computable: a lookback window is at least ``MIN_WINDOW_SECONDS`` (20 s, four scrapes at the
    native stack's 5 s scrape interval: ``rate()`` needs two samples in its window), the rule
    interval at least ``MIN_RULE_INTERVAL_SECONDS`` (evaluating faster than Prometheus scrapes
    sees nothing new), Alertmanager's waits at least one second. Every alert carries the
    label ``profile="demo"``, so its notifications say what they are and Alertmanager can
    tell them apart. The error ratio is recorded over the normal windows as well, so the
    dashboards, which read those recordings, keep drawing.

::

    normal page   1h / 5m   14.4x      demo page   1m / 20s    14.4x
           page   6h / 30m   6x             page   6m / 30s     6x
           ticket 1d / 2h    3x             ticket 24m / 2m     3x
           ticket 3d / 6h    1x             ticket 1h12m / 6m   1x
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from harborctl.alerting_spec import (
    BURN_WINDOWS,
    RATIO_WINDOWS,
    AlertingSpec,
    BurnWindow,
    ForDurations,
    NotifySpec,
    duration_seconds,
)

DEMO_TIME_SCALE = 60
MIN_WINDOW_SECONDS = 20.0
MIN_RULE_INTERVAL_SECONDS = 5.0
MIN_NOTIFY_SECONDS = 1.0
PROFILE_LABEL = "profile"


class Profile(StrEnum):
    """Which time scale the generated rules and Alertmanager timing use."""

    normal = "normal"
    demo = "demo"


@dataclass(frozen=True)
class RuleWindows:
    """The lookback windows of the rules: the burn-rate pairs, the error-ratio recordings, and
    the fixed lookbacks of the operations rules."""

    burn_windows: tuple[BurnWindow, ...] = BURN_WINDOWS
    ratio_windows: tuple[str, ...] = RATIO_WINDOWS
    rule_failures: str = "10m"  # HarborHookRuleEvaluationFailures
    notifications_failed: str = "10m"  # HarborHookNotificationsFailing
    backlog_growth: str = "10m"  # HarborHookBacklogGrowing (deriv)
    latency: str = "5m"  # HarborHookDeliveryLatencyHigh (p99 over this)


@dataclass(frozen=True)
class RuleProfile:
    """What a profile changes: the alerting spec (``for``, intervals, windows, notify timing),
    the rules' lookback windows, and the labels added to every alert."""

    profile: Profile
    alerting: AlertingSpec
    windows: RuleWindows = RuleWindows()
    labels: dict[str, str] = field(default_factory=dict)


def format_duration(seconds: float) -> str:
    """A Prometheus duration for whole ``seconds``: 4320 → ``1h12m``, 20 → ``20s``, 0 → ``0s``."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(
        f"{amount}{unit}" for amount, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if amount
    )
    return text or "0s"


def scale_duration(value: str, scale: float, floor_seconds: float = 0.0) -> str:
    """``value`` divided by ``scale``, rounded to whole seconds, at least ``floor_seconds``
    (a zero duration stays zero: "fire at once" keeps its meaning)."""
    seconds = duration_seconds(value)
    if seconds == 0:
        return "0s"
    return format_duration(max(seconds / scale, floor_seconds, 1.0))


def _window(value: str) -> str:
    return scale_duration(value, DEMO_TIME_SCALE, MIN_WINDOW_SECONDS)


def _demo_alerting(alerting: AlertingSpec) -> AlertingSpec:
    scaled_for = {
        name: scale_duration(getattr(alerting.for_, name), DEMO_TIME_SCALE)
        for name in ForDurations.model_fields
    }
    notify = alerting.notify
    scaled_notify = {
        name: scale_duration(getattr(notify, name), DEMO_TIME_SCALE, MIN_NOTIFY_SECONDS)
        for name in NotifySpec.model_fields
        if name != "group_by"
    }
    return alerting.model_copy(
        update={
            "for_": alerting.for_.model_copy(update=scaled_for),
            "notify": notify.model_copy(update=scaled_notify),
            "rule_interval": scale_duration(
                alerting.rule_interval, DEMO_TIME_SCALE, MIN_RULE_INTERVAL_SECONDS
            ),
            "dlq_spike_window": _window(alerting.dlq_spike_window),
            "stalled_window": _window(alerting.stalled_window),
            "endpoint_disabled_window": _window(alerting.endpoint_disabled_window),
        }
    )


def _demo_windows() -> RuleWindows:
    normal = RuleWindows()
    burn = tuple(
        BurnWindow(w.severity, _window(w.long), _window(w.short), w.factor)
        for w in normal.burn_windows
    )
    return RuleWindows(
        burn_windows=burn,
        # the normal windows are recorded too: the dashboards read them
        ratio_windows=tuple(
            dict.fromkeys([*(_window(w) for w in normal.ratio_windows), *normal.ratio_windows])
        ),
        rule_failures=_window(normal.rule_failures),
        notifications_failed=_window(normal.notifications_failed),
        backlog_growth=_window(normal.backlog_growth),
        latency=_window(normal.latency),
    )


def rule_profile(profile: Profile, alerting: AlertingSpec) -> RuleProfile:
    """The spec, windows and labels the rules and alertmanager.yml are generated from."""
    if profile is Profile.normal:
        return RuleProfile(profile, alerting)
    return RuleProfile(
        profile, _demo_alerting(alerting), _demo_windows(), {PROFILE_LABEL: profile.value}
    )
