"""An endpoint's lifecycle: which secrets sign, and what an attempt's result does to it (pure).

Secret rotation: the new secret signs at once; the previous one keeps signing beside it
until the overlap ends, so receivers can switch over without dropping a request. Standard
Webhooks sends every signature in one ``webhook-signature`` header, space separated, and a
receiver accepts the request when any of them verifies ("Signature scheme",
https://www.standardwebhooks.com). Rotating again during an overlap drops the oldest secret
at once: at most two secrets sign.

Health: an endpoint is *failing* from its first failed attempt after its last success.
A receiver answering 410 Gone says the endpoint is gone for good: it is disabled at once
(reason ``gone``). One failing for the whole failing period (default 5 days, as the
webhook platforms operators know do) is disabled too (reason ``failing``). A success ends
the failing period. Deferred deliveries (open circuit, rate limit) are not attempts and
change nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from harborctl.domain.models import DisabledReason

GONE_STATUS = 410  # RFC 9110 §15.5.11: "no longer available ... likely to be permanent"
DEFAULT_FAILING_PERIOD = timedelta(days=5)
DEFAULT_SECRET_OVERLAP = timedelta(hours=24)
MAX_SECRET_OVERLAP = timedelta(days=30)


class HealthChange(StrEnum):
    """What one attempt's result changes on its endpoint."""

    NONE = "none"
    STARTED_FAILING = "started_failing"  # first failure after a success: failing_since = now
    RECOVERED = "recovered"  # a success while failing: failing_since cleared
    DISABLE_GONE = "disable_gone"
    DISABLE_FAILING = "disable_failing"

    @property
    def disabled_reason(self) -> DisabledReason | None:
        """The reason the endpoint is disabled with, for the two disabling changes."""
        return {
            HealthChange.DISABLE_GONE: DisabledReason.GONE,
            HealthChange.DISABLE_FAILING: DisabledReason.FAILING,
        }.get(self)


def judge_health(
    *,
    ok: bool,
    http_status: int | None,
    failing_since: datetime | None,
    now: datetime,
    failing_period: timedelta | None,
) -> HealthChange:
    """What an attempt that ended at ``now`` changes on its endpoint.

    ``ok``: a 2xx came back; ``http_status`` None when no answer came (timeout, refused);
    ``failing_since`` as the endpoint was loaded for this attempt; ``failing_period`` None
    never disables for failing (410 still does).
    """
    if ok:
        return HealthChange.RECOVERED if failing_since is not None else HealthChange.NONE
    if http_status == GONE_STATUS:
        return HealthChange.DISABLE_GONE
    if failing_since is None:
        return HealthChange.STARTED_FAILING
    if failing_period is not None and now - failing_since >= failing_period:
        return HealthChange.DISABLE_FAILING
    return HealthChange.NONE


def signing_secrets(
    secret: str, previous: str | None, previous_until: datetime | None, now: datetime
) -> tuple[str, ...]:
    """The secrets that sign a request made at ``now``: the current one first, then the
    previous one while its overlap lasts (strictly before ``previous_until``)."""
    if previous and previous_until is not None and now < previous_until:
        return (secret, previous)
    return (secret,)


def previous_secret_expired(
    previous: str | None, previous_until: datetime | None, now: datetime
) -> bool:
    """Whether a stored previous secret no longer signs and can be erased."""
    return previous is not None and (previous_until is None or previous_until <= now)
