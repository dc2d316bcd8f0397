"""The native stack's options as planned: PostgreSQL of its own, several workers, several nsqd."""

from __future__ import annotations

import configparser
import json
import os
import shlex
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
from supervisor.datatypes import dict_of_key_value_pairs

from harborctl.errors import StackError
from harborctl.layout import StateLayout
from harborctl.settings import Settings
from harborctl.stack.components import follow_ports
from harborctl.stack.model import StackOptions, StackPlan
from harborctl.stack.plan import plan_stack, postgres_connections
from harborctl.stack.postgres import (
    PostgresCluster,
    can_reach,
    stack_cluster_home,
    user_ids,
)
from harborctl.stack.prometheus import stack_scrape_jobs
from harborctl.stack.supervisor import render_supervisor_config
from harborctl.store.database import POOL_OVERFLOW, POOL_SIZE

PYTHON = "/opt/py/bin/python3"


def _which_all(name: str) -> str:
    return f"/opt/bin/{name}"


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        ingest_port=18080,
        worker_metrics_port=19101,
        monitor_port=19102,
        prometheus_port=19090,
        alertmanager_port=19093,
    )


def _fake_cluster(layout: StateLayout, port: int, max_connections: int) -> PostgresCluster:
    return PostgresCluster(
        bin_dir=Path("/usr/lib/postgresql/15/bin"),
        home=layout.root / "postgres",
        port=port,
        os_user="postgres",
        max_connections=max_connections,
    )


def _plan(
    tmp_path: Path, options: StackOptions, environ: dict[str, str] | None = None
) -> StackPlan:
    return plan_stack(
        _settings(tmp_path),
        options,
        which=_which_all,
        environ=environ or {},
        python=PYTHON,
        postgres=_fake_cluster,
    )


def _programs(plan: StackPlan) -> dict[str, configparser.SectionProxy]:
    parser = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    parser.read_string(render_supervisor_config(plan))
    return {
        name.removeprefix("program:"): parser[name]
        for name in parser.sections()
        if name.startswith("program:")
    }


FULL = StackOptions(
    nsqd_tcp_port=14150,
    nsqd_http_port=14151,
    nsqlookupd_tcp_port=14160,
    nsqlookupd_http_port=14161,
    nsqd_nodes=3,
    workers=3,
    database="postgres",
    postgres_port=15442,
)


def test_postgres_two_kinds_of_many_in_start_order(tmp_path: Path) -> None:
    plan = _plan(tmp_path, FULL)
    assert [c.name for c in plan.components] == [
        "postgres",
        "nsqlookupd",
        "nsqd-1",
        "nsqd-2",
        "nsqd-3",
        "ingest",
        "worker-1",
        "worker-2",
        "worker-3",
        "monitor",
        "alertmanager",
        "prometheus",
        "jaeger",
    ]
    assert [c.kind for c in plan.of_kind("worker")] == ["worker"] * 3
    assert plan.database == "postgres"


def test_the_infrastructure_starts_with_supervisord_and_harborhook_after_it(
    tmp_path: Path,
) -> None:
    plan = _plan(tmp_path, FULL)
    programs = _programs(plan)
    later = {"ingest", "worker-1", "worker-2", "worker-3", "monitor"}
    for name, program in programs.items():
        assert program["autostart"] == ("false" if name in later else "true"), name
    stages = {c.name: c.stage for c in plan.components}
    assert {name for name, stage in stages.items() if stage == 0} == {
        "postgres",
        "nsqlookupd",
        "nsqd-1",
        "nsqd-2",
        "nsqd-3",
        "jaeger",
    }  # what HarborHook needs up first (Jaeger: no span lost at start); Prometheus and
    # Alertmanager wait for nothing
    assert stages["prometheus"] == stages["alertmanager"] == 2
    assert programs["postgres"]["stopsignal"] == "INT"  # fast shutdown, not "wait for clients"
    assert programs["ingest"]["stopsignal"] == "TERM"


