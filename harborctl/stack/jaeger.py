"""Jaeger for the native stack: its config, its ports, its component and the URLs the rest
of the stack uses.

Jaeger v2 (the ``jaeger`` binary ``scripts/bootstrap`` builds from scripts/jaeger: Go module
github.com/jaegertracing/jaeger v1.76.0, Jaeger v2.13.0) is one process that receives
OTLP/HTTP, keeps traces in memory and serves the query API and UI, every port on 127.0.0.1.
``render_jaeger_config`` fills ``templates/jaeger/jaeger.yaml.j2`` (see its header);
``write_jaeger_config`` puts it at ``<state_dir>/jaeger/jaeger.yaml``, run as
``jaeger --config=<that file>``. Once ``GET health_url`` answers 200 every component runs.
``harborctl up`` runs it as the component ``jaeger_component`` builds, points the services'
``otlp_endpoint`` at ``otlp_endpoint`` and shares ``query_url`` as ``jaeger_url``, so
``harborctl traces`` reads it.

The ports are the ``jaeger_*_port`` settings; their defaults are Jaeger's own (upstream
defaults, as the template header lists them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harborctl.layout import StateLayout
from harborctl.render import render_template, write_file
from harborctl.settings import Settings
from harborctl.stack.model import STAGE_INFRASTRUCTURE, Component

JAEGER_BINARY = "jaeger"
JAEGER_TEMPLATE = "jaeger/jaeger.yaml.j2"
LOOPBACK = "127.0.0.1"
MAX_TRACES = 100_000  # kept in memory; the oldest are evicted beyond it


@dataclass(frozen=True)
class JaegerPorts:
    otlp_http: int = 4318  # POST /v1/traces
    query_http: int = 16686  # /api/v3/traces/{id}, /api/traces/{id}, the UI
    query_grpc: int = 16685  # opened by the query extension whether used or not
    health: int = 13133  # GET /status

    @property
    def all(self) -> tuple[int, ...]:
        return (self.otlp_http, self.query_http, self.query_grpc, self.health)

    @property
    def otlp_endpoint(self) -> str:
        """What the services' ``otlp_endpoint`` takes (they add ``/v1/traces``)."""
        return f"http://{LOOPBACK}:{self.otlp_http}"

    @property
    def query_url(self) -> str:
        """What the CLI's ``jaeger_url`` takes."""
        return f"http://{LOOPBACK}:{self.query_http}"

    @property
    def health_url(self) -> str:
        """200 with ``{"healthy": true, ...}`` once every component runs."""
        return f"http://{LOOPBACK}:{self.health}/status"


def render_jaeger_config(
    ports: JaegerPorts, *, metrics_port: int | None = None, max_traces: int = MAX_TRACES
) -> str:
    """The YAML text of Jaeger's config for ``ports`` (``metrics_port``: Jaeger's own
    /metrics, off when None)."""
    return render_template(
        JAEGER_TEMPLATE,
        otlp_http_port=ports.otlp_http,
        query_http_port=ports.query_http,
        query_grpc_port=ports.query_grpc,
        health_port=ports.health,
        metrics_port=metrics_port,
        max_traces=max_traces,
    )


def write_jaeger_config(
    layout: StateLayout, ports: JaegerPorts, *, metrics_port: int | None = None
) -> Path:
    """``<state_dir>/jaeger/jaeger.yaml`` (its parent created); returns its path."""
    text = render_jaeger_config(ports, metrics_port=metrics_port)
    return write_file(layout.jaeger_config, text)


def jaeger_command(config: Path) -> tuple[str, ...]:
    """The command line that runs it (the binary resolved on PATH)."""
    return (JAEGER_BINARY, f"--config={config}")


def jaeger_ports(settings: Settings) -> JaegerPorts:
    """The ports of the stack's Jaeger: the ``jaeger_*_port`` settings."""
    return JaegerPorts(
        otlp_http=settings.jaeger_otlp_port,
        query_http=settings.jaeger_query_port,
        query_grpc=settings.jaeger_grpc_port,
        health=settings.jaeger_health_port,
    )


def jaeger_component(settings: Settings, layout: StateLayout) -> Component:
    """Jaeger as a supervised component: infrastructure (stage 0), so it is healthy before
    the services that export to it start; its URL is the UI's."""
    ports = jaeger_ports(settings)
    return Component(
        name="jaeger",
        command=jaeger_command(layout.jaeger_config),
        url=ports.query_url,
        health_url=ports.health_url,
        required_binary=JAEGER_BINARY,
        listens=tuple((LOOPBACK, port) for port in ports.all),
        detail=f"traces: OTLP/HTTP in on {ports.otlp_endpoint}, query API and UI",
        stage=STAGE_INFRASTRUCTURE,
    )
