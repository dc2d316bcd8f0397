"""Percentiles and rates for the bench's figures (pure)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of an ascending list; 0.0 when empty.

    The smallest value with at least ``q`` of the values at or below it, so p99 of 100
    values is the 99th, and p100 the maximum.
    """
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True)
class Latency:
    """Milliseconds: count, p50, p95, p99, max."""

    count: int
    p50: float
    p95: float
    p99: float
    max: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def latency_ms(seconds: Iterable[float]) -> Latency | None:
    """Percentiles (ms, rounded to 0.01) of durations in seconds; None when there are none."""
    values = sorted(seconds)
    if not values:
        return None

    def ms(value: float) -> float:
        return round(value * 1000, 2)

    return Latency(
        count=len(values),
        p50=ms(percentile(values, 0.50)),
        p95=ms(percentile(values, 0.95)),
        p99=ms(percentile(values, 0.99)),
        max=ms(values[-1]),
    )


def rate(count: int, seconds: float) -> float:
    """``count`` per second over ``seconds`` (0.0 for an empty window), rounded to 0.1."""
    return round(count / seconds, 1) if seconds > 0 else 0.0
