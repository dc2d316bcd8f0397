"""Jaeger in the native stack's plan: started when installed, the services' OTLP exporter
pointed at it, its query URL shared with the CLI; a one-line note when it is not."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
import yaml
from supervisor.datatypes import dict_of_key_value_pairs

from harborctl.errors import StackError
from harborctl.settings import Settings
from harborctl.stack.configs import prepare_stack_configs
from harborctl.stack.model import STAGE_INFRASTRUCTURE, StackOptions, StackPlan
from harborctl.stack.plan import plan_stack, stack_settings
from harborctl.stack.supervisor import render_supervisor_config

PORTS = {"otlp": 14318, "query": 16687, "grpc": 16688, "health": 13134}


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "state_dir": tmp_path / "state",
        "ingest_port": 18080,
        "worker_metrics_port": 19101,
        "monitor_port": 19102,
        "prometheus_port": 19090,
        "alertmanager_port": 19093,
        "jaeger_otlp_port": PORTS["otlp"],
        "jaeger_query_port": PORTS["query"],
        "jaeger_grpc_port": PORTS["grpc"],
        "jaeger_health_port": PORTS["health"],
        **overrides,
    }
    return Settings(**values)  # type: ignore[arg-type]


def _plan(settings: Settings, installed: bool = True) -> StackPlan:
    return plan_stack(
        settings,
        StackOptions(nsq=False),
        which=lambda name: f"/opt/bin/{name}" if installed else None,
        environ={},
        python="/py",
    )


def _program_env(plan: StackPlan, name: str) -> dict[str, str]:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    parser.read_string(render_supervisor_config(plan))
    return dict_of_key_value_pairs(parser[f"program:{name}"]["environment"].replace("%%", "%"))


def test_installed_jaeger_runs_first_and_every_service_exports_to_it(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    plan = _plan(settings)

    jaeger = plan.component("jaeger")
    state = settings.state_dir.absolute()
    assert jaeger.command == ("/opt/bin/jaeger", f"--config={state}/jaeger/jaeger.yaml")
    assert jaeger.stage == STAGE_INFRASTRUCTURE  # healthy before ingest and the workers start
    assert jaeger.url == f"http://127.0.0.1:{PORTS['query']}"  # the UI
    assert jaeger.health_url == f"http://127.0.0.1:{PORTS['health']}/status"
    assert sorted(port for _, port in jaeger.listens) == sorted(PORTS.values())
    assert {host for host, _ in jaeger.listens} == {"127.0.0.1"}
    for name in ("ingest", "worker", "monitor"):
        env = _program_env(plan, name)
        assert env["HARBORHOOK_OTLP_ENDPOINT"] == f"http://127.0.0.1:{PORTS['otlp']}"
    assert not any("jaeger" in note for note in plan.notes)

    shared = stack_settings(plan.env, plan.components)
    assert shared["jaeger_url"] == f"http://127.0.0.1:{PORTS['query']}"
    assert "otlp_endpoint" not in shared  # a stale settings.json must not switch Jaeger off


def test_its_config_is_written_with_the_stacks_configs(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    plan = _plan(settings)

    written = prepare_stack_configs(settings, [c.name for c in plan.components], None)

    config = settings.layout.jaeger_config
    assert config in written
    document = yaml.safe_load(config.read_text())
    assert document["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == (
        f"127.0.0.1:{PORTS['otlp']}"
    )
    assert document["extensions"]["jaeger_query"]["http"]["endpoint"] == (
        f"127.0.0.1:{PORTS['query']}"
    )
    assert document["extensions"]["healthcheckv2"]["http"]["endpoint"] == (
        f"127.0.0.1:{PORTS['health']}"
    )
    assert "memory" in document["extensions"]["jaeger_storage"]["backends"]["memstore"]


def test_missing_jaeger_is_one_note_and_traces_stay_in_the_span_file(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    plan = plan_stack(
        settings,
        StackOptions(nsq=False),
        which=lambda name: None if name == "jaeger" else f"/opt/bin/{name}",
        environ={},
        python="/py",
    )

    assert "jaeger" not in [c.name for c in plan.components]
    notes = [note for note in plan.notes if "jaeger" in note]
    assert len(notes) == 1 and "\n" not in notes[0]
    assert "not on PATH" in notes[0] and str(settings.layout.spans_file) in notes[0]
    assert "HARBORHOOK_OTLP_ENDPOINT" not in _program_env(plan, "worker")
    assert "jaeger_url" not in stack_settings(plan.env, plan.components)


def test_a_configured_otlp_endpoint_keeps_its_traces_and_no_jaeger_starts(tmp_path: Path) -> None:
    settings = _settings(tmp_path, otlp_endpoint="http://collector.example:4318")
    plan = _plan(settings)

    assert "jaeger" not in [c.name for c in plan.components]
    assert any("otlp_endpoint is set" in note for note in plan.notes)
    assert "HARBORHOOK_OTLP_ENDPOINT" not in plan.env  # the children read it where it was set


def test_without_observability_no_jaeger(tmp_path: Path) -> None:
    plan = plan_stack(
        _settings(tmp_path),
        StackOptions(nsq=False, observability=False),
        which=lambda name: f"/opt/bin/{name}",
        environ={},
        python="/py",
    )
    assert [c.name for c in plan.components] == ["ingest", "worker", "monitor"]


def test_a_jaeger_port_planned_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="port 19090 is planned for both prometheus and jaeger"):
        _plan(_settings(tmp_path, jaeger_query_port=19090))
