"""The soak's fault schedule and its topology (pure)."""

from __future__ import annotations

import itertools

import pytest

from harborctl.soak.plan import (
    HOLD_SECONDS,
    LEAD_SECONDS,
    MIN_SLOT_SECONDS,
    ROUND,
    TAIL_SECONDS,
    FaultKind,
    SoakPlan,
    SoakPlanError,
    fault_schedule,
    minimum_load_seconds,
)
from harborctl.soak.topology import (
    ENDPOINTS,
    EVENT_TYPES,
    INVOICE,
    ORDER,
    PING,
    PING_EVERY,
    endpoint_by_path,
    event_type_of,
    subscribers,
)


def test_one_round_of_every_fault_in_the_ci_sized_run() -> None:
    faults = fault_schedule(90, workers=3, nsqd_nodes=2)
    assert [f.kind for f in faults] == list(ROUND)
    assert set(ROUND) == set(FaultKind)  # every fault the soak knows is in a round
    assert [f.target for f in faults] == ["worker-1", "nsqd-1", "workers", "postgres", "receiver"]
    assert faults[0].at == LEAD_SECONDS
    assert all(f.hold == HOLD_SECONDS[f.kind] for f in faults)


def test_faults_never_overlap_and_end_before_the_tail() -> None:
    for load in (minimum_load_seconds(), 90, 600, 1800):
        faults = fault_schedule(load, workers=3, nsqd_nodes=2)
        gaps = [b.at - a.at for a, b in itertools.pairwise(faults)]
        assert all(gap >= MIN_SLOT_SECONDS - 1e-6 for gap in gaps), load
        assert all(f.hold < MIN_SLOT_SECONDS for f in faults)
        last = faults[-1]
        assert last.at + MIN_SLOT_SECONDS <= load - TAIL_SECONDS + 1e-6


def test_longer_soaks_repeat_rounds_on_the_next_worker_and_nsqd() -> None:
    faults = fault_schedule(30 * 60, workers=3, nsqd_nodes=2)
    rounds = len(faults) // len(ROUND)
    assert rounds > 1 and len(faults) == rounds * len(ROUND)
    kills = [f.target for f in faults if f.kind is FaultKind.WORKER_KILL]
    restarts = [f.target for f in faults if f.kind is FaultKind.NSQD_RESTART]
    assert kills[:4] == ["worker-1", "worker-2", "worker-3", "worker-1"]
    assert restarts[:3] == ["nsqd-1", "nsqd-2", "nsqd-1"]


def test_single_worker_and_node_are_named_without_a_number() -> None:
    faults = fault_schedule(90, workers=1, nsqd_nodes=1)
    assert faults[0].target == "worker" and faults[1].target == "nsqd"


def test_a_load_too_short_for_one_round_is_refused() -> None:
    with pytest.raises(SoakPlanError) as info:
        fault_schedule(minimum_load_seconds() - 1, workers=3, nsqd_nodes=2)
    assert info.value.field == "minutes"
    with pytest.raises(SoakPlanError):
        SoakPlan(load_seconds=30).faults()


def test_the_plan_bounds_its_events() -> None:
    assert SoakPlan(events_per_second=200, load_seconds=90).events == 18_000


def test_event_types_and_fanout() -> None:
    assert event_type_of(0) == PING and event_type_of(PING_EVERY) == PING
    assert event_type_of(1) == ORDER and event_type_of(2) == INVOICE
    assert {event_type_of(n) for n in range(100)} == set(EVENT_TYPES)
    assert subscribers(ORDER) == ("healthy-1",)
    assert subscribers(INVOICE) == ("healthy-2", "flaky", "slow")
    assert subscribers(PING) == ("healthy-1", "hang")
    assert len(endpoint_by_path()) == len(ENDPOINTS)
    # only the hanging endpoint is meant to end dead
    assert [e.name for e in ENDPOINTS if e.outcome == "dead"] == ["hang"]


def test_the_command_s_defaults_are_the_plan_s() -> None:
    import inspect

    from harborctl.cli.soak import soak
    from harborctl.soak import plan

    defaults = {
        name: parameter.default.default
        for name, parameter in inspect.signature(soak).parameters.items()
        if hasattr(parameter.default, "default")
    }
    assert defaults["minutes"] == plan.DEFAULT_LOAD_MINUTES
    assert defaults["events_per_second"] == plan.DEFAULT_EVENTS_PER_SECOND
    assert defaults["drain_timeout"] == plan.DEFAULT_DRAIN_SECONDS
    assert defaults["workers"] == plan.DEFAULT_WORKERS
    assert defaults["nsqd_nodes"] == plan.DEFAULT_NSQD_NODES
