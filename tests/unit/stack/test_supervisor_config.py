"""The supervisord config of the native stack, as planned and as supervisord reads it."""

from __future__ import annotations

import configparser
import json
import shlex
from pathlib import Path

import pytest
from supervisor.datatypes import dict_of_key_value_pairs
from supervisor.options import ServerOptions

from harborctl.errors import StackError
from harborctl.render import write_file
from harborctl.settings import Settings
from harborctl.stack.model import StackOptions, StackPlan
from harborctl.stack.plan import plan_stack
from harborctl.stack.supervisor import render_supervisor_config, supervisor_environment

PYTHON = "/opt/py/bin/python3"
ENVIRON = {
    "HARBORHOOK_ADMIN_KEY": "hh_admin_secret",
    "HARBORHOOK_MAX_ATTEMPTS": "3",
    "HARBORHOOK_DATABASE_URL": "postgresql://hh:p%40ss@db/hh",
    "PATH": "/usr/bin",
    "HOME": "/root",
}


def _which_all(name: str) -> str:
    return f"/opt/nsq/bin/{name}"


def _which_none(name: str) -> None:
    return None


def _settings(tmp_path: Path) -> Settings:
    return Settings(state_dir=tmp_path / "state", ingest_port=18080, worker_metrics_port=19101)


def _plan(tmp_path: Path, which: object, options: StackOptions | None = None) -> StackPlan:
    return plan_stack(
        _settings(tmp_path),
        options or StackOptions(nsqd_tcp_port=14150, nsqlookupd_http_port=14161),
        which=which,  # type: ignore[arg-type]
        environ=ENVIRON,
        python=PYTHON,
    )


def _parse(text: str) -> configparser.RawConfigParser:
    # supervisord's own reading: inline comments after whitespace, no interpolation here
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    parser.read_string(text)
    return parser


def _programs(parser: configparser.RawConfigParser) -> dict[str, configparser.SectionProxy]:
    return {
        name.removeprefix("program:"): parser[name]
        for name in parser.sections()
        if name.startswith("program:")
    }


def _unescape(value: str) -> str:
    return value.replace("%%", "%")


# ----------------------------------------------------------------- supervisord config


def test_with_nsq_every_component_is_a_program_in_start_order(tmp_path: Path) -> None:
    plan = _plan(tmp_path, _which_all)
    assert plan.transport == "nsq"
    parser = _parse(render_supervisor_config(plan))
    programs = _programs(parser)
    assert list(programs) == [
        "nsqlookupd",
        "nsqd",
        "ingest",
        "worker",
        "monitor",
        "alertmanager",
        "prometheus",
        "jaeger",
    ]
    priorities = [int(program["priority"]) for program in programs.values()]
    assert priorities == sorted(priorities)

    state = str(tmp_path / "state")
    commands = {name: shlex.split(_unescape(p["command"])) for name, p in programs.items()}
    assert commands["nsqlookupd"][0] == "/opt/nsq/bin/nsqlookupd"
    assert "--http-address=127.0.0.1:4161" not in commands["nsqlookupd"]  # overridden
    assert "--http-address=127.0.0.1:14161" in commands["nsqlookupd"]
    assert commands["nsqd"][0] == "/opt/nsq/bin/nsqd"
    assert f"--data-path={state}/nsqd" in commands["nsqd"]
    assert "--lookupd-tcp-address=127.0.0.1:4160" in commands["nsqd"]
    assert "--broadcast-address=127.0.0.1" in commands["nsqd"]
    assert "--tcp-address=127.0.0.1:14150" in commands["nsqd"]
    assert commands["ingest"] == [PYTHON, "-m", "harborctl", "run", "ingest"]
    assert commands["worker"] == [
        PYTHON,
        "-m",
        "harborctl",
        "run",
        "worker",
        "--metrics-port",
        "19101",
    ]

    for name, program in programs.items():
        env = dict_of_key_value_pairs(_unescape(program["environment"]))
        assert env["HARBORHOOK_STATE_DIR"] == state
        assert env["HARBORHOOK_TRANSPORT"] == "nsq"
        assert json.loads(env["HARBORHOOK_NSQD_TCP_ADDRESSES"]) == ["127.0.0.1:14150"]
        assert json.loads(env["HARBORHOOK_NSQLOOKUPD_HTTP_ADDRESSES"]) == ["127.0.0.1:14161"]
        assert env["HARBORHOOK_INGEST_PORT"] == "18080"
        assert env["HARBORHOOK_WORKER_METRICS_PORT"] == "19101"
        assert env["HARBORHOOK_MAX_ATTEMPTS"] == "3"  # caller's HARBORHOOK_* passes through
        assert env["HARBORHOOK_DATABASE_URL"] == "postgresql://hh:p%40ss@db/hh"
        assert "PATH" not in env and "HOME" not in env
        assert program["autorestart"] == "true"
        assert program["stopsignal"] == "TERM"
        assert int(program["stopwaitsecs"]) >= 30
        assert program["stopasgroup"] == program["killasgroup"] == "true"
        assert _unescape(program["stdout_logfile"]) == f"{state}/logs/{name}.log"


