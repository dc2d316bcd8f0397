"""A real Jaeger for tests: OTLP/HTTP in, in-memory storage, query API out, all on 127.0.0.1.

    server = JaegerServer(workdir)    # the `jaeger` binary scripts/bootstrap builds
    server.start()                    # config rendered from templates/jaeger/jaeger.yaml.j2
    server.otlp_traces_url            # http://127.0.0.1:P/v1/traces, for an OTLP/HTTP exporter
    server.trace_v3(trace_id)         # GET /api/v3/traces/{id} (OTLP JSON), None when unknown
    server.trace_v1(trace_id)         # GET /api/traces/{id} (Jaeger UI JSON), None when unknown
    server.wait_for_spans(trace_id, 2)
    server.export_otlp_json(document)  # POST an OTLP/HTTP JSON export request
    server.stop()

``jaeger_server`` (session fixture; import it into your test module) starts one. A missing
binary skips the test locally and fails it under CI (env CI set), like the other services.

Trace and span ids are lowercase hex, 32 and 16 digits, in both APIs. The response shapes are
those of Jaeger v2.13.0 (Go module github.com/jaegertracing/jaeger v1.76.0).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jinja2
import pytest

from tests.support.services import LOOPBACK, ManagedProcess, free_ports, require_binary
from tests.support.wait import wait_until

JAEGER_INSTALL_HINT = "run scripts/bootstrap (builds jaeger v2.13.0 from scripts/jaeger)"
JAEGER_CONFIG_TEMPLATE = Path(__file__).resolve().parents[2] / "templates/jaeger/jaeger.yaml.j2"
MAX_TRACES = 10_000
REQUEST_TIMEOUT = 5.0


def render_jaeger_config(
    *,
    otlp_http_port: int,
    query_http_port: int,
    query_grpc_port: int,
    health_port: int,
    metrics_port: int | None = None,
    max_traces: int = MAX_TRACES,
    template: Path = JAEGER_CONFIG_TEMPLATE,
) -> str:
    """The Jaeger config (YAML text) for these loopback ports; see the template's header."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template.parent)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # a YAML file, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return environment.get_template(template.name).render(
        otlp_http_port=otlp_http_port,
        query_http_port=query_http_port,
        query_grpc_port=query_grpc_port,
        health_port=health_port,
        metrics_port=metrics_port,
        max_traces=max_traces,
    )


class JaegerServer:
    """``jaeger --config <rendered>`` on free loopback ports, output to ``workdir/jaeger.log``.

    Ready when the health check's ``GET /status`` answers 200: every component (OTLP
    receiver, storage exporter, query extension) has started. Traces live in memory only, so a
    restart starts empty.
    """

    def __init__(self, workdir: Path, binary: str | None = None) -> None:
        self.binary = binary or require_binary("jaeger", JAEGER_INSTALL_HINT)
        self.workdir = workdir
        ports = free_ports(4)
        self.otlp_http_port, self.query_http_port, self.query_grpc_port, self.health_port = ports
        self.config_path = workdir / "jaeger.yaml"
        argv = [self.binary, f"--config={self.config_path}"]
        self.process = ManagedProcess("jaeger", argv, workdir / "jaeger.log")

    @property
    def otlp_url(self) -> str:
        """Base URL of the OTLP/HTTP receiver (what OTEL_EXPORTER_OTLP_ENDPOINT takes)."""
        return f"http://{LOOPBACK}:{self.otlp_http_port}"

    @property
    def otlp_traces_url(self) -> str:
        """The traces endpoint itself (what OTLPSpanExporter(endpoint=...) takes)."""
        return f"{self.otlp_url}/v1/traces"

    @property
    def query_url(self) -> str:
        """Base URL of the query API (``/api/v3/...``, ``/api/...``) and the UI."""
        return f"http://{LOOPBACK}:{self.query_http_port}"

    @property
    def health_url(self) -> str:
        return f"http://{LOOPBACK}:{self.health_port}/status"

    @property
    def running(self) -> bool:
        return self.process.running

    def write_config(self) -> Path:
        self.config_path.write_text(
            render_jaeger_config(
                otlp_http_port=self.otlp_http_port,
                query_http_port=self.query_http_port,
                query_grpc_port=self.query_grpc_port,
                health_port=self.health_port,
            )
        )
        return self.config_path

    def start(self) -> None:
        """Write the config, start, and return once every component reports OK."""
        self.write_config()
        self.process.start()
        self.process.wait_ready(self._healthy)

    def stop(self) -> None:
        """SIGTERM: the collector shuts its pipeline and servers down cleanly."""
        self.process.stop()

    def _healthy(self) -> bool:
        answer = httpx.get(self.health_url, timeout=1.0)
        return answer.status_code == 200 and answer.json().get("healthy") is True

    def _get_trace(self, path: str) -> dict[str, Any] | None:
        answer = httpx.get(f"{self.query_url}{path}", timeout=REQUEST_TIMEOUT)
        if answer.status_code == 404:
            return None
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def trace_v3(self, trace_id: str) -> dict[str, Any] | None:
        """``GET /api/v3/traces/{id}``: ``{"result": {"resourceSpans": [...]}}`` (OTLP JSON)."""
        return self._get_trace(f"/api/v3/traces/{trace_id}")

    def trace_v1(self, trace_id: str) -> dict[str, Any] | None:
        """``GET /api/traces/{id}``: ``{"data": [{"traceID", "spans", "processes"}], ...}``."""
        return self._get_trace(f"/api/traces/{trace_id}")

    def spans_v3(self, trace_id: str) -> list[dict[str, Any]]:
        """The trace's OTLP spans, each with its resource's attributes under ``"resource"``."""
        body = self.trace_v3(trace_id)
        if body is None:
            return []
        spans: list[dict[str, Any]] = []
        for resource_spans in body["result"]["resourceSpans"]:
            resource = resource_spans.get("resource", {})
            for scope_spans in resource_spans.get("scopeSpans", []):
                for span in scope_spans.get("spans", []):
                    spans.append({**span, "resource": resource, "scope": scope_spans.get("scope")})
        return spans

    def export_otlp_json(self, document: dict[str, Any]) -> None:
        """POST ``document`` (an OTLP ``ExportTraceServiceRequest`` in JSON) to the OTLP/HTTP
        receiver, as an exporter configured for JSON would; fails unless it answers 200."""
        answer = httpx.post(self.otlp_traces_url, json=document, timeout=REQUEST_TIMEOUT)
        answer.raise_for_status()

    def wait_for_spans(
        self, trace_id: str, count: int, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """The trace's spans (as ``spans_v3``) once at least ``count`` are stored."""

        def enough() -> list[dict[str, Any]] | None:
            spans = self.spans_v3(trace_id)
            return spans if len(spans) >= count else None

        return wait_until(
            enough,
            timeout,
            interval=0.05,
            describe=lambda: f"{count} spans of trace {trace_id} in Jaeger",
            ignore=(httpx.TransportError,),
        )


@pytest.fixture(scope="session")
def jaeger_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JaegerServer]:
    server = JaegerServer(tmp_path_factory.mktemp("jaeger"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
