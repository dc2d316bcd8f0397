"""harborctl against the real ingest API (uvicorn on 127.0.0.1, SQLite, db transport).

No worker runs, so every delivery stays ``queued``: the tests check what the CLI shows and
how it fails, not delivery itself.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from harborctl.cli.app import app
from harborctl.settings import Settings

if importlib.util.find_spec("harborctl.ingest.app") is None:
    pytest.skip("harborctl.ingest.app is not there yet", allow_module_level=True)

ADMIN_KEY = "test-admin"


@dataclass(frozen=True)
class Ingest:
    url: str
    state_dir: Path


@dataclass(frozen=True)
class TenantInfo:
    tenant_id: str
    api_key: str


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingest]:
    import uvicorn

    from harborctl.ingest.app import create_app

    state_dir = tmp_path_factory.mktemp("ingest")
    settings = Settings(
        state_dir=state_dir,
        database_url=f"sqlite:///{state_dir}/hh.db",
        transport="db",
        admin_key=ADMIN_KEY,
        outbound_allow_cidrs=["127.0.0.1/32"],  # the test endpoints point at loopback
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # the server gets the bound socket: no port race
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, thread, deadline=time.monotonic() + 20)
        yield Ingest(url=url, state_dir=state_dir)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_healthy(url: str, thread: threading.Thread, deadline: float) -> None:
    last: Exception | None = None
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the ingest server thread exited during start-up")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).json() == {"status": "ok"}:
                return
        except (httpx.HTTPError, ValueError) as exc:
            last = exc
        time.sleep(0.05)
    raise TimeoutError(f"ingest at {url} not healthy in time: {last!r}")


def _base_env(state_dir: Path) -> dict[str, str | None]:
    """Only the test's HARBORHOOK_* settings (the machine's are blanked out)."""
    env: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("HARBORHOOK_")
    }
    env["HARBORHOOK_STATE_DIR"] = str(state_dir)
    return env


def cli(ingest: Ingest, *args: str, key: str | None = None, tenant: str | None = None) -> Result:
    env = _base_env(ingest.state_dir)
    env["HARBORHOOK_API_URL"] = ingest.url
    env["HARBORHOOK_ADMIN_KEY"] = ADMIN_KEY
    if key is not None:
        env["HARBORHOOK_API_KEY"] = key
    if tenant is not None:
        env["HARBORHOOK_TENANT_ID"] = tenant
    return CliRunner().invoke(app, list(args), env=env)


def ok_json(result: Result) -> Any:
    assert result.exit_code == 0, f"exit {result.exit_code}: {result.output}"
    return json.loads(result.stdout)


def one_error_line(result: Result) -> str:
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line: str = lines[0]
    assert line.startswith("error: ")
    return line


def new_tenant(ingest: Ingest, name: str) -> TenantInfo:
    data = ok_json(cli(ingest, "tenants", "create", name, "--json"))
    return TenantInfo(tenant_id=data["tenant_id"], api_key=data["api_key"])


def new_endpoint(ingest: Ingest, who: TenantInfo) -> str:
    data = ok_json(
        cli(
            ingest,
            "endpoints",
            "create",
            "--url",
            "http://127.0.0.1:9/hook",
            "--description",
            "[test] receiver",
            "--json",
            key=who.api_key,
            tenant=who.tenant_id,
        )
    )
    assert data["secret"].startswith("whsec_")
    endpoint_id: str = data["endpoint"]["endpoint_id"]
    return endpoint_id


def test_publish_fans_out_and_deliveries_show_it(ingest: Ingest) -> None:
    acme = new_tenant(ingest, "acme")
    as_acme = {"key": acme.api_key, "tenant": acme.tenant_id}

    listed = ok_json(cli(ingest, "tenants", "list", "--json"))
    assert acme.tenant_id in [t["tenant_id"] for t in listed["tenants"]]

    endpoint_id = new_endpoint(ingest, acme)
    shown = cli(ingest, "endpoints", "list", **as_acme)
    assert shown.exit_code == 0 and "[test] receiver" in shown.stdout  # verbatim, not markup

    sub = ok_json(
        cli(
            ingest,
            "subscriptions",
            "create",
            "--endpoint-id",
            endpoint_id,
            "--event-type",
            "order.created",
            "--json",
            **as_acme,
        )
    )
    assert sub["subscription"]["endpoint_id"] == endpoint_id
    subs = ok_json(cli(ingest, "subscriptions", "list", "--json", **as_acme))
    assert [s["event_type"] for s in subs["subscriptions"]] == ["order.created"]

    published = ok_json(
        cli(
            ingest,
            "events",
            "publish",
            "--type",
            "order.created",
            "--data",
            '{"order_id": 42}',
            "--idempotency-key",
            "order-42",
            "--json",
            **as_acme,
        )
    )
    assert published["fanout_count"] == 1
    assert published["duplicate"] is False
    event_id = published["event_id"]

    again = ok_json(
        cli(
            ingest,
            "events",
            "publish",
            "-t",
            "order.created",
            "-d",
            '{"order_id": 42}',
            "--idempotency-key",
            "order-42",
            "--json",
            **as_acme,
        )
    )
    assert (again["event_id"], again["duplicate"]) == (event_id, True)

    status = ok_json(cli(ingest, "deliveries", "status", event_id, "--json", **as_acme))
    assert status["event_id"] == event_id
    [delivery] = status["deliveries"]
    assert (delivery["endpoint_id"], delivery["status"]) == (endpoint_id, "queued")

    table = cli(ingest, "deliveries", "status", event_id, **as_acme)
    assert table.exit_code == 0, table.output
    assert "queued" in table.stdout and "1 deliveries" in table.stdout

    queued = ok_json(
        cli(
            ingest, "deliveries", "list", "--status", "queued", "--limit", "10", "--json", **as_acme
        )
    )
    assert [d["delivery_id"] for d in queued["deliveries"]] == [delivery["delivery_id"]]

    detail = ok_json(
        cli(ingest, "deliveries", "show", delivery["delivery_id"], "--json", **as_acme)
    )
    assert detail["delivery"]["delivery_id"] == delivery["delivery_id"]
    assert detail["attempts"] == []
    human = cli(ingest, "deliveries", "show", delivery["delivery_id"], **as_acme)
    assert human.exit_code == 0 and "no attempts yet" in human.stdout

    assert ok_json(cli(ingest, "dlq", "list", "--since", "1h", "--json", **as_acme)) == {
        "deliveries": []
    }
    dry = ok_json(cli(ingest, "dlq", "replay", "--all", "--dry-run", "--json", **as_acme))
    assert dry == {"dry_run": True, "replayed": 0, "deliveries": []}


def test_delete_then_get_answers_not_found(ingest: Ingest) -> None:
    who = new_tenant(ingest, "deleter")
    endpoint_id = new_endpoint(ingest, who)
    as_who = {"key": who.api_key, "tenant": who.tenant_id}
    sub = ok_json(
        cli(
            ingest,
            "subscriptions",
            "create",
            "--endpoint-id",
            endpoint_id,
            "--event-type",
            "a.b",
            "--json",
            **as_who,
        )
    )
    sub_id = sub["subscription"]["subscription_id"]
    assert cli(ingest, "subscriptions", "delete", sub_id, **as_who).exit_code == 0
    assert cli(ingest, "endpoints", "delete", endpoint_id, **as_who).exit_code == 0
    gone = cli(ingest, "endpoints", "get", endpoint_id, **as_who)
    assert gone.exit_code == 4
    assert endpoint_id in one_error_line(gone)


def test_unknown_endpoint_id_fails_naming_the_field(ingest: Ingest) -> None:
    who = new_tenant(ingest, "typo")
    result = cli(
        ingest,
        "subscriptions",
        "create",
        "--endpoint-id",
        "ep_does_not_exist",
        "--event-type",
        "order.created",
        key=who.api_key,
        tenant=who.tenant_id,
    )
    assert result.exit_code != 0
    line = one_error_line(result)
    assert "ep_does_not_exist" in line
    assert "field: endpoint_id" in line


def test_invalid_field_is_named(ingest: Ingest) -> None:
    who = new_tenant(ingest, "invalid")
    result = cli(
        ingest,
        "endpoints",
        "create",
        "--url",
        "http://127.0.0.1:9/x",
        "--max-attempts",
        "0",
        key=who.api_key,
        tenant=who.tenant_id,
    )
    assert result.exit_code == 2
    assert "max_attempts" in one_error_line(result)


@pytest.mark.parametrize(
    "data",
    [
        '{"s":"\\ud800"}',  # a lone surrogate escape
        '{"x":NaN,"y":1e400,"z":-Infinity}',
        '{"y":1e400}',
        '{"dup":{"k":1,"k":2}}',
        "[" * 100 + "]" * 100,
        "{not json",
        "",
    ],
)
def test_publish_refuses_what_strict_receivers_refuse_in_one_line(
    ingest: Ingest, data: str
) -> None:
    who = new_tenant(ingest, "strict")
    result = cli(
        ingest, "events", "publish", "--type", "a.b", "--data", data,
        key=who.api_key, tenant=who.tenant_id,
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert one_error_line(result).startswith("error: --data")
    assert "Traceback" not in result.output


def test_publish_sends_the_payload_text_unchanged(ingest: Ingest, tmp_path: Path) -> None:
    who = new_tenant(ingest, "exact")
    text = '{"amount": 10.10, "id": 9007199254740993.0, "b": 1, "a": 2}'
    data_file = tmp_path / "payload.json"
    data_file.write_text(text + "\n")
    args = ["events", "publish", "--type", "a.b", "--data-file", str(data_file), "--json"]
    published = ok_json(cli(ingest, *args, key=who.api_key, tenant=who.tenant_id))
    from harborctl.store import Store

    store = Store.open(f"sqlite:///{ingest.state_dir}/hh.db")
    try:
        event = store.events.get_event(who.tenant_id, published["event_id"])
    finally:
        store.dispose()
    assert event.payload == text.encode()


def test_another_tenants_key_answers_404(ingest: Ingest) -> None:
    owner = new_tenant(ingest, "owner")
    intruder = new_tenant(ingest, "intruder")
    endpoint_id = new_endpoint(ingest, owner)

    # the intruder's own tenant, the owner's endpoint id
    result = cli(
        ingest, "endpoints", "get", endpoint_id, key=intruder.api_key, tenant=intruder.tenant_id
    )
    assert result.exit_code == 4
    one_error_line(result)

    # the owner's tenant id with the intruder's key
    result = cli(
        ingest, "endpoints", "get", endpoint_id, key=intruder.api_key, tenant=owner.tenant_id
    )
    assert result.exit_code == 4
    one_error_line(result)


def test_unknown_key_exits_3(ingest: Ingest) -> None:
    result = cli(ingest, "endpoints", "list", key="hh_not_a_key", tenant="ten_x")
    assert result.exit_code == 3
    assert "HARBORHOOK_API_KEY" in one_error_line(result)


def test_ingest_not_running_says_cannot_reach(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = _base_env(tmp_path)
    env.update(
        HARBORHOOK_API_URL=f"http://127.0.0.1:{port}",
        HARBORHOOK_API_KEY="k",
        HARBORHOOK_TENANT_ID="ten_x",
    )
    result = CliRunner().invoke(app, ["endpoints", "list"], env=env)
    assert result.exit_code == 1
    assert f"cannot reach the ingest API at http://127.0.0.1:{port}" in one_error_line(result)


# --- endpoints with a lifecycle -------------------------------------------------------------


def _api(ingest: Ingest, who: TenantInfo) -> httpx.Client:
    return httpx.Client(
        base_url=f"{ingest.url}/v1/tenants/{who.tenant_id}",
        headers={"Authorization": f"Bearer {who.api_key}"},
        timeout=10,
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": None}, "url"),
        ({"url": "http://10.0.0.7/hook"}, "url"),  # the outbound request guard's ranges
        ({"url": "http://2130706433/hook"}, "url"),  # 127.0.0.1 spelt as a number
        ({"max_attempts": 0}, "max_attempts"),
        ({"rate_limit_rps": -1}, "rate_limit_rps"),
        ({"enabled": None}, "enabled"),
        ({"enabled": "maybe"}, "enabled"),
        ({"description": "x" * 1001}, "description"),
        ({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "secret"),
        ({"colour": "blue"}, "colour"),
        ({}, "body"),
    ],
)
def test_patch_refuses_bad_input_naming_the_field_and_changes_nothing(
    ingest: Ingest, body: dict[str, Any], field: str
) -> None:
    who = new_tenant(ingest, "patcher")
    endpoint_id = new_endpoint(ingest, who)
    with _api(ingest, who) as api:
        before = api.get(f"/endpoints/{endpoint_id}").json()
        # a good field beside the bad one is not applied either
        answer = api.patch(f"/endpoints/{endpoint_id}", json={"max_attempts": 7, **body})
        after = api.get(f"/endpoints/{endpoint_id}").json()
    if body:
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["field"] == field
    else:  # max_attempts alone is a good request: the empty body is checked on its own
        assert answer.status_code == 200
        with _api(ingest, who) as api:
            empty = api.patch(f"/endpoints/{endpoint_id}", json={})
        assert empty.status_code == 422 and empty.json()["error"]["field"] == "body"
        return
    assert after == before


def test_patch_changes_the_fields_given_and_another_tenant_gets_404(ingest: Ingest) -> None:
    owner = new_tenant(ingest, "patch-owner")
    intruder = new_tenant(ingest, "patch-intruder")
    endpoint_id = new_endpoint(ingest, owner)
    with _api(ingest, owner) as api:
        changed = api.patch(
            f"/endpoints/{endpoint_id}",
            json={
                "url": "https://hooks.example.com/v2",
                "rate_limit_rps": 2.5,
                "description": None,
            },
        )
    assert changed.status_code == 200, changed.text
    view = changed.json()["endpoint"]
    assert (view["url"], view["rate_limit_rps"], view["description"]) == (
        "https://hooks.example.com/v2",
        2.5,
        None,
    )
    assert view["enabled"] is True and view["updated_at"] >= view["created_at"]
    assert "secret" not in json.dumps(changed.json()).replace("previous_secret_until", "")
    with _api(ingest, intruder) as api:
        theirs = api.patch(f"/endpoints/{endpoint_id}", json={"max_attempts": 1})
    assert theirs.status_code == 404
    with httpx.Client(headers={"Authorization": f"Bearer {intruder.api_key}"}) as api:
        cross = api.patch(
            f"{ingest.url}/v1/tenants/{owner.tenant_id}/endpoints/{endpoint_id}",
            json={"max_attempts": 1},
        )
    assert cross.status_code in (403, 404)
    with _api(ingest, owner) as api:
        assert api.get(f"/endpoints/{endpoint_id}").json()["endpoint"]["max_attempts"] is None


def test_cli_update_disable_enable_and_list_shows_why(ingest: Ingest) -> None:
    who = new_tenant(ingest, "lifecycle-cli")
    as_who = {"key": who.api_key, "tenant": who.tenant_id}
    endpoint_id = new_endpoint(ingest, who)

    updated = ok_json(
        cli(
            ingest, "endpoints", "update", endpoint_id, "--max-attempts", "3",
            "--url", "https://hooks.example.com/new", "--clear", "description", "--json", **as_who,
        )
    )  # fmt: skip
    view = updated["endpoint"]
    assert (view["max_attempts"], view["url"], view["description"]) == (
        3,
        "https://hooks.example.com/new",
        None,
    )
    disabled = ok_json(cli(ingest, "endpoints", "disable", endpoint_id, "--json", **as_who))
    assert disabled["endpoint"]["enabled"] is False
    assert disabled["endpoint"]["disabled_reason"] == "manual"

    listed = ok_json(cli(ingest, "endpoints", "list", "--json", **as_who))
    [row] = listed["endpoints"]
    assert (row["enabled"], row["disabled_reason"]) == (False, "manual")
    assert row["disabled_at"]
    table = cli(ingest, "endpoints", "list", **as_who)
    assert table.exit_code == 0 and "disabled: manual" in table.stdout

    enabled = cli(ingest, "endpoints", "enable", endpoint_id, **as_who)
    assert enabled.exit_code == 0, enabled.output
    assert f"harborctl dlq replay --endpoint-id {endpoint_id}" in enabled.stderr
    [row] = ok_json(cli(ingest, "endpoints", "list", "--json", **as_who))["endpoints"]
    assert (row["enabled"], row["disabled_reason"], row["disabled_at"]) == (True, None, None)

    threshold = ok_json(
        cli(
            ingest, "endpoints", "update", endpoint_id, "--breaker-failure-threshold", "7",
            "--json", **as_who,
        )
    )  # fmt: skip
    assert threshold["endpoint"]["breaker_failure_threshold"] == 7
    cleared = ok_json(
        cli(
            ingest, "endpoints", "update", endpoint_id, "--clear", "breaker-failure-threshold",
            "--json", **as_who,
        )
    )  # fmt: skip
    assert cleared["endpoint"]["breaker_failure_threshold"] is None

    nothing = cli(ingest, "endpoints", "update", endpoint_id, **as_who)
    assert nothing.exit_code == 2 and "nothing to change" in one_error_line(nothing)
    bad = cli(ingest, "endpoints", "update", endpoint_id, "--max-attempts", "0", **as_who)
    assert bad.exit_code == 2 and "max_attempts" in one_error_line(bad)
    blocked = cli(
        ingest, "endpoints", "update", endpoint_id, "--url", "http://169.254.169.254/x", **as_who
    )
    assert blocked.exit_code == 2 and "field: url" in one_error_line(blocked)
    missing = cli(ingest, "endpoints", "disable", "ep_missing", **as_who)
    assert missing.exit_code == 4 and "ep_missing" in one_error_line(missing)


def test_rotate_secret_shows_the_new_secret_once_and_the_overlap(ingest: Ingest) -> None:
    who = new_tenant(ingest, "rotator")
    as_who = {"key": who.api_key, "tenant": who.tenant_id}
    endpoint_id = new_endpoint(ingest, who)

    rotated = ok_json(
        cli(
            ingest, "endpoints", "rotate-secret", endpoint_id, "--overlap", "2h", "--json", **as_who
        )
    )
    assert rotated["secret"].startswith("whsec_")
    until = datetime.fromisoformat(rotated["endpoint"]["previous_secret_until"])
    assert timedelta(hours=1, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=2)
    shown = ok_json(cli(ingest, "endpoints", "get", endpoint_id, "--json", **as_who))
    assert rotated["secret"] not in json.dumps(shown)  # never shown again

    given = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    human = cli(
        ingest, "endpoints", "rotate-secret", endpoint_id, "--secret", given, "--overlap", "0",
        **as_who,
    )  # fmt: skip
    assert human.exit_code == 0, human.output
    assert given in human.stdout and "The old secret signs no more." in human.stderr

    with _api(ingest, who) as api:
        default = api.post(f"/endpoints/{endpoint_id}:rotate-secret", json={})
        no_body = api.post(f"/endpoints/{endpoint_id}:rotate-secret")
        short = api.post(f"/endpoints/{endpoint_id}:rotate-secret", json={"secret": "whsec_eA=="})
        long = api.post(
            f"/endpoints/{endpoint_id}:rotate-secret", json={"overlap_seconds": 31 * 86400}
        )
        other = new_tenant(ingest, "not-the-rotator")
    assert default.status_code == 200, default.text
    assert no_body.status_code == 422 and no_body.json()["error"]["field"] == "body"
    until = datetime.fromisoformat(default.json()["endpoint"]["previous_secret_until"])
    assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(hours=24)  # the default
    assert short.status_code == 422 and short.json()["error"]["field"] == "secret"
    assert "24 to 64" in short.json()["error"]["message"]
    assert long.status_code == 422 and long.json()["error"]["field"] == "overlap_seconds"
    with _api(ingest, other) as api:
        assert api.post(f"/endpoints/{endpoint_id}:rotate-secret", json={}).status_code == 404

    bad = cli(ingest, "endpoints", "rotate-secret", endpoint_id, "--overlap", "soon", **as_who)
    assert bad.exit_code == 2 and "--overlap" in one_error_line(bad)
