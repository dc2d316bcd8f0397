"""Jaeger as the native stack runs it (harborctl.stack.jaeger): the config written into the
state dir starts the real binary on the ports asked for, its health URL answers once it runs,
and spans sent to its OTLP endpoint are read back by the CLI's Jaeger reader; then
`harborctl up` itself runs it, and `harborctl traces show/tail` (no Jaeger flags) find a
delivery that crossed the real NSQ hop, every span with its parent."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from harborctl.client import ApiClient
from harborctl.errors import NotFound
from harborctl.layout import StateLayout
from harborctl.receiver.server import running_receiver
from harborctl.stack.jaeger import JAEGER_BINARY, JaegerPorts, jaeger_command, write_jaeger_config
from harborctl.telemetry.jaeger import JaegerClient, JaegerTraceSource
from harborctl.telemetry.trace_model import SpanView
from tests.support.jaeger import JAEGER_INSTALL_HINT
from tests.support.native_stack import Stack, alive, native_stack, poll, port_free
from tests.support.pipeline import received
from tests.support.services import NSQ_INSTALL_HINT, ManagedProcess, free_ports, require_binary
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


# --- `harborctl up` runs it ----------------------------------------------------------------

EVENT_TYPE = "order.created"
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.fixture
def traced_stack(tmp_path: Path) -> Iterator[Stack]:
    """A native stack whose PATH has jaeger, nsqd and nsqlookupd (skips, or fails under CI,
    when one is missing)."""
    binaries = [
        require_binary(JAEGER_BINARY, JAEGER_INSTALL_HINT),
        require_binary("nsqd", NSQ_INSTALL_HINT),
        require_binary("nsqlookupd", NSQ_INSTALL_HINT),
    ]
    with native_stack(tmp_path) as created:
        dirs = dict.fromkeys(str(Path(binary).parent) for binary in binaries)
        created.env["PATH"] = os.pathsep.join([*dirs, created.env.get("PATH", "")])
        yield created


def _show(stack: Stack, trace_id: str) -> list[dict[str, Any]]:
    """The spans ``harborctl traces show <id> --json`` finds ([] while Jaeger has none)."""
    result = stack.run("traces", "show", trace_id, "--json")
    if result.returncode == 4:  # not found (yet)
        return []
    assert result.returncode == 0, result.stderr
    spans: list[dict[str, Any]] = json.loads(result.stdout)["spans"]
    return spans


def test_up_runs_jaeger_and_traces_show_reads_a_delivery_across_nsq(traced_stack: Stack) -> None:
    stack = traced_stack
    started = stack.run_json(*stack.up_args())
    stack.remember(started)
    assert started["transport"] == "nsq"
    components = {c["name"]: c for c in started["components"]}
    query_url = f"http://127.0.0.1:{stack.ports['jaeger_query']}"
    assert components["jaeger"]["healthy"] and components["jaeger"]["url"] == query_url
    layout = StateLayout.at(stack.state_dir)
    assert layout.jaeger_config.exists()
    shared = json.loads(layout.stack_settings_file.read_text())
    assert shared["jaeger_url"] == query_url
    status = stack.run("status")
    assert status.returncode == 0 and f"Jaeger UI {query_url}" in status.stdout, status.stdout

    admin_key = layout.admin_key_file.read_text().strip()
    api_url = f"http://127.0.0.1:{stack.ports['ingest']}"
    with running_receiver(secret=SECRET) as receiver, ApiClient(api_url, admin_key) as admin:
        tenant = admin.create_tenant("traced")
        tenant_id = str(tenant["tenant_id"])
        made = admin.create_endpoint(tenant_id, f"{receiver}/traced/ok", secret=SECRET)
        admin.create_subscription(tenant_id, str(made["endpoint"]["endpoint_id"]), EVENT_TYPE)
        with ApiClient(api_url, str(tenant["api_key"])) as client:
            published = client.publish_event(tenant_id, EVENT_TYPE, {"order": 12})
        trace_id = str(published["trace_id"])

        def whole_trace() -> list[dict[str, Any]]:
            # every service's spans: each exports in its own batches, so the worker's may be
            # in Jaeger before the ingest's root span is
            spans = _show(stack, trace_id)
            names = {s["name"] for s in spans}
            return spans if {"PublishEvent", "POST", "DeliveryAttempt"} <= names else []

        spans = wait_until(whole_trace, 60, interval=0.5, describe=f"trace {trace_id} in Jaeger")
        [record] = received(receiver, "/traced/ok")
        assert record["headers"]["x-trace-id"] == trace_id

    assert {s["trace_id"] for s in spans} == {trace_id}
    by_id = {s["span_id"]: s for s in spans}
    [root] = [s for s in spans if s["parent_span_id"] is None]
    assert all(s["parent_span_id"] in by_id for s in spans if s is not root)
    topic = "harborhook.deliveries"

    def one(name: str, service: str) -> dict[str, Any]:
        [span] = [s for s in spans if s["name"] == name and s["service"] == service]
        return span

    ingest, worker = "harborhook-ingest", "harborhook-worker"
    assert (root["name"], root["kind"], root["service"]) == ("PublishEvent", "SERVER", ingest)
    fan_out = one("FanOut", ingest)
    producer = one(f"{topic} publish", ingest)
    consumer = one(f"{topic} process", worker)
    attempt = one("DeliveryAttempt", worker)
    post = one("POST", worker)
    assert fan_out["parent_span_id"] == root["span_id"]
    assert (producer["kind"], producer["parent_span_id"]) == ("PRODUCER", fan_out["span_id"])
    # across the NSQ hop: the context travelled in the message envelope
    assert (consumer["kind"], consumer["parent_span_id"]) == ("CONSUMER", producer["span_id"])
    assert attempt["parent_span_id"] == consumer["span_id"]
    assert (post["kind"], post["parent_span_id"]) == ("CLIENT", attempt["span_id"])
    assert not layout.spans_file.exists()  # the services exported to Jaeger, not to the file

    def tailed() -> bool:
        result = stack.run("traces", "tail", "--no-follow", "--json", "--since", "300")
        assert result.returncode == 0, result.stderr
        return trace_id in [json.loads(line)["trace_id"] for line in result.stdout.splitlines()]

    assert wait_until(tailed, 30, interval=0.5, describe=f"trace {trace_id} in traces tail")

    jaeger_pid = components["jaeger"]["pid"]
    assert stack.run_json("down")["was_running"] is True
    assert not alive(jaeger_pid)
    assert poll(lambda: port_free(stack.ports["jaeger_query"]), 10)
