"""What a soak does: its load, its stack, and the faults it injects on a schedule (pure).

``fault_schedule(load_seconds, workers=, nsqd_nodes=)`` spreads rounds of the five faults
evenly over the load, after ``LEAD_SECONDS`` of steady load and ending ``TAIL_SECONDS``
before it stops, one fault at a time::

    worker_kill       SIGKILL one worker (supervisord or supervisorctl starts it again)
    nsqd_restart      stop one nsqd, hold it down, start it again
    nsqd_disk_spill   stop every worker while the load goes on, so the topic's and channel's
                      depth passes nsqd's --mem-queue-size and messages go to disk; start them
    postgres_restart  stop PostgreSQL (fast shutdown), hold it down, start it again
    receiver_outage   stop the receiver, hold it down, start it again on the same port

Rounds repeat as long as the load leaves each fault ``MIN_SLOT_SECONDS``; each round
targets the next worker and the next nsqd node. ``SoakPlanError`` when the load is too short
for one round.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from harborctl.errors import ValidationError
from harborctl.stack.components import numbered


class FaultKind(StrEnum):
    WORKER_KILL = "worker_kill"
    NSQD_RESTART = "nsqd_restart"
    DISK_SPILL = "nsqd_disk_spill"
    POSTGRES_RESTART = "postgres_restart"
    RECEIVER_OUTAGE = "receiver_outage"


# one round, in order: the quick faults first, the longest outage last
ROUND: tuple[FaultKind, ...] = (
    FaultKind.WORKER_KILL,
    FaultKind.NSQD_RESTART,
    FaultKind.DISK_SPILL,
    FaultKind.POSTGRES_RESTART,
    FaultKind.RECEIVER_OUTAGE,
)
# seconds the target stays down (a killed worker: supervisord restarts it at once)
HOLD_SECONDS: Mapping[FaultKind, float] = {
    FaultKind.WORKER_KILL: 0.0,
    FaultKind.NSQD_RESTART: 3.0,
    FaultKind.DISK_SPILL: 6.0,
    FaultKind.POSTGRES_RESTART: 5.0,
    FaultKind.RECEIVER_OUTAGE: 8.0,
}
LEAD_SECONDS = 8.0
TAIL_SECONDS = 8.0
MIN_SLOT_SECONDS = 11.0  # the longest hold plus time to come back and settle

# the soak stack's nsqd keeps this many messages per topic and channel in memory
SOAK_MEM_QUEUE_SIZE = 200
DEFAULT_LOAD_MINUTES = 1.5
DEFAULT_EVENTS_PER_SECOND = 100.0
DEFAULT_DRAIN_SECONDS = 150.0
DEFAULT_WORKERS = 3
DEFAULT_NSQD_NODES = 2

# The soak stack's tuning (HARBORHOOK_* variables): the same code as production, shorter
# waits, so a CI-sized run drains in minutes. Retries 0.5, 1, 2, 4, 6, 6... s; a killed
# worker's leases run out after 10 s; deliveries left queued are republished after 10 s; an
# open circuit is tried again after 3 s; a hanging receiver is given up on after 3 s.
SOAK_TUNING: Mapping[str, str] = {
    "HARBORHOOK_RETRY_BASE_SECONDS": "0.5",
    "HARBORHOOK_RETRY_FACTOR": "2",
    "HARBORHOOK_RETRY_CAP_SECONDS": "6",
    "HARBORHOOK_DELIVERY_LEASE_SECONDS": "10",
    "HARBORHOOK_RECONCILE_AFTER_SECONDS": "10",
    "HARBORHOOK_RECONCILE_INTERVAL_SECONDS": "3",
    "HARBORHOOK_BREAKER_COOLDOWN_SECONDS": "3",
    "HARBORHOOK_TOTAL_TIMEOUT": "3",
    "HARBORHOOK_WORKER_SHUTDOWN_GRACE": "10",
    "HARBORHOOK_LOG_LEVEL": "WARNING",
}


class SoakPlanError(ValidationError):
    """A soak that cannot run as asked (too short for its faults, bad counts)."""


@dataclass(frozen=True)
class ScheduledFault:
    """``at`` seconds after the load starts, do ``kind`` to ``target`` and keep it down for
    ``hold`` seconds."""

    at: float
    kind: FaultKind
    target: str
    hold: float


@dataclass(frozen=True)
class SoakPlan:
    """One soak: ``events_per_second`` for ``load_seconds``, then at most ``drain_seconds``
    for the pipeline to drain; the stack's shape and tuning; the faults."""

    events_per_second: float = DEFAULT_EVENTS_PER_SECOND
    load_seconds: float = DEFAULT_LOAD_MINUTES * 60
    drain_seconds: float = DEFAULT_DRAIN_SECONDS
    workers: int = DEFAULT_WORKERS
    nsqd_nodes: int = DEFAULT_NSQD_NODES
    mem_queue_size: int = SOAK_MEM_QUEUE_SIZE
    tuning: Mapping[str, str] = field(default_factory=lambda: dict(SOAK_TUNING))

    @property
    def events(self) -> int:
        """How many events the load publishes (its bound in count)."""
        return max(1, int(self.events_per_second * self.load_seconds))

    def faults(self) -> list[ScheduledFault]:
        return fault_schedule(self.load_seconds, workers=self.workers, nsqd_nodes=self.nsqd_nodes)


def minimum_load_seconds() -> float:
    """The shortest load with one round of faults."""
    return LEAD_SECONDS + TAIL_SECONDS + len(ROUND) * MIN_SLOT_SECONDS


def fault_schedule(load_seconds: float, *, workers: int, nsqd_nodes: int) -> list[ScheduledFault]:
    """The faults of a load of ``load_seconds`` (module docstring), in time order.

    Raises SoakPlanError when the load is shorter than ``minimum_load_seconds()`` or there
    is no worker or nsqd node to target.
    """
    if workers < 1 or nsqd_nodes < 1:
        raise SoakPlanError("workers", "a soak needs at least one worker and one nsqd node")
    usable = load_seconds - LEAD_SECONDS - TAIL_SECONDS
    per_round = len(ROUND) * MIN_SLOT_SECONDS
    if usable < per_round:
        raise SoakPlanError(
            "minutes",
            f"a load of {load_seconds:g} s is too short for one round of faults: "
            f"at least {minimum_load_seconds():g} s",
        )
    rounds = int(usable // per_round)
    count = rounds * len(ROUND)
    slot = usable / count
    faults = []
    for index in range(count):
        kind = ROUND[index % len(ROUND)]
        turn = index // len(ROUND)
        faults.append(
            ScheduledFault(
                at=round(LEAD_SECONDS + index * slot, 3),
                kind=kind,
                target=_target(kind, turn, workers, nsqd_nodes),
                hold=HOLD_SECONDS[kind],
            )
        )
    return faults


def _target(kind: FaultKind, turn: int, workers: int, nsqd_nodes: int) -> str:
    if kind is FaultKind.WORKER_KILL:
        return numbered("worker", 1 + turn % workers, workers)
    if kind is FaultKind.NSQD_RESTART:
        return numbered("nsqd", 1 + turn % nsqd_nodes, nsqd_nodes)
    if kind is FaultKind.DISK_SPILL:
        return "workers"
    if kind is FaultKind.POSTGRES_RESTART:
        return "postgres"
    return "receiver"
