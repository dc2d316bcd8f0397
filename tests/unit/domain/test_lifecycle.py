"""An endpoint's lifecycle, the pure rules: which secrets sign when, and what an attempt's
result does to its endpoint (failing since, recovered, disabled for 410 or for failing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from harborctl.domain.lifecycle import (
    DEFAULT_FAILING_PERIOD,
    HealthChange,
    judge_health,
    previous_secret_expired,
    signing_secrets,
)
from harborctl.domain.models import DisabledReason
from harborctl.domain.signing import generate_secret, signature_headers

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NEW = generate_secret()


def health(
    ok: bool = False,
    status: int | None = 500,
    failing_since: datetime | None = None,
    period: timedelta | None = DEFAULT_FAILING_PERIOD,
) -> HealthChange:
    return judge_health(
        ok=ok, http_status=status, failing_since=failing_since, now=NOW, failing_period=period
    )


def test_the_default_failing_period_is_five_days() -> None:
    assert timedelta(days=5) == DEFAULT_FAILING_PERIOD


def test_a_success_on_a_healthy_endpoint_changes_nothing() -> None:
    assert health(ok=True, status=200) is HealthChange.NONE


def test_a_success_ends_a_failing_period() -> None:
    assert health(ok=True, status=204, failing_since=NOW - timedelta(days=4)) is (
        HealthChange.RECOVERED
    )


@pytest.mark.parametrize("status", [500, 503, 429, 404, None])
def test_the_first_failure_after_a_success_starts_the_failing_period(status: int | None) -> None:
    assert health(status=status) is HealthChange.STARTED_FAILING


def test_a_410_disables_at_once_whatever_the_history() -> None:
    assert health(status=410) is HealthChange.DISABLE_GONE
    assert health(status=410, failing_since=NOW - timedelta(seconds=1)) is (
        HealthChange.DISABLE_GONE
    )
    assert health(status=410, period=None) is HealthChange.DISABLE_GONE
    assert HealthChange.DISABLE_GONE.disabled_reason is DisabledReason.GONE


def test_failing_for_the_whole_period_disables_not_a_moment_before() -> None:
    just_short = NOW - DEFAULT_FAILING_PERIOD + timedelta(seconds=1)
    assert health(failing_since=just_short) is HealthChange.NONE
    assert health(failing_since=NOW - DEFAULT_FAILING_PERIOD) is HealthChange.DISABLE_FAILING
    assert HealthChange.DISABLE_FAILING.disabled_reason is DisabledReason.FAILING
    assert HealthChange.NONE.disabled_reason is None


def test_without_a_failing_period_failing_never_disables() -> None:
    assert health(failing_since=NOW - timedelta(days=365), period=None) is HealthChange.NONE


def test_the_previous_secret_signs_until_its_overlap_ends() -> None:
    until = NOW + timedelta(hours=24)
    assert signing_secrets(NEW, OLD, until, NOW) == (NEW, OLD)
    assert signing_secrets(NEW, OLD, until, until - timedelta(microseconds=1)) == (NEW, OLD)
    assert signing_secrets(NEW, OLD, until, until) == (NEW,)
    assert signing_secrets(NEW, None, None, NOW) == (NEW,)
    assert not previous_secret_expired(OLD, until, NOW)
    assert previous_secret_expired(OLD, until, until)
    assert not previous_secret_expired(None, None, NOW)


def test_during_the_overlap_the_reference_verifier_accepts_old_and_new_secret() -> None:
    """Standard Webhooks' own library, as a receiver would use it, on our headers."""
    body = b'{"order_id": 42}'
    msg_id = "evt_1"
    now = int(datetime.now(UTC).timestamp())  # the library checks the timestamp against now
    both = signature_headers(
        signing_secrets(NEW, OLD, NOW + timedelta(hours=1), NOW), msg_id, now, body
    )
    assert len(both["webhook-signature"].split(" ")) == 2
    for secret in (OLD, NEW):
        assert Webhook(secret).verify(body, both) == {"order_id": 42}
    after = signature_headers(signing_secrets(NEW, OLD, NOW, NOW), msg_id, now, body)
    assert Webhook(NEW).verify(body, after) == {"order_id": 42}
    with pytest.raises(WebhookVerificationError):
        Webhook(OLD).verify(body, after)
