"""What an attempt does to its endpoint, performed: the store is written only when the
endpoint's state changes, a disable is counted once, and a lost race is not a disable."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prometheus_client import generate_latest

from harborctl.domain.attempt import AttemptResult
from harborctl.domain.models import DisabledReason, Endpoint, FailureReason
from harborctl.observability.metrics import Metrics
from harborctl.services.lifecycle import EndpointLifecycle
from harborctl.store.admin import AdminRepository

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PERIOD = timedelta(days=5)
ENDPOINT = Endpoint("ep_1", "ten_1", "https://x/", None, None, None, NOW, secret="whsec_eA==")
OK = AttemptResult(200, 0.01)
FAILED = AttemptResult(500, 0.01, reason=FailureReason.HTTP_5XX, error="HTTP 500")
GONE = AttemptResult(410, 0.01, reason=FailureReason.HTTP_4XX, error="HTTP 410 Gone")


class RecordingEndpoints:
    """The four writes the service may make, recorded; ``disable_endpoint`` answers as told."""

    def __init__(self, disables: bool = True) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.disables = disables

    def mark_failing(self, endpoint_id: str, now: datetime) -> None:
        self.calls.append(("mark_failing", endpoint_id, now))

    def mark_recovered(self, endpoint_id: str) -> None:
        self.calls.append(("mark_recovered", endpoint_id))

    def drop_previous_secret(self, endpoint_id: str, now: datetime) -> None:
        self.calls.append(("drop_previous_secret", endpoint_id, now))

    def disable_endpoint(
        self, endpoint_id: str, reason: DisabledReason, now: datetime, by: datetime | None
    ) -> bool:
        self.calls.append(("disable_endpoint", endpoint_id, reason, by))
        return self.disables


def run(
    endpoint: Endpoint, result: AttemptResult, store: RecordingEndpoints, metrics: Metrics
) -> DisabledReason | None:
    lifecycle = EndpointLifecycle(cast(AdminRepository, store), metrics, PERIOD)
    return asyncio.run(lifecycle.after_attempt(endpoint, result, NOW))


def disabled_count(metrics: Metrics, reason: str) -> str:
    text = generate_latest(metrics.registry).decode()
    return next(
        line.split()[-1]
        for line in text.splitlines()
        if line.startswith(f'harborhook_endpoints_disabled_total{{reason="{reason}"}}')
    )


def test_a_healthy_endpoint_costs_no_write() -> None:
    store = RecordingEndpoints()
    assert run(ENDPOINT, OK, store, Metrics()) is None
    failing = replace(ENDPOINT, failing_since=NOW - timedelta(days=1))
    assert run(failing, FAILED, store, Metrics()) is None  # failing, within the period
    assert store.calls == []


def test_the_first_failure_and_the_first_success_after_it_are_written() -> None:
    store = RecordingEndpoints()
    run(ENDPOINT, FAILED, store, Metrics())
    run(replace(ENDPOINT, failing_since=NOW), OK, store, Metrics())
    assert store.calls == [("mark_failing", "ep_1", NOW), ("mark_recovered", "ep_1")]


def test_a_410_disables_counts_once_and_kills_the_delivery() -> None:
    metrics = Metrics()
    store = RecordingEndpoints()
    assert run(ENDPOINT, GONE, store, metrics) is DisabledReason.GONE
    assert store.calls == [("disable_endpoint", "ep_1", DisabledReason.GONE, None)]
    assert disabled_count(metrics, "gone") == "1.0"
    # another worker disabled it first: still dead (gone), not counted twice
    assert run(ENDPOINT, GONE, RecordingEndpoints(disables=False), metrics) is DisabledReason.GONE
    assert disabled_count(metrics, "gone") == "1.0"


def test_failing_for_the_period_disables_unless_a_success_came_meanwhile() -> None:
    metrics = Metrics()
    failing = replace(ENDPOINT, failing_since=NOW - PERIOD)
    store = RecordingEndpoints()
    assert run(failing, FAILED, store, metrics) is DisabledReason.FAILING
    assert store.calls == [("disable_endpoint", "ep_1", DisabledReason.FAILING, NOW - PERIOD)]
    assert disabled_count(metrics, "failing") == "1.0"
    lost = RecordingEndpoints(disables=False)
    assert run(failing, FAILED, lost, metrics) is None  # retried as usual
    assert disabled_count(metrics, "failing") == "1.0"


def test_a_previous_secret_is_erased_once_its_overlap_has_ended() -> None:
    store = RecordingEndpoints()
    rotating = replace(ENDPOINT, previous_secret="whsec_eQ==", previous_secret_until=NOW)
    run(rotating, OK, store, Metrics())
    still = replace(rotating, previous_secret_until=NOW + timedelta(seconds=1))
    run(still, OK, store, Metrics())
    assert store.calls == [("drop_previous_secret", "ep_1", NOW)]
