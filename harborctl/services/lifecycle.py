"""What a delivery attempt does to its endpoint: failing since, recovered, disabled.

The rules are the domain's (``harborctl.domain.lifecycle``); this service performs them
after each HTTP attempt: it writes the endpoint's new state, counts
``harborhook_endpoints_disabled_total{reason}`` and logs when it disables one, and erases a
previous secret whose overlap has ended. A healthy endpoint costs nothing: the store is
written only when the endpoint's state changes (first failure, first success after
failures, disabled, a previous secret expired).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from harborctl.domain.attempt import AttemptResult
from harborctl.domain.lifecycle import HealthChange, judge_health, previous_secret_expired
from harborctl.domain.models import DisabledReason, Endpoint
from harborctl.observability.metrics import Metrics
from harborctl.store.admin import AdminRepository

log = logging.getLogger(__name__)


class EndpointLifecycle:
    """Performs what attempts change on their endpoints (see the module)."""

    def __init__(
        self,
        endpoints: AdminRepository,
        metrics: Metrics,
        failing_period: timedelta | None,
    ) -> None:
        """``failing_period`` None never disables an endpoint for failing (410 still does)."""
        self.endpoints = endpoints
        self.metrics = metrics
        self.failing_period = failing_period

    async def after_attempt(
        self, endpoint: Endpoint, result: AttemptResult, now: datetime
    ) -> DisabledReason | None:
        """Record what the attempt that ended at ``now`` changes on ``endpoint`` (as loaded
        for it); the reason when the endpoint is disabled now, so the delivery is dead with
        reason ``endpoint_disabled`` instead of being retried."""
        if previous_secret_expired(endpoint.previous_secret, endpoint.previous_secret_until, now):
            await asyncio.to_thread(self.endpoints.drop_previous_secret, endpoint.id, now)
        change = judge_health(
            ok=result.ok,
            http_status=result.http_status,
            failing_since=endpoint.failing_since,
            now=now,
            failing_period=self.failing_period,
        )
        if change is HealthChange.NONE:
            return None
        if change is HealthChange.STARTED_FAILING:
            await asyncio.to_thread(self.endpoints.mark_failing, endpoint.id, now)
            return None
        if change is HealthChange.RECOVERED:
            await asyncio.to_thread(self.endpoints.mark_recovered, endpoint.id)
            return None
        reason = change.disabled_reason
        assert reason is not None
        by = now - self.failing_period if self.failing_period is not None else None
        disabled = await asyncio.to_thread(
            self.endpoints.disable_endpoint,
            endpoint.id,
            reason,
            now,
            by if reason is DisabledReason.FAILING else None,
        )
        if disabled:
            self.metrics.endpoint_disabled(reason.value)
            log.warning(
                "endpoint %s disabled (%s): %s",
                endpoint.id,
                reason.value,
                "the receiver answered 410 Gone"
                if reason is DisabledReason.GONE
                else f"no successful attempt since {endpoint.failing_since}",
            )
        elif reason is DisabledReason.FAILING:
            return None  # a success came meanwhile (or it was disabled already): retry as usual
        return reason
