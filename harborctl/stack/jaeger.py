"""Jaeger for the native stack: its config, its ports and the URLs the rest of the stack uses.

Jaeger v2 (the ``jaeger`` binary ``scripts/bootstrap`` builds from scripts/jaeger, v2.13.0) is
one process that receives OTLP/HTTP, keeps traces in memory and serves the query API, every
port on 127.0.0.1. ``render_jaeger_config`` fills ``templates/jaeger/jaeger.yaml.j2`` (see its
header); ``write_jaeger_config`` puts it at ``<state_dir>/jaeger/jaeger.yaml``, run as
``jaeger --config=<that file>``. Once ``GET health_url`` answers 200 every component runs;
point the services' ``otlp_endpoint`` at ``otlp_endpoint`` and the CLI's ``jaeger_url`` at
``query_url``.

The default ports are Jaeger's own (upstream defaults, as the template header lists them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harborctl.layout import StateLayout
from harborctl.render import render_template, write_file

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
    """``<state_dir>/jaeger/jaeger.yaml``; returns its path."""
    text = render_jaeger_config(ports, metrics_port=metrics_port)
    return write_file(layout.jaeger_config, text)


def jaeger_command(config: Path) -> tuple[str, ...]:
    """The command line that runs it (the binary resolved on PATH)."""
    return (JAEGER_BINARY, f"--config={config}")
