"""The service fixtures start real nsqd, nsqlookupd and PostgreSQL, and clean up after."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from tests.support.services import Nsqd, NsqdFactory, NsqLookupd, PostgresServer
from tests.support.wait import wait_until


def unique_topic() -> str:
    return f"smoke_{uuid.uuid4().hex[:12]}"


def test_nsqd_accepts_pub_over_http(nsqd: Nsqd) -> None:
    topic = unique_topic()

    response = httpx.post(f"{nsqd.http_url}/pub", params={"topic": topic}, content=b"hello")
    response.raise_for_status()

    stats = httpx.get(f"{nsqd.http_url}/stats", params={"format": "json"}).json()
    depths = {entry["topic_name"]: entry["depth"] for entry in stats["topics"]}
    assert depths[topic] == 1


def test_nsqlookupd_lists_nsqd_for_topic(nsqd: Nsqd, nsqlookupd: NsqLookupd) -> None:
    topic = unique_topic()
    nsqd.publish(topic, b"hello")

    producers = wait_until(
        lambda: nsqlookupd.producers(topic),
        timeout=10,
        describe=f"nsqlookupd to list a producer for {topic}",
    )

    assert [(p["broadcast_address"], p["tcp_port"]) for p in producers] == [
        ("127.0.0.1", nsqd.tcp_port)
    ]


def test_nsqd_keeps_messages_across_restart(nsqd_factory: NsqdFactory) -> None:
    node = nsqd_factory()
    topic = unique_topic()
    node.publish(topic, b"survives a restart")

    node.stop()
    assert not node.running
    node.start()

    assert node.topic_depth(topic) == 1


def test_nsqd_factory_nodes_register_with_the_same_lookupd(
    nsqd: Nsqd, nsqd_factory: NsqdFactory, nsqlookupd: NsqLookupd
) -> None:
    extra = nsqd_factory()
    topic = unique_topic()
    nsqd.publish(topic, b"one")
    extra.publish(topic, b"two")

    def both_registered() -> list[dict[str, Any]] | None:
        producers = nsqlookupd.producers(topic)
        return producers if len(producers) == 2 else None

    producers = wait_until(both_registered, describe=f"two producers for {topic}")
    assert {p["tcp_port"] for p in producers} == {nsqd.tcp_port, extra.tcp_port}
    assert extra.node_id != nsqd.node_id


def _dbname(url: str) -> str:
    database = make_url(url).database
    assert database is not None
    return database


_seen_databases: list[str] = []


def _public_tables(server: PostgresServer, dbname: str) -> list[str]:
    with psycopg.connect(server.conninfo(dbname)) as connection:
        rows = connection.execute(
            "select table_name from information_schema.tables where table_schema = 'public'"
        ).fetchall()
    return [row[0] for row in rows]


def _existing_test_databases(server: PostgresServer) -> list[str]:
    with psycopg.connect(server.conninfo()) as connection:
        rows = connection.execute("select datname from pg_database where datname like 'test_%'")
        return [row[0] for row in rows]


def test_postgres_database_answers_select_1(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    dbname = _dbname(postgres_url)
    assert (
        postgres_url == f"postgresql+psycopg://postgres@127.0.0.1:{postgres_server.port}/{dbname}"
    )
    with psycopg.connect(postgres_server.conninfo(dbname)) as connection:
        assert connection.execute("select 1").fetchone() == (1,)
        connection.execute("create table left_behind (id int)")
    _seen_databases.append(dbname)


def test_postgres_database_is_fresh_per_test(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    dbname = _dbname(postgres_url)

    assert dbname not in _seen_databases
    assert _public_tables(postgres_server, dbname) == []
    # The previous test's database was dropped when it ended.
    assert _existing_test_databases(postgres_server) == [dbname]


def test_sqlalchemy_connects_to_database_url(database_url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("select 1")).scalar_one() == 1
    finally:
        engine.dispose()