def test_postgres_runs_as_its_os_user_on_loopback_without_a_socket(tmp_path: Path) -> None:
    plan = _plan(tmp_path, FULL)
    command = shlex.split(_programs(plan)["postgres"]["command"].replace("%%", "%"))
    assert command[1:4] == ["-u", "postgres", "--"] and command[0].endswith("runuser")
    assert command[4] == "/usr/lib/postgresql/15/bin/postgres"
    assert command[5:7] == ["-D", f"{tmp_path}/state/postgres/data"]
    assert command[7:9] == ["-p", "15442"]
    assert "listen_addresses=127.0.0.1" in command
    assert "unix_socket_directories=" in command
    # every pool full at once: ingest, 3 workers, monitor
    assert f"max_connections={postgres_connections(3)}" in command
    assert postgres_connections(3) >= 5 * (POOL_SIZE + POOL_OVERFLOW)
    assert postgres_connections(1) >= 100
    assert "fsync=off" not in command  # the stack's commits cost what they cost
    postgres = plan.component("postgres")
    assert postgres.health_url == "postgresql://postgres@127.0.0.1:15442/postgres"
    assert postgres.listens == (("127.0.0.1", 15442),)


def test_every_child_sees_the_stack_s_database_and_every_nsqd(tmp_path: Path) -> None:
    configured = _settings(tmp_path).model_copy(
        update={"database_url": "postgresql://me:secret@elsewhere/x"}
    )
    plan = plan_stack(
        configured,
        FULL,
        which=_which_all,
        environ={"HARBORHOOK_DATABASE_URL": "postgresql://me:secret@elsewhere/x"},
        python=PYTHON,
        postgres=_fake_cluster,
    )
    env = dict_of_key_value_pairs(_programs(plan)["ingest"]["environment"].replace("%%", "%"))
    assert env["HARBORHOOK_DATABASE_URL"] == "postgresql://postgres@127.0.0.1:15442/harborhook"
    assert json.loads(env["HARBORHOOK_NSQD_TCP_ADDRESSES"]) == [
        "127.0.0.1:14150",
        "127.0.0.1:14152",
        "127.0.0.1:14154",
    ]
    assert env["HARBORHOOK_WORKER_METRICS_PORT"] == "19101"
    assert any("database_url is not used" in note for note in plan.notes)
    assert plan.database_url == "postgresql://postgres@127.0.0.1:15442/harborhook"


def test_nsqd_nodes_get_their_own_ports_data_dirs_and_node_ids(tmp_path: Path) -> None:
    plan = _plan(tmp_path, FULL)
    state = tmp_path / "state"
    for index, node in enumerate(plan.of_kind("nsqd"), start=1):
        tcp, http = 14150 + 2 * (index - 1), 14151 + 2 * (index - 1)
        assert node.listens == (("127.0.0.1", tcp), ("127.0.0.1", http))
        assert f"--node-id={index}" in node.command
        assert f"--data-path={state}/nsqd-{index}" in node.command
        assert "--lookupd-tcp-address=127.0.0.1:14160" in node.command


def test_nsqd_mem_queue_size_reaches_every_node_only_when_asked(tmp_path: Path) -> None:
    options = StackOptions(nsqd_tcp_port=14150, nsqd_http_port=14151, nsqd_nodes=2)
    plan = _plan(tmp_path, replace(options, nsqd_mem_queue_size=200))
    assert all("--mem-queue-size=200" in node.command for node in plan.of_kind("nsqd"))
    plan = _plan(tmp_path, options)
    assert not any("--mem-queue-size" in arg for arg in plan.component("nsqd-1").command)
    with pytest.raises(StackError):
        _plan(tmp_path, replace(options, nsqd_mem_queue_size=-1))


def test_one_nsqd_and_one_worker_keep_today_s_names_and_argv(tmp_path: Path) -> None:
    plan = _plan(tmp_path, StackOptions(nsqd_tcp_port=14150, nsqd_http_port=14151))
    names = [c.name for c in plan.components]
    assert "nsqd" in names and "worker" in names and "postgres" not in names
    assert not any(arg.startswith("--node-id") for arg in plan.component("nsqd").command)
    assert f"--data-path={tmp_path}/state/nsqd" in plan.component("nsqd").command
    assert plan.database == "sqlite"
    assert plan.postgres is None
    env = dict_of_key_value_pairs(_programs(plan)["ingest"]["environment"].replace("%%", "%"))
    assert "HARBORHOOK_DATABASE_URL" not in env


def test_worker_ports_follow_the_first_and_skip_other_components(tmp_path: Path) -> None:
    # 19102 is the monitor's: worker 2 takes 19103
    plan = _plan(tmp_path, StackOptions(nsq=False, workers=3))
    assert plan.worker_metrics_ports == [19101, 19103, 19104]
    given = _plan(tmp_path, StackOptions(nsq=False, workers=3, worker_metrics_ports=(20001, 20005)))
    assert given.worker_metrics_ports == [20001, 20005, 20006]
    commands = [c.command[-1] for c in given.of_kind("worker")]
    assert commands == ["20001", "20005", "20006"]


