"""The reference figure: NSQ's own ``nsq_to_http`` pushing messages to the same receiver.

The same number of messages as HarborHook delivered, with the same payload, are published
to a fresh topic of an nsqd (the stack's first node, or an nsqd started here when the stack
has none), then ``nsq_to_http`` (its defaults: 100 concurrent POSTs, 200 in flight) pushes
them to the bench receiver. No database, no signing, no retries kept: what a Go pipeline
from nsqd to HTTP costs on this machine, measured in the same run. CPU is nsqd's during the
push plus all of ``nsq_to_http``'s. The binary is built by ``scripts/bootstrap`` from
``scripts/nsq`` (like nsqd).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from harborctl.bench.procstat import CLOCK_TICKS, ProcessMeter, Tracked, read_stat
from harborctl.bench.sink import SinkProcess
from harborctl.bench.stats import rate
from harborctl.bench.target import NsqdNode, free_ports
from harborctl.childproc import stop_child
from harborctl.errors import HarborHookError

BINARY = "nsq_to_http"
EXTRA_BIN_DIRS = ("/usr/local/bin", str(Path.home() / ".local/bin"), str(Path.home() / "go/bin"))
INSTALL_HINT = "scripts/bootstrap builds it from scripts/nsq"
GROUP = "nsq"
MPUB_BATCH = 1000
START_TIMEOUT = 15.0
POLL_SECONDS = 0.1


@dataclass(frozen=True)
class NsqToHttpResult:
    messages: int
    delivered: int
    seconds: float
    deliveries_per_second: float
    cpu_seconds: dict[str, float]
    cpu_ms_per_delivery: float | None
    nsqd: str  # which nsqd served it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path=":".join(EXTRA_BIN_DIRS))
    if found is None:
        raise HarborHookError(f"{name} is not installed: {INSTALL_HINT}")
    return found


def run_nsq_to_http(
    *,
    messages: int,
    payload: Callable[[int], bytes],
    sink: SinkProcess,
    nsqd: NsqdNode | None,
    workdir: Path,
    stall_timeout: float,
    progress: Callable[[str, int, int | None], None] | None = None,
) -> NsqToHttpResult:
    """Push ``messages`` payloads through ``nsq_to_http`` to ``sink`` (module docstring)."""
    binary = find_binary(BINARY)
    with contextlib.ExitStack() as stack:
        node = nsqd or stack.enter_context(_own_nsqd(workdir))
        topic = f"bench_nsq_to_http_{uuid.uuid4().hex[:12]}"
        http = stack.enter_context(
            httpx.Client(base_url=node.http_url, timeout=30.0, trust_env=False)
        )
        stack.callback(_delete_topic, http, topic)
        _publish(http, topic, messages, payload)
        meter = ProcessMeter({"nsqd": Tracked(node.pid)} if node.pid else {})
        meter.start()
        started = time.monotonic()
        with (workdir / "nsq_to_http.log").open("ab") as log:
            process = subprocess.Popen(
                [
                    binary,
                    f"--topic={topic}",
                    "--channel=bench",
                    f"--nsqd-tcp-address={node.tcp_address}",
                    f"--post={sink.url}/{GROUP}/{topic}",
                    "--content-type=application/json",
                    "--status-every=0",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        stack.callback(stop_child, process)
        delivered, last = _wait(sink, messages, stall_timeout, process, progress)
        own = read_stat(process.pid)
        usage = {usage.name: usage.cpu_seconds or 0.0 for usage in meter.stop()}
        if own is not None:
            usage[BINARY] = own.own_ticks / CLOCK_TICKS
        seconds = (last or time.monotonic()) - started
        total_cpu = sum(usage.values())
        result = NsqToHttpResult(
            messages=messages,
            delivered=delivered,
            seconds=round(seconds, 3),
            deliveries_per_second=rate(delivered, seconds),
            cpu_seconds={name: round(value, 3) for name, value in usage.items()},
            cpu_ms_per_delivery=round(total_cpu * 1000 / delivered, 3) if delivered else None,
            nsqd=node.name,
        )
    return result


def _publish(
    http: httpx.Client, topic: str, messages: int, payload: Callable[[int], bytes]
) -> None:
    """MPUB in batches over nsqd's HTTP API (one message per line)."""
    for first in range(0, messages, MPUB_BATCH):
        body = b"\n".join(payload(n) for n in range(first, min(messages, first + MPUB_BATCH)))
        try:
            http.post("/mpub", params={"topic": topic}, content=body).raise_for_status()
        except httpx.HTTPError as exc:
            raise HarborHookError(f"publishing to nsqd {http.base_url} failed: {exc}") from exc


def _wait(
    sink: SinkProcess,
    messages: int,
    stall_timeout: float,
    process: subprocess.Popen[bytes],
    progress: Callable[[str, int, int | None], None] | None,
) -> tuple[int, float | None]:
    """Until the receiver has all messages, nothing arrives for ``stall_timeout`` seconds,
    or ``nsq_to_http`` exits; (delivered, monotonic time of the last arrival)."""
    seen, moved = -1, time.monotonic()
    while True:
        stats = sink.stats(GROUP)
        if stats.posts != seen:
            seen, moved = stats.posts, time.monotonic()
        if progress:
            progress("nsq_to_http", stats.posts, messages)
        if stats.posts >= messages or time.monotonic() - moved > stall_timeout:
            return stats.posts, stats.last
        if process.poll() is not None:
            return stats.posts, stats.last
        time.sleep(POLL_SECONDS)


def _delete_topic(http: httpx.Client, topic: str) -> None:
    with contextlib.suppress(httpx.HTTPError):
        http.post("/topic/delete", params={"topic": topic})


@contextlib.contextmanager
def _own_nsqd(workdir: Path) -> Iterator[NsqdNode]:
    """An nsqd of the comparison's own (the stack has none: db transport)."""
    binary = find_binary("nsqd")
    tcp, http = free_ports(2)
    data = workdir / "nsqd"
    data.mkdir(parents=True, exist_ok=True)
    with (workdir / "nsqd.log").open("ab") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--tcp-address=127.0.0.1:{tcp}",
                f"--http-address=127.0.0.1:{http}",
                f"--data-path={data}",
                "--broadcast-address=127.0.0.1",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{http}"
        deadline = time.monotonic() + START_TIMEOUT
        with httpx.Client(timeout=2.0, trust_env=False) as client:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{url}/ping").status_code == 200:
                        break
                if process.poll() is not None or time.monotonic() > deadline:
                    raise HarborHookError(f"nsqd for the nsq_to_http run did not start ({workdir})")
                time.sleep(0.05)
        yield NsqdNode(
            name="nsqd (own)", tcp_address=f"127.0.0.1:{tcp}", http_url=url, pid=process.pid
        )
    finally:
        stop_child(process)
