"""One bench run: stack, receiver, tenant, load, drain, figures (and ``nsq_to_http``).

``run_bench(config)`` returns the report as a plain dict (the shape ``--json`` prints):

``run``            the configuration and the stack measured
``publish``        sent, accepted, refused (429/503), errors, accepted_per_second, latency_ms
``deliveries``     expected, received, duplicates, per_second, first_attempt_ms, end_to_end_ms
``processes``      per process tree: kind, role, cpu_seconds, cpu_ms_per_delivery, RSS (MiB)
``cpu``            the stack's CPU in total, per delivery and by kind; PostgreSQL sessions
``nsq_to_http``    the reference run and HarborHook's ratios to it (or null)
``notes``          what was not measured, and why

Definitions of the figures: ``harborctl.bench.report``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harborctl.bench.load import EVENT_TYPE, LoadPlan, payload, run_load
from harborctl.bench.procstat import ProcessMeter, Tracked
from harborctl.bench.report import (
    ROLE_BENCH,
    ROLE_OBSERVABILITY,
    ROLE_RECEIVER,
    ROLE_STACK,
    cpu_figures,
    delivery_figures,
    expected_deliveries,
    process_rows,
    publish_figures,
)
from harborctl.bench.sink import SinkProcess
from harborctl.bench.target import (
    StackTarget,
    ThrowawayOptions,
    free_ports,
    running_stack,
    throwaway_stack,
)
from harborctl.client import ApiClient
from harborctl.errors import HarborHookError

Progress = Callable[[str, int, int | None], None]
Say = Callable[[str], None]

GROUP = "hh"  # the receiver's paths for HarborHook's endpoints: /hh/<n>
POLL_SECONDS = 0.2
ENDPOINT_RATE_LIMIT_RPS = 10_000  # the API's maximum: the bench must not be throttled


@dataclass(frozen=True)
class BenchConfig:
    """``start`` set: a throwaway stack of this run; None: the running one (``api_url``).
    ``receiver_url`` None: the bench's own receiver."""

    load: LoadPlan
    fanout: int = 1
    start: ThrowawayOptions | None = None
    api_url: str | None = None
    receiver_url: str | None = None
    compare_nsq_to_http: bool = False
    stall_timeout: float = 60.0