def test_nsqd_ports_skip_nsqlookupd(tmp_path: Path) -> None:
    options = StackOptions(nsqd_nodes=6)  # defaults: nsqd 4150/4151.., nsqlookupd 4160/4161
    plan = _plan(tmp_path, options)
    pairs = [node.listens for node in plan.of_kind("nsqd")]
    tcp = [pair[0][1] for pair in pairs]
    http = [pair[1][1] for pair in pairs]
    assert tcp == [4150, 4152, 4154, 4156, 4158, 4162]
    assert http == [4151, 4153, 4155, 4157, 4159, 4163]


def test_prometheus_scrapes_every_worker(tmp_path: Path) -> None:
    plan = _plan(tmp_path, FULL)
    settings = _settings(tmp_path)
    names = [c.name for c in plan.components]
    jobs = stack_scrape_jobs(settings, names, plan.worker_metrics_ports)
    assert jobs["worker"] == ["127.0.0.1:19101", "127.0.0.1:19103", "127.0.0.1:19104"]
    assert jobs["ingest"] == ["127.0.0.1:18080"]
    # one worker, no ports given: as before
    assert stack_scrape_jobs(settings, ["ingest", "worker"])["worker"] == ["127.0.0.1:19101"]


def test_contradictions_and_port_clashes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="nsq transport"):
        _plan(tmp_path, StackOptions(nsq=False, nsqd_nodes=2))
    with pytest.raises(StackError, match="port 18080 is planned for both"):
        _plan(tmp_path, StackOptions(nsq=False, worker_metrics_ports=(18080,)))
    with pytest.raises(StackError, match="workers must be"):
        _plan(tmp_path, StackOptions(workers=0))


def test_follow_ports() -> None:
    assert follow_ports([10], 3, step=2, taken={12}) == [10, 14, 16]
    assert follow_ports([10, 11], 1, step=1, taken=()) == [10]
    with pytest.raises(StackError, match="no ports left"):
        follow_ports([65535], 2, step=1, taken=())


def test_the_state_file_keeps_kinds_stages_and_the_database(tmp_path: Path) -> None:
    plan = _plan(tmp_path, FULL)
    restored = StackPlan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert restored.database == "postgres"
    assert [c.kind for c in restored.components] == [c.kind for c in plan.components]
    assert [c.stage for c in restored.components] == [c.stage for c in plan.components]
    assert restored.component("postgres").stop_signal == "INT"
    assert restored.worker_metrics_ports == [19101, 19103, 19104]


# ----------------------------------------------------------------- the cluster (pure parts)


def test_cluster_commands(tmp_path: Path) -> None:
    cluster = PostgresCluster(Path("/pg/bin"), tmp_path, 5999, None, durable=False)
    assert cluster.supervised_command() == cluster.server_argv()  # not root: no runuser
    argv = cluster.server_argv()
    assert argv[:5] == ("/pg/bin/postgres", "-D", f"{tmp_path}/data", "-p", "5999")
    assert "fsync=off" in argv and "synchronous_commit=off" in argv
    assert cluster.initdb_argv()[:3] == ("/pg/bin/initdb", "-D", f"{tmp_path}/data")
    assert "trust" in cluster.initdb_argv()
    assert cluster.url("db1") == "postgresql+psycopg://postgres@127.0.0.1:5999/db1"
    assert cluster.conninfo("db1") == "host=127.0.0.1 port=5999 user=postgres dbname=db1"


def _postgres_user_exists() -> bool:
    try:
        user_ids("postgres")
    except StackError:
        return False
    return True


@pytest.mark.skipif(
    not (_postgres_user_exists() and os.geteuid() == 0), reason="needs root and a postgres user"
)
def test_a_state_dir_the_postgres_user_cannot_reach_puts_the_cluster_elsewhere(
    tmp_path: Path,
) -> None:
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    layout = StateLayout.at(closed / "state")
    assert not can_reach(layout.root, "postgres")
    home = stack_cluster_home(layout, "postgres")
    assert home.parent == Path("/var/tmp") and home.name.startswith("harborhook-postgres-")
    assert home == stack_cluster_home(layout, "postgres")  # the same every time

    assert stack_cluster_home(layout, None) == layout.postgres_dir  # not root: in place

    with tempfile.TemporaryDirectory() as opened:  # in /tmp, which everyone may search
        Path(opened).chmod(0o711)
        reachable = StateLayout.at(Path(opened) / "state")
        assert can_reach(reachable.root, "postgres")
        assert stack_cluster_home(reachable, "postgres") == reachable.postgres_dir
