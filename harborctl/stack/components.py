"""The native stack's components, one builder each (pure: nothing started, nothing written).

``component_catalog`` lists every component the stack would run, in start order: its own
PostgreSQL, nsqlookupd and the nsqd nodes, HarborHook's processes (ingest, the workers, the
backlog monitor), Alertmanager, Prometheus and Jaeger (``harborctl.stack.jaeger``). Adding a
component is one more builder here and one more entry in the catalog; the planner
(``harborctl.stack.plan``) drops those whose ``required_binary`` is not on PATH.

Several workers (``--workers N``) are ``worker-1`` .. ``worker-N``, each with its own metrics
port; several nsqd nodes (``--nsqd-nodes N``) are ``nsqd-1`` .. ``nsqd-N``, each with its own
ports, data dir and ``--node-id``, all registered with the one nsqlookupd. With one of each
the names are ``worker`` and ``nsqd``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from harborctl.errors import StackError
from harborctl.layout import StateLayout
from harborctl.settings import Settings
from harborctl.stack.jaeger import jaeger_component, jaeger_ports
from harborctl.stack.model import (
    LOOPBACK,
    STACK_DATABASE,
    STAGE_HARBORHOOK,
    STAGE_INDEPENDENT,
    Component,
    StackOptions,
    Transport,
)
from harborctl.stack.postgres import SUPERUSER, PostgresCluster

PROMETHEUS_BINARY = "prometheus"
# Debian names it prometheus-alertmanager; upstream tarballs alertmanager
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")


def _url_host(host: str) -> str:
    """The host to put in a URL: wildcard listen addresses are reached on loopback."""
    if host in ("", "0.0.0.0", "::", "[::]"):
        return LOOPBACK
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _http(host: str, port: int, path: str = "") -> str:
    return f"http://{_url_host(host)}:{port}{path}"


def numbered(kind: str, index: int, count: int) -> str:
    """``worker`` when it is the only one, else ``worker-1`` .. ``worker-N`` (1-based)."""
    return kind if count == 1 else f"{kind}-{index}"


def follow_ports(
    given: Sequence[int], count: int, *, step: int, taken: Collection[int]
) -> list[int]:
    """``count`` ports: ``given`` in order, then each ``step`` after the last one planned,
    skipping ports in ``taken`` (another component's). StackError past 65535."""
    if not given:
        raise StackError("at least the first port must be given")
    ports = list(given[:count])
    candidate = ports[-1]
    while len(ports) < count:
        candidate += step
        if candidate > 65535:
            raise StackError(f"no ports left above {given[-1]} for {count} processes")
        if candidate not in taken and candidate not in ports:
            ports.append(candidate)
    return ports


@dataclass(frozen=True)
class NsqdNode:
    name: str
    node: int  # 1-based
    tcp_port: int
    http_port: int
    data_dir: Path
    node_id: int | None  # --node-id, set when there are several (message ids never collide)

    @property
    def tcp_address(self) -> str:
        return f"{LOOPBACK}:{self.tcp_port}"


def nsqd_nodes(
    options: StackOptions, layout: StateLayout, taken: Collection[int]
) -> list[NsqdNode]:
    """The nsqd nodes of the plan: node 1 on ``nsqd_tcp_port``/``nsqd_http_port``, the
    others on ``nsqd_more_ports`` and then the next free pairs (two apart)."""
    count = options.nsqd_nodes
    busy = set(taken)
    tcp = follow_ports(
        [options.nsqd_tcp_port, *(t for t, _ in options.nsqd_more_ports)],
        count,
        step=2,
        taken=busy | {options.nsqd_http_port, *(h for _, h in options.nsqd_more_ports)},
    )
    http = follow_ports(
        [options.nsqd_http_port, *(h for _, h in options.nsqd_more_ports)],
        count,
        step=2,
        taken=busy | set(tcp),
    )
    return [
        NsqdNode(
            name=numbered("nsqd", index, count),
            node=index,
            tcp_port=tcp[index - 1],
            http_port=http[index - 1],
            data_dir=layout.nsqd_node_data_dir(index, count),
            node_id=index if count > 1 else None,
        )
        for index in range(1, count + 1)
    ]


def worker_ports(settings: Settings, options: StackOptions, taken: Collection[int]) -> list[int]:
    """One metrics port per worker: ``worker_metrics_ports`` (default: the setting), then
    the next ports up, skipping those another component listens on."""
    given = options.worker_metrics_ports or (settings.worker_metrics_port,)
    return follow_ports(given, options.workers, step=1, taken=taken)


def component_catalog(
    settings: Settings,
    options: StackOptions,
    layout: StateLayout,
    transport: Transport,
    python: str,
    which: Callable[[str], str | None] = shutil.which,
    postgres: PostgresCluster | None = None,
) -> list[Component]:
    """Every component the stack would run for this transport, in start order (Jaeger with
    Prometheus and Alertmanager, unless ``otlp_endpoint`` sends the traces elsewhere)."""
    jaeger = options.observability and runs_jaeger(settings)
    fixed = {
        options.nsqlookupd_tcp_port,
        options.nsqlookupd_http_port,
        settings.ingest_port,
        settings.monitor_port,
        *((settings.prometheus_port, settings.alertmanager_port) if options.observability else ()),
        *(jaeger_ports(settings).all if jaeger else ()),
        *((postgres.port,) if postgres else ()),
    }
    nodes = nsqd_nodes(options, layout, fixed) if transport == "nsq" else []
    taken = fixed | {port for node in nodes for port in (node.tcp_port, node.http_port)}
    return [
        *([postgres_component(postgres)] if postgres else []),
        *(nsq_components(options, layout, nodes) if transport == "nsq" else []),
        *harborhook_components(settings, transport, python, worker_ports(settings, options, taken)),
        *(
            [
                alertmanager_component(settings, layout, which),
                prometheus_component(settings, layout),
            ]
            if options.observability
            else []
        ),
        *([jaeger_component(settings, layout)] if jaeger else []),
    ]


def runs_jaeger(settings: Settings) -> bool:
    """The stack runs its own Jaeger unless ``otlp_endpoint`` names a trace store already."""
    return settings.otlp_endpoint is None


def postgres_component(cluster: PostgresCluster) -> Component:
    """The stack's PostgreSQL (``harborctl.stack.postgres``): SIGINT is its fast shutdown."""
    return Component(
        name="postgres",
        command=cluster.supervised_command(),
        url=f"postgresql://{cluster.host}:{cluster.port}/{STACK_DATABASE}",
        health_url=f"postgresql://{SUPERUSER}@{cluster.host}:{cluster.port}/postgres",
        listens=((cluster.host, cluster.port),),
        detail=f"data {cluster.data_dir}",
        stop_signal="INT",
    )


def nsq_components(
    options: StackOptions, layout: StateLayout, nodes: Sequence[NsqdNode] | None = None
) -> list[Component]:
    """nsqlookupd, then each nsqd node registering with it; all on loopback, all answer /ping."""
    lookupd_tcp = f"{LOOPBACK}:{options.nsqlookupd_tcp_port}"
    lookupd_http = f"{LOOPBACK}:{options.nsqlookupd_http_port}"
    if nodes is None:
        nodes = nsqd_nodes(
            options, layout, {options.nsqlookupd_tcp_port, options.nsqlookupd_http_port}
        )
    lookupd = Component(
        name="nsqlookupd",
        command=(
            "nsqlookupd",
            f"--tcp-address={lookupd_tcp}",
            f"--http-address={lookupd_http}",
            f"--broadcast-address={LOOPBACK}",
        ),
        url=f"http://{lookupd_http}",
        health_url=f"http://{lookupd_http}/ping",
        health_body="OK",
        required_binary="nsqlookupd",
        listens=(
            (LOOPBACK, options.nsqlookupd_tcp_port),
            (LOOPBACK, options.nsqlookupd_http_port),
        ),
        detail=f"tcp {lookupd_tcp}",
    )
    memory = options.nsqd_mem_queue_size
    return [lookupd, *(_nsqd_component(node, lookupd_tcp, memory) for node in nodes)]


def _nsqd_component(node: NsqdNode, lookupd_tcp: str, mem_queue_size: int | None) -> Component:
    http = f"{LOOPBACK}:{node.http_port}"
    return Component(
        name=node.name,
        kind="nsqd",
        command=(
            "nsqd",
            *([f"--node-id={node.node_id}"] if node.node_id is not None else []),
            f"--tcp-address={node.tcp_address}",
            f"--http-address={http}",
            f"--data-path={node.data_dir}",
            f"--lookupd-tcp-address={lookupd_tcp}",
            f"--broadcast-address={LOOPBACK}",
            *([f"--mem-queue-size={mem_queue_size}"] if mem_queue_size is not None else []),
        ),
        url=f"http://{http}",
        health_url=f"http://{http}/ping",
        health_body="OK",
        required_binary="nsqd",
        listens=((LOOPBACK, node.tcp_port), (LOOPBACK, node.http_port)),
        detail=f"tcp {node.tcp_address}",
    )


def harborhook_components(
    settings: Settings,
    transport: Transport,
    python: str,
    worker_metrics_ports: Sequence[int] | None = None,
) -> list[Component]:
    """HarborHook's own processes: ingest, the workers and the backlog monitor
    (``harborctl run``), started by ``up`` once the infrastructure is healthy."""
    harborctl_cmd = (python, "-m", "harborctl")
    ports = list(worker_metrics_ports or [settings.worker_metrics_port])
    workers = [
        Component(
            name=numbered("worker", index, len(ports)),
            kind="worker",
            command=(*harborctl_cmd, "run", "worker", "--metrics-port", str(port)),
            url=_http(LOOPBACK, port, "/metrics"),
            health_url=_http(LOOPBACK, port, "/metrics"),
            listens=((LOOPBACK, port),),
            detail=f"transport {transport}",
            stage=STAGE_HARBORHOOK,
        )
        for index, port in enumerate(ports, start=1)
    ]
    return [
        Component(
            name="ingest",
            command=(*harborctl_cmd, "run", "ingest"),
            url=_http(settings.ingest_host, settings.ingest_port),
            health_url=_http(settings.ingest_host, settings.ingest_port, "/healthz"),
            listens=((settings.ingest_host, settings.ingest_port),),
            detail="HTTP API, /docs",
            stage=STAGE_HARBORHOOK,
        ),
        *workers,
        Component(
            name="monitor",
            command=(*harborctl_cmd, "run", "monitor", "--port", str(settings.monitor_port)),
            url=_http(settings.monitor_host, settings.monitor_port, "/metrics"),
            health_url=_http(settings.monitor_host, settings.monitor_port, "/healthz"),
            listens=((settings.monitor_host, settings.monitor_port),),
            detail="backlog (NSQ + database) on /metrics",
            stage=STAGE_HARBORHOOK,
        ),
    ]


def alertmanager_component(
    settings: Settings, layout: StateLayout, which: Callable[[str], str | None]
) -> Component:
    """A single-node Alertmanager (no gossip port) reading the generated alertmanager.yml."""
    listen = f"{LOOPBACK}:{settings.alertmanager_port}"
    binary = next((b for b in ALERTMANAGER_BINARIES if which(b)), ALERTMANAGER_BINARIES[0])
    return Component(
        name="alertmanager",
        command=(
            binary,
            f"--config.file={layout.alertmanager_config}",
            f"--storage.path={layout.alertmanager_data_dir}",
            f"--web.listen-address={listen}",
            "--cluster.listen-address=",  # empty: no gossip port, single node
        ),
        url=f"http://{listen}",
        health_url=f"http://{listen}/-/ready",
        required_binary=binary,
        listens=((LOOPBACK, settings.alertmanager_port),),
        detail="alerts",
        stage=STAGE_INDEPENDENT,
    )


def prometheus_component(settings: Settings, layout: StateLayout) -> Component:
    """Prometheus with the generated prometheus.yml; ``/-/reload`` on (lifecycle API), and the
    admin API on loopback, with which ``harborctl demo`` deletes its own tenant's series so the
    normal rules never alert on its deliberate errors."""
    listen = f"{LOOPBACK}:{settings.prometheus_port}"
    return Component(
        name="prometheus",
        command=(
            PROMETHEUS_BINARY,
            f"--config.file={layout.prometheus_config}",
            f"--storage.tsdb.path={layout.prometheus_data_dir}",
            f"--web.listen-address={listen}",
            "--web.enable-lifecycle",
            "--web.enable-admin-api",
            # keep the trace_id exemplars of the latency histograms (dashboards link them)
            "--enable-feature=exemplar-storage",
        ),
        url=f"http://{listen}",
        health_url=f"http://{listen}/-/ready",
        required_binary=PROMETHEUS_BINARY,
        listens=((LOOPBACK, settings.prometheus_port),),
        detail="scrapes ingest, worker, monitor, itself and alertmanager",
        stage=STAGE_INDEPENDENT,
    )
