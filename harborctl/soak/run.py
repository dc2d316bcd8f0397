"""One soak: a throwaway stack, the receiver, a tenant, the load with its faults, the drain,
the accounting. ``run_soak(plan)`` returns the report as a plain dict (what ``--json``
prints)::

    run         the plan: rate, load, events, the stack's shape and tuning, the endpoints
    publish     accepted, refusals (429/503, by status and by fault window), publishes that
                got no answer, server errors, rejected, abandoned, accepted per second
    faults      each fault: kind, target, when (seconds after the load started), how long,
                its evidence, or the error that kept it from being injected
    deliveries  expected, delivered, dead (by endpoint and reason), lost, duplicates (by
                fault window), unexpected, missing rows (``harborctl.soak.accounting``)
    drain       drained or not, seconds from the end of the last fault, still pending
    workers     each worker's pid and RSS (MiB) at the start and the end
    problems    why the soak failed (``harborctl.soak.verdict``); empty when it passed

The stack (``harborctl.bench.target.throwaway_stack``): PostgreSQL, NSQ with ``nsqd_nodes``
nodes behind nsqlookupd, ``workers`` workers, no Prometheus or Alertmanager, on free
loopback ports in a temporary state dir, deleted afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harborctl.bench.target import StackTarget, ThrowawayOptions, free_ports, throwaway_stack
from harborctl.client import ApiClient
from harborctl.errors import HarborHookError
from harborctl.layout import StateLayout
from harborctl.soak.accounting import (
    Accounting,
    Arrival,
    FaultWindow,
    Row,
    account,
    attribute,
    expected_pairs,
)
from harborctl.soak.faults import FaultInjector, InjectedFault
from harborctl.soak.load import LoadResult, run_load
from harborctl.soak.observe import delivery_rows, pending_deliveries, rss_bytes
from harborctl.soak.plan import ScheduledFault, SoakPlan
from harborctl.soak.receiver import ReceiverProcess
from harborctl.soak.topology import (
    ENDPOINTS,
    EVENT_TYPES,
    RATE_LIMIT_RPS,
    endpoint_by_path,
    subscribers,
)
from harborctl.soak.verdict import problems
from harborctl.stack.native import NativeStack
from harborctl.stack.supervisor import SupervisorClient

Say = Callable[[str], None]
Progress = Callable[[str, int, int | None], None]

DRAIN_POLL_SECONDS = 1.0
# a fault's window (accounting): this long before it started, after the delivery timeout
WINDOW_BEFORE_MARGIN = 2.0
WINDOW_AFTER_SECONDS = 10.0
REFUSAL_WINDOW_AFTER = 2.0
MIB = 1024 * 1024


def run_soak(
    plan: SoakPlan, *, say: Say = lambda m: None, progress: Progress | None = None
) -> dict[str, Any]:
    """Run the soak (module docstring). SoakPlanError for a plan that cannot run;
    HarborHookError when the stack or the receiver cannot be set up. A soak that loses
    deliveries still reports (its ``problems`` say so)."""
    schedule = plan.faults()  # refuses a load too short before anything starts
    run_id = f"soak-{int(time.time())}-{os.getpid()}"
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hh-soak-")))
        say("starting the receiver")
        receiver = stack.enter_context(ReceiverProcess(free_ports(1)[0], workdir))
        options = ThrowawayOptions(
            database="postgres",
            transport="nsq",
            workers=plan.workers,
            nsqd_nodes=plan.nsqd_nodes,
            observability=False,
            nsqd_mem_queue_size=plan.mem_queue_size,
            environment=plan.tuning,
        )
        target = stack.enter_context(throwaway_stack(options, say))
        return _soak(plan, schedule, target, receiver, run_id, say, progress)
    raise AssertionError("unreachable")  # pragma: no cover  (ExitStack swallows nothing)


def _soak(
    plan: SoakPlan,
    schedule: list[ScheduledFault],
    target: StackTarget,
    receiver: ReceiverProcess,
    run_id: str,
    say: Say,
    progress: Progress | None,
) -> dict[str, Any]:
    if target.state_dir is None or target.database_url is None:
        raise HarborHookError("the soak's stack did not say where it runs")
    supervisor = NativeStack(StateLayout(target.state_dir)).client
    workers = [process.name for process in target.processes if process.kind == "worker"]
    say("creating the tenant, its endpoints and subscriptions")
    tenant_id, api_key, names = _setup_tenant(target, receiver.url, run_id)
    rss_start = _worker_memory(supervisor, workers)

    injector = FaultInjector(
        supervisor,
        receiver,
        workers=workers,
        nsqd_urls={node.name: node.http_url for node in target.nsqd},
        database_url=target.database_url,
        mem_queue_size=plan.mem_queue_size,
    )
    say(
        f"publishing {plan.events} events at {plan.events_per_second:g}/s, "
        f"{len(schedule)} faults meanwhile"
    )
    url = f"{target.api_url}/v1/tenants/{tenant_id}/events:publish"
    load, injected = asyncio.run(
        _load_with_faults(plan, schedule, injector, url, api_key, run_id, say, progress)
    )

    accepted = [(e.event_id, e.event_type) for e in load.accepted if e.event_id is not None]
    expected = expected_pairs(accepted, {t: subscribers(t) for t in EVENT_TYPES})
    last_fault_end = max((f.ended_at for f in injected), default=load.ended_at)
    say(f"waiting for {len(expected)} deliveries to be delivered or dead")
    drained, pending, drained_at = _drain(target.database_url, tenant_id, len(expected), plan)
    rss_end = _worker_memory(supervisor, workers)

    windows = [FaultWindow(_label(f, load), f.started_at, f.ended_at) for f in injected]
    timeout = float(plan.tuning.get("HARBORHOOK_TOTAL_TIMEOUT", "5"))
    say("counting")
    figures = account(
        expected,
        _arrivals(receiver),
        [
            Row(
                row.event_id,
                names.get(row.endpoint_id, row.endpoint_id),
                row.status,
                row.dead_reason,
            )
            for row in delivery_rows(target.database_url, tenant_id)
        ],
        windows,
        before=timeout + WINDOW_BEFORE_MARGIN,
        after=WINDOW_AFTER_SECONDS,
    )
    report = {
        "run": _run_section(plan, schedule, target, run_id),
        "publish": _publish_section(load, windows),
        "faults": [_fault_row(f, load) for f in injected],
        "deliveries": _deliveries_section(figures),
        "drain": {
            "drained": drained,
            "pending": pending,
            "seconds_after_last_fault": (
                round(drained_at - last_fault_end, 1) if drained_at is not None else None
            ),
            "seconds_after_load": (
                round(drained_at - load.ended_at, 1) if drained_at is not None else None
            ),
        },
        "workers": [
            {
                "name": name,
                "pid_start": rss_start[name][0],
                "pid_end": rss_end[name][0],
                "rss_mib_start": rss_start[name][1],
                "rss_mib_end": rss_end[name][1],
            }
            for name in workers
        ],
    }
    report["problems"] = problems(report)
    return report


async def _load_with_faults(
    plan: SoakPlan,
    schedule: list[ScheduledFault],
    injector: FaultInjector,
    url: str,
    api_key: str,
    run_id: str,
    say: Say,
    progress: Progress | None,
) -> tuple[LoadResult, list[InjectedFault]]:
    """The load and, meanwhile, each fault at its time (in a thread: the faults block)."""

    def published(done: int, total: int) -> None:
        if progress:
            progress("accepted", done, total)

    start = time.time()
    load = asyncio.create_task(
        run_load(
            url,
            api_key,
            rate=plan.events_per_second,
            events=plan.events,
            run_id=run_id,
            progress=published,
        )
    )
    injected: list[InjectedFault] = []
    try:
        for fault in schedule:
            delay = start + fault.at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            say(f"fault {len(injected) + 1}/{len(schedule)}: {fault.kind.value} {fault.target}")
            injected.append(await asyncio.to_thread(injector.inject, fault))
        say("load: finishing (every publish settled)")
        return await load, injected
    finally:
        if not load.done():
            load.cancel()


def _setup_tenant(
    target: StackTarget, receiver_url: str, run_id: str
) -> tuple[str, str, dict[str, str]]:
    """(tenant id, its API key, endpoint id → soak endpoint name)."""
    with ApiClient(target.api_url, target.admin_key, key_source="the stack's admin key") as admin:
        tenant = admin.create_tenant(run_id)
        tenant_id, api_key = str(tenant["tenant_id"]), str(tenant["api_key"])
        names: dict[str, str] = {}
        for endpoint in ENDPOINTS:
            made = admin.create_endpoint(
                tenant_id,
                receiver_url + endpoint.path,
                description=f"soak: {endpoint.answers}",
                rate_limit_rps=RATE_LIMIT_RPS,
                max_attempts=endpoint.max_attempts,
                breaker_failure_threshold=endpoint.breaker_failure_threshold,
            )
            row = made["endpoint"]
            if not isinstance(row, dict):
                raise HarborHookError(f"the API answered an endpoint without an id: {made}")
            endpoint_id = str(row["endpoint_id"])
            names[endpoint_id] = endpoint.name
            for event_type in endpoint.event_types:
                admin.create_subscription(tenant_id, endpoint_id, event_type)
    return tenant_id, api_key, names


def _drain(
    database_url: str, tenant_id: str, expected: int, plan: SoakPlan
) -> tuple[bool, int, float | None]:
    """Poll the database until every expected delivery row exists and is delivered or dead,
    at most ``plan.drain_seconds``: (drained, pending at the end, when it drained)."""
    deadline = time.monotonic() + plan.drain_seconds
    pending = expected
    while True:
        counts = pending_deliveries(database_url, tenant_id)
        if counts is not None:
            rows, open_rows = counts
            pending = open_rows + max(0, expected - rows)
            if pending == 0:
                return True, 0, time.time()
        if time.monotonic() >= deadline:
            return False, pending, None
        time.sleep(DRAIN_POLL_SECONDS)


def _arrivals(receiver: ReceiverProcess) -> list[Arrival]:
    paths = endpoint_by_path()
    return [
        Arrival(record.webhook_id, paths[record.path], record.at, record.status)
        for record in receiver.records()
        if record.webhook_id is not None and record.path in paths
    ]


def _worker_memory(
    supervisor: SupervisorClient, workers: list[str]
) -> dict[str, tuple[int | None, float | None]]:
    processes = supervisor.processes()
    memory: dict[str, tuple[int | None, float | None]] = {}
    for name in workers:
        info = processes.get(name)
        pid = info.pid if info else None
        rss = rss_bytes(pid) if pid else None
        memory[name] = (pid, round(rss / MIB, 1) if rss is not None else None)
    return memory


def _label(fault: InjectedFault, load: LoadResult) -> str:
    return f"{fault.label} at {fault.started_at - load.started_at:.0f}s"


def _fault_row(fault: InjectedFault, load: LoadResult) -> dict[str, Any]:
    return {
        "kind": fault.kind.value,
        "target": fault.target,
        "scheduled_at_seconds": fault.scheduled_at,
        "at_seconds": round(fault.started_at - load.started_at, 1),
        "seconds": round(fault.ended_at - fault.started_at, 1),
        "detail": fault.detail,
        "error": fault.error,
    }


def _publish_section(load: LoadResult, windows: list[FaultWindow]) -> dict[str, Any]:
    by_fault: Counter[str] = Counter(
        attribute(at, windows, before=0.0, after=REFUSAL_WINDOW_AFTER) or "no fault"
        for at in load.refused_at
    )
    seconds = max(load.ended_at - load.started_at, 1e-9)
    accepted = len(load.accepted)
    return {
        "planned": len(load.events),
        "accepted": accepted,
        "accepted_per_second": round(accepted / seconds, 1),
        "seconds": round(seconds, 1),
        "retried_events": sum(1 for e in load.events if e.tries > 1),
        "refusals": {str(status): n for status, n in sorted(load.refusals.items())},
        "refusals_by_fault": dict(sorted(by_fault.items())),
        "refusals_without_retry_after": load.refused_without_retry_after,
        "no_answer": load.no_answer,
        "server_errors": {str(status): n for status, n in sorted(load.server_errors.items())},
        "rejected": load.rejected,
        "abandoned": load.abandoned,
        "first_errors": load.first_errors,
    }


def _deliveries_section(figures: Accounting) -> dict[str, Any]:
    return {
        "expected": figures.expected,
        "delivered": figures.delivered,
        "dead": figures.dead,
        "dead_reasons": figures.dead_reasons,
        "lost": figures.lost,
        "lost_sample": [list(pair) for pair in figures.lost_pairs],
        "lost_but_delivered_in_db": figures.lost_but_delivered_in_db,
        "duplicates": figures.duplicates,
        "duplicates_by_fault": figures.duplicates_by_fault,
        "unexpected": figures.unexpected,
        "missing_rows": figures.missing_rows,
        "dead_but_received": figures.dead_but_received,
    }


def _run_section(
    plan: SoakPlan, schedule: list[ScheduledFault], target: StackTarget, run_id: str
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "events_per_second": plan.events_per_second,
        "load_seconds": plan.load_seconds,
        "events_planned": plan.events,
        "drain_deadline_seconds": plan.drain_seconds,
        "faults_scheduled": len(schedule),
        "stack": {
            "database": target.database,
            "transport": target.transport,
            "workers": target.count("worker"),
            "nsqd_nodes": target.count("nsqd"),
            "nsqd_mem_queue_size": plan.mem_queue_size,
            "tuning": dict(plan.tuning),
        },
        "endpoints": [
            {
                "name": e.name,
                "answers": e.answers,
                "event_types": list(e.event_types),
                "max_attempts": e.max_attempts,
                "meant_to_end": e.outcome,
            }
            for e in ENDPOINTS
        ],
    }
