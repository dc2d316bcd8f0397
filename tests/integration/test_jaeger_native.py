"""Jaeger as the native stack would run it (harborctl.stack.jaeger): the config written into
the state dir starts the real binary on the ports asked for, its health URL answers once it
runs, and spans sent to its OTLP endpoint are read back by the CLI's Jaeger reader."""

from __future__ import annotations

from pathlib import Path

import httpx
import yaml

from harborctl.errors import NotFound
from harborctl.layout import StateLayout
from harborctl.stack.jaeger import JAEGER_BINARY, JaegerPorts, jaeger_command, write_jaeger_config
from harborctl.telemetry.jaeger import JaegerClient, JaegerTraceSource
from harborctl.telemetry.trace_model import SpanView
from tests.support.jaeger import JAEGER_INSTALL_HINT
from tests.support.services import ManagedProcess, free_ports, require_binary
from tests.support.span_records import delivery_trace, otlp_json
from tests.support.wait import wait_until


def test_the_written_config_runs_jaeger_on_loopback_ports(tmp_path: Path) -> None:
    binary = require_binary(JAEGER_BINARY, JAEGER_INSTALL_HINT)
    ports = JaegerPorts(*free_ports(4))
    layout = StateLayout.at(tmp_path / "state")

    config = write_jaeger_config(layout, ports)

    assert config == layout.jaeger_config
    document = yaml.safe_load(config.read_text())
    endpoints = [
        document["receivers"]["otlp"]["protocols"]["http"]["endpoint"],
        document["extensions"]["jaeger_query"]["http"]["endpoint"],
        document["extensions"]["jaeger_query"]["grpc"]["endpoint"],
        document["extensions"]["healthcheckv2"]["http"]["endpoint"],
    ]
    assert endpoints == [f"127.0.0.1:{port}" for port in ports.all]
    command = jaeger_command(config)
    assert command == (JAEGER_BINARY, f"--config={config}")
    process = ManagedProcess("jaeger", [binary, *command[1:]], tmp_path / "jaeger.log")
    process.start()
    try:
        process.wait_ready(lambda: httpx.get(ports.health_url, timeout=1).json()["healthy"])
        records = delivery_trace("ten_native")
        trace_id = records[0]["trace_id"]
        sent = httpx.post(f"{ports.otlp_endpoint}/v1/traces", json=otlp_json(records))
        assert sent.status_code == 200, sent.text

        with JaegerClient(ports.query_url) as client:
            source = JaegerTraceSource(client)

            def stored() -> list[SpanView]:
                try:
                    spans = source.get(trace_id)
                except NotFound:
                    return []
                return spans if len(spans) == len(records) else []

            spans = wait_until(stored, 10, interval=0.05, describe=f"trace {trace_id}")
        assert {s.span_id for s in spans} == {r["span_id"] for r in records}
    finally:
        process.stop()