def test_without_nsq_binaries_the_transport_is_db(tmp_path: Path) -> None:
    plan = _plan(tmp_path, _which_none)
    assert plan.transport == "db"
    assert any("not on PATH" in note for note in plan.notes)
    programs = _programs(_parse(render_supervisor_config(plan)))
    assert list(programs) == ["ingest", "worker", "monitor"]
    env = dict_of_key_value_pairs(_unescape(programs["worker"]["environment"]))
    assert env["HARBORHOOK_TRANSPORT"] == "db"
    assert "HARBORHOOK_NSQD_TCP_ADDRESSES" not in env


def test_no_nsq_forces_db_even_when_installed(tmp_path: Path) -> None:
    plan = _plan(tmp_path, _which_all, StackOptions(nsq=False))
    assert plan.transport == "db"
    assert [c.name for c in plan.components] == [
        "ingest",
        "worker",
        "monitor",
        "alertmanager",
        "prometheus",
        "jaeger",
    ]


def test_supervisord_itself_listens_on_a_unix_socket_in_the_state_dir(tmp_path: Path) -> None:
    parser = _parse(render_supervisor_config(_plan(tmp_path, _which_none)))
    run = tmp_path / "state" / "run"
    assert parser["unix_http_server"]["file"] == f"{run}/supervisord.sock"
    assert "inet_http_server" not in parser
    assert parser["supervisord"]["nodaemon"] == "false"
    assert parser["supervisord"]["pidfile"] == f"{run}/supervisord.pid"
    assert parser["supervisorctl"]["serverurl"] == f"unix://{run}/supervisord.sock"


def test_supervisord_reads_the_config_as_planned(tmp_path: Path) -> None:
    """supervisord's own parser: %-expansion, argv splitting, environment quoting."""
    plan = _plan(tmp_path, _which_all)
    config = write_file(tmp_path / "supervisord.conf", render_supervisor_config(plan))
    for directory in ("logs", "run"):  # supervisord insists they exist; `up` creates them
        (tmp_path / "state" / directory).mkdir(parents=True)
    options = ServerOptions()
    options.configfile = str(config)
    options.process_config(do_usage=False)
    processes = {
        process.name: process
        for group in options.process_group_configs
        for process in group.process_configs
    }
    assert list(processes) == [
        "nsqlookupd",
        "nsqd",
        "ingest",
        "worker",
        "monitor",
        "alertmanager",
        "prometheus",
        "jaeger",
    ]
    for component in plan.components:
        process = processes[component.name]
        assert shlex.split(process.command) == list(component.command)
        assert process.environment == {**plan.env, **component.env}
        assert process.stopasgroup and process.killasgroup
        assert process.stopwaitsecs >= 30


def test_environment_values_supervisord_cannot_carry_are_refused() -> None:
    assert supervisor_environment({"A": "it's"}) == 'A="it\'s"'
    with pytest.raises(StackError, match="QUOTED"):
        supervisor_environment({"QUOTED": "'x'"})
    with pytest.raises(StackError, match="BOTH"):
        supervisor_environment({"BOTH": "a'b\"c"})


def test_state_file_keeps_no_environment(tmp_path: Path) -> None:
    plan = _plan(tmp_path, _which_all)
    data = plan.to_dict()
    assert "hh_admin_secret" not in json.dumps(data)
    restored = StackPlan.from_dict(json.loads(json.dumps(data)))
    assert [c.name for c in restored.components] == [c.name for c in plan.components]
    assert restored.component("nsqd").listens == plan.component("nsqd").listens
    assert restored.transport == "nsq"