def run_bench(
    config: BenchConfig,
    *,
    say: Say = lambda message: None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run the bench (module docstring). HarborHookError when the stack or the receiver
    cannot be reached or set up; a run whose deliveries do not all arrive still reports."""
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="hh-bench-")))
        if config.start is not None:
            target = stack.enter_context(throwaway_stack(config.start, say))
        else:
            target = running_stack(config.api_url)
        sink = None
        if config.receiver_url is None or config.compare_nsq_to_http:
            sink = stack.enter_context(SinkProcess(free_ports(1)[0], workdir / "receiver.log"))
        report = _measure(config, target, sink, workdir, say, progress)
    return report


def _measure(
    config: BenchConfig,
    target: StackTarget,
    sink: SinkProcess | None,
    workdir: Path,
    say: Say,
    progress: Progress | None,
) -> dict[str, Any]:
    notes = list(target.notes)
    builtin = config.receiver_url is None
    assert sink is not None or not builtin
    say("creating a tenant and its endpoints")
    urls = (
        [f"{sink.url}/{GROUP}/{n}" for n in range(config.fanout)]
        if builtin and sink is not None
        else [str(config.receiver_url)] * config.fanout
    )
    tenant_id, api_key = _setup_tenant(target, urls)

    tracked = _tracked(target, sink)
    meter = ProcessMeter({name: item for name, (item, _, _) in tracked.items()})
    sessions_before = _postgres_sessions(target)
    meter.start()
    say("publishing")
    publish_url = f"{target.api_url}/v1/tenants/{tenant_id}/events:publish"
    log = asyncio.run(run_load(publish_url, api_key, config.load, progress))
    expected = expected_deliveries(log)
    say(f"waiting for {expected} deliveries")
    counted, duplicates, settled = _drain(config, target, sink, tenant_id, expected, progress)
    usages = meter.stop()
    sessions_after = _postgres_sessions(target)

    arrivals = sink.arrivals(GROUP) if builtin and sink is not None else None
    paths = [f"/{GROUP}/{n}" for n in range(config.fanout)]
    deliveries = delivery_figures(log, arrivals, paths, counted=counted, settled=settled)
    deliveries["duplicates"] = duplicates
    delivered = int(deliveries["received"])
    roles = {name: (kind, role) for name, (_, kind, role) in tracked.items()}
    rows = process_rows(usages, roles, delivered)
    published = publish_figures(log)
    cpu = cpu_figures(rows, delivered, int(published["accepted"]))
    cpu["postgres_sessions_opened"] = (
        sessions_after - sessions_before
        if sessions_before is not None and sessions_after is not None
        else None
    )
    if not builtin:
        notes.append(
            "external receiver: deliveries counted from the workers' metrics every "
            f"{POLL_SECONDS:g} s (deliveries/s to that resolution), latencies unknown"
        )

    reference = None
    if config.compare_nsq_to_http and sink is not None and delivered:
        from harborctl.bench.nsq_to_http import run_nsq_to_http

        say(f"nsq_to_http: pushing {delivered} messages to the same receiver")
        pad = "x" * config.load.payload_bytes
        result = run_nsq_to_http(
            messages=delivered,
            payload=lambda n: payload(n, pad),
            sink=sink,
            nsqd=target.nsqd[0] if target.nsqd else None,
            workdir=workdir,
            stall_timeout=config.stall_timeout,
            progress=progress,
        )
        reference = _with_ratios(result.to_dict(), deliveries, cpu)

    return {
        "run": _run_section(config, target),
        "publish": published,
        "deliveries": deliveries,
        "processes": rows,
        "cpu": cpu,
        "nsq_to_http": reference,
        "notes": notes,
    }


def _setup_tenant(target: StackTarget, urls: list[str]) -> tuple[str, str]:
    with ApiClient(target.api_url, target.admin_key, key_source="the stack's admin key") as admin:
        tenant = admin.create_tenant(f"bench-{int(time.time())}-{os.getpid()}")
        tenant_id, api_key = str(tenant["tenant_id"]), str(tenant["api_key"])
        for url in urls:
            made = admin.create_endpoint(tenant_id, url, rate_limit_rps=ENDPOINT_RATE_LIMIT_RPS)
            endpoint = made["endpoint"]
            if not isinstance(endpoint, dict):
                raise HarborHookError(f"the API answered an endpoint without an id: {made}")
            admin.create_subscription(tenant_id, str(endpoint["endpoint_id"]), EVENT_TYPE)
    return tenant_id, api_key


def _tracked(target: StackTarget, sink: SinkProcess | None) -> dict[str, tuple[Tracked, str, str]]:
    """name → (what to measure, kind, role)."""
    tracked: dict[str, tuple[Tracked, str, str]] = {
        process.name: (
            Tracked(process.pid),
            process.kind,
            ROLE_STACK if process.counted else ROLE_OBSERVABILITY,
        )
        for process in target.processes
    }
    if sink is not None:
        tracked["receiver"] = (Tracked(sink.pid), "receiver", ROLE_RECEIVER)
    # the bench alone: its children (receiver, nsq_to_http) are measured on their own
    tracked["bench"] = (Tracked(os.getpid(), include_children=False), "bench", ROLE_BENCH)
    return tracked


def _drain(
    config: BenchConfig,
    target: StackTarget,
    sink: SinkProcess | None,
    tenant_id: str,
    expected: int,
    progress: Progress | None,
) -> tuple[int | None, int | None, float]:
    """Wait until ``expected`` deliveries arrived or none arrived for ``stall_timeout``
    seconds; (delivered count when only the workers' metrics know it, duplicates, when the
    count was first seen at its final value)."""
    builtin = config.receiver_url is None and sink is not None

    def count() -> tuple[int, int | None]:
        if builtin and sink is not None:
            stats = sink.stats(GROUP)
            return stats.distinct, stats.duplicates
        return _delivered_by_workers(target.worker_metrics_urls, tenant_id), None

    seen, moved = -1, time.monotonic()
    while True:
        done, duplicates = count()
        if progress:
            progress("delivered", done, expected)
        if done != seen:
            seen, moved = done, time.monotonic()
        if done >= expected or time.monotonic() - moved > config.stall_timeout:
            return (None if builtin else done), duplicates, moved
        time.sleep(POLL_SECONDS)


def _delivered_by_workers(urls: tuple[str, ...], tenant_id: str) -> int:
    """``harborhook_deliveries_total{status="delivered",tenant_id}`` summed over workers."""
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        for url in urls:
            try:
                text = client.get(url).text
            except httpx.HTTPError:
                continue
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if (
                        sample.name == "harborhook_deliveries_total"
                        and sample.labels.get("status") == "delivered"
                        and sample.labels.get("tenant_id") == tenant_id
                    ):
                        total += sample.value
    return int(total)


def _postgres_sessions(target: StackTarget) -> int | None:
    """Sessions PostgreSQL opened so far (``pg_stat_database.sessions``, PostgreSQL 14+)."""
    url = target.database_url
    if not url or not url.startswith("postgres"):
        return None
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        with psycopg.connect(conninfo, connect_timeout=5) as conn:
            row = conn.execute("select coalesce(sum(sessions), 0) from pg_stat_database").fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else None


def _with_ratios(
    reference: dict[str, Any], deliveries: dict[str, Any], cpu: dict[str, Any]
) -> dict[str, Any]:
    ours_rate = deliveries.get("per_second")
    theirs_rate = reference.get("deliveries_per_second")
    ours_cpu = cpu.get("stack_ms_per_delivery")
    theirs_cpu = reference.get("cpu_ms_per_delivery")
    reference["harborhook_rate_ratio"] = (
        round(ours_rate / theirs_rate, 4) if ours_rate and theirs_rate else None
    )
    reference["harborhook_cpu_ratio"] = (
        round(ours_cpu / theirs_cpu, 2) if ours_cpu and theirs_cpu else None
    )
    return reference


def _run_section(config: BenchConfig, target: StackTarget) -> dict[str, Any]:
    load = config.load
    return {
        "mode": load.mode,
        "concurrency": load.concurrency if load.mode == "closed" else None,
        "rate": load.rate,
        "max_in_flight": load.max_in_flight if load.mode == "open" else None,
        "events": load.events,
        "duration_seconds": load.duration,
        "fanout": config.fanout,
        "payload_bytes": load.payload_bytes,
        "receiver": config.receiver_url or "builtin",
        "stack": {
            "started": target.started,
            "api_url": target.api_url,
            "database": target.database,
            "transport": target.transport,
            "workers": target.count("worker"),
            "nsqd_nodes": target.count("nsqd"),
            # a throwaway stack's is deleted when the run ends
            "state_dir": None if target.state_dir is None else str(target.state_dir),
        },
    }
