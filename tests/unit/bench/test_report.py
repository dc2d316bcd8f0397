"""The bench's figures from recorded publishes and arrivals (pure)."""

from __future__ import annotations

import pytest

from harborctl.bench.load import PublishLog
from harborctl.bench.procstat import Usage
from harborctl.bench.report import (
    cpu_figures,
    delivery_figures,
    expected_deliveries,
    process_rows,
    publish_figures,
)
from harborctl.bench.stats import latency_ms, percentile, rate


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.5) == 7
    assert percentile([], 0.5) == 0.0
    assert latency_ms([]) is None
    found = latency_ms([0.001, 0.002, 0.010])
    assert found is not None and (found.p50, found.max, found.count) == (2.0, 10.0, 3)
    assert rate(10, 0.0) == 0.0 and rate(10, 4.0) == 2.5


def _log() -> PublishLog:
    log = PublishLog(started=100.0)
    log.add(100.0, 100.010, 202, "evt_a", 2)
    log.add(100.5, 100.530, 202, "evt_b", 2)  # due at 100.5 (open loop), answered 30 ms later
    log.add(101.0, 101.001, 429)
    log.add(101.0, 101.002, 503)
    log.add(101.5, 102.000, 0, error="ServerDisconnectedError: gone")
    return log


def test_publish_figures_keep_refusals_and_errors_apart() -> None:
    figures = publish_figures(_log())
    assert (figures["sent"], figures["accepted"], figures["refused"], figures["errors"]) == (
        5,
        2,
        2,
        1,
    )
    assert figures["seconds"] == pytest.approx(0.53)
    assert figures["accepted_per_second"] == pytest.approx(3.8)
    assert figures["latency_ms"]["max"] == pytest.approx(30.0)
    assert figures["refused_latency_ms"]["count"] == 2
    assert figures["first_errors"] == ["ServerDisconnectedError: gone"]


def test_deliveries_match_arrivals_to_accepted_events_per_endpoint() -> None:
    log = _log()
    arrivals = {
        ("/hh/0", "evt_a"): 100.005,  # before the 202 reached the bench: first attempt 0
        ("/hh/1", "evt_a"): 100.110,
        ("/hh/0", "evt_b"): 100.730,
        ("/hh/0", "evt_x"): 101.000,  # an event the bench never saw accepted
    }
    figures = delivery_figures(log, arrivals, ["/hh/0", "/hh/1"])
    assert expected_deliveries(log) == 4
    assert (figures["expected"], figures["received"], figures["unmatched"]) == (4, 3, 1)
    assert figures["complete"] is False
    assert figures["first_attempt_ms"]["p50"] == pytest.approx(100.0)
    assert figures["first_attempt_ms"]["max"] == pytest.approx(200.0)
    # end to end from when each publish was due: 5 ms, 110 ms, 230 ms
    assert figures["end_to_end_ms"]["p50"] == pytest.approx(110.0)
    assert figures["end_to_end_ms"]["max"] == pytest.approx(230.0)
    assert figures["seconds"] == pytest.approx(0.73)


def test_without_arrivals_the_workers_count_and_no_latency_is_claimed() -> None:
    figures = delivery_figures(_log(), None, [], counted=4, settled=102.0)
    assert figures["received"] == 4 and figures["complete"] is True
    assert figures["first_attempt_ms"] is None and figures["end_to_end_ms"] is None
    assert figures["per_second"] == 2.0  # 4 seen by 2 s after the start


def _usage(name: str, cpu: float | None) -> Usage:
    return Usage(name, 1, cpu, 10 * 2**20, 12 * 2**20 if cpu is not None else None, 13 * 2**20, 1)


def test_cpu_per_delivery_counts_only_the_stack() -> None:
    roles = {
        "ingest": ("ingest", "stack"),
        "worker-1": ("worker", "stack"),
        "worker-2": ("worker", "stack"),
        "postgres": ("postgres", "stack"),
        "prometheus": ("prometheus", "observability"),
        "receiver": ("receiver", "receiver"),
        "bench": ("bench", "bench"),
    }
    usages = [
        _usage("ingest", 1.0),
        _usage("worker-1", 1.5),
        _usage("worker-2", 0.5),
        _usage("postgres", 1.0),
        _usage("prometheus", 9.0),
        _usage("receiver", 9.0),
        _usage("bench", 9.0),
    ]
    rows = process_rows(usages, roles, deliveries=1000)
    assert rows[0]["cpu_ms_per_delivery"] == 1.0
    assert rows[0]["memory_mib_end"] == 12.0
    cpu = cpu_figures(rows, deliveries=1000, events=500)
    assert cpu["stack_seconds"] == 4.0
    assert cpu["stack_ms_per_delivery"] == 4.0
    assert cpu["by_kind"]["worker"] == {"cpu_seconds": 2.0, "ms_per_delivery": 2.0}
    assert cpu["ingest_ms_per_event"] == 2.0
    gone = process_rows([_usage("worker-1", None)], roles, deliveries=10)
    assert gone[0]["cpu_seconds"] is None and gone[0]["memory_mib_end"] is None
    assert cpu_figures(gone, 10, 10)["stack_seconds"] is None
