"""ApiClient error translation against a real local HTTP server, and the CLI's local checks.

The server is a real ``http.server`` on 127.0.0.1 (a free port): it answers whatever reply
the test scripts and records every request, so "no request was made" is observable.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harborctl.cli.app import app
from harborctl.cli.dlq import parse_since
from harborctl.client import ApiClient, client_from_settings
from harborctl.errors import ApiError, HarborHookError
from harborctl.settings import Settings


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    content_type: str = "application/json"
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeApi:
    url: str
    reply: Reply = field(default_factory=Reply)
    requests: list[Seen] = field(default_factory=list)

    def answer(self, status: int, data: Any = None, **kwargs: Any) -> None:
        body = b"" if data is None else json.dumps(data).encode()
        self.reply = Reply(status=status, body=body, **kwargs)

    def json_body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].body)


def _handler(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            api.requests.append(Seen(self.command, self.path, dict(self.headers), body))
            reply = api.reply
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                if reply.body:
                    self.send_header("Content-Type", reply.content_type)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except OSError:
                pass  # the client gave up (the timeout test): nothing to tell anyone

        do_GET = do_POST = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # never print a traceback into another test's captured stderr


@pytest.fixture
def api() -> Iterator[FakeApi]:
    fake = FakeApi(url="")
    server = _QuietServer(("127.0.0.1", 0), _handler(fake))
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def closed_url() -> str:
    """A URL on a port where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No HARBORHOOK_* from the machine; state (the admin key file) in the test's own dir."""
    import os

    for name in list(os.environ):
        if name.startswith("HARBORHOOK_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HARBORHOOK_STATE_DIR", str(tmp_path))


# -- ApiClient: error translation ------------------------------------------------------------


def test_error_json_becomes_api_error_with_code_message_and_field(api: FakeApi) -> None:
    api.answer(
        422,
        {"error": {"code": "invalid", "message": "url must be http(s)", "field": "url"}},
    )
    with ApiClient(api.url, "k") as client, pytest.raises(ApiError) as caught:
        client.create_endpoint("ten_1", "ftp://x")
    error = caught.value
    assert (error.status_code, error.code, error.field) == (422, "invalid", "url")
    assert "url must be http(s)" in str(error)
    assert "field: url" in str(error)
    assert error.exit_code == 2


def test_not_found_maps_to_exit_code_4(api: FakeApi) -> None:
    api.answer(404, {"error": {"code": "not_found", "message": "endpoint ep_x not found"}})
    with ApiClient(api.url, "k") as client, pytest.raises(ApiError) as caught:
        client.get_endpoint("ten_1", "ep_x")
    assert caught.value.status_code == 404
    assert caught.value.field is None
    assert caught.value.exit_code == 4


def test_unauthorized_says_which_key_was_sent(api: FakeApi) -> None:
    api.answer(401, {"error": {"code": "unauthorized", "message": "unknown API key"}})
    with (
        ApiClient(api.url, "k", key_source="HARBORHOOK_API_KEY") as client,
        pytest.raises(ApiError) as caught,
    ):
        client.list_endpoints("ten_1")
    assert caught.value.exit_code == 3
    assert "HARBORHOOK_API_KEY" in str(caught.value)


def test_fastapi_validation_detail_names_the_field(api: FakeApi) -> None:
    api.answer(
        422,
        {"detail": [{"loc": ["body", "event_type"], "msg": "Field required", "type": "missing"}]},
    )
    with ApiClient(api.url, "k") as client, pytest.raises(ApiError) as caught:
        client.publish_event("ten_1", "", {})
    assert caught.value.field == "event_type"
    assert "Field required" in str(caught.value)


def test_non_json_error_body_becomes_a_short_one_line_api_error(api: FakeApi) -> None:
    page = "<html><body>\n<h1>502 Bad Gateway</h1>\n" + "x" * 5000 + "</body></html>"
    api.reply = Reply(status=502, body=page.encode(), content_type="text/html")
    with ApiClient(api.url, "k") as client, pytest.raises(ApiError) as caught:
        client.list_tenants()
    error = caught.value
    assert error.status_code == 502
    assert error.code == "http_502"
    assert "502 Bad Gateway" in str(error)
    assert "\n" not in str(error)
    assert "<h1>" not in str(error)
    assert len(str(error)) < 300
    assert error.exit_code == 1


def test_empty_error_body_still_says_the_status(api: FakeApi) -> None:
    api.answer(500)
    with ApiClient(api.url, "k") as client, pytest.raises(ApiError) as caught:
        client.health()
    assert caught.value.status_code == 500
    assert "Internal Server Error" in str(caught.value)


def test_unreachable_api_says_cannot_reach(closed_url: str) -> None:
    with ApiClient(closed_url, "k") as client, pytest.raises(HarborHookError) as caught:
        client.health()
    assert not isinstance(caught.value, ApiError)
    message = str(caught.value)
    assert message.startswith(f"cannot reach the ingest API at {closed_url}")
    assert "harborctl up" in message


def test_slow_api_says_it_did_not_answer(api: FakeApi) -> None:
    api.reply = Reply(delay=1.0)
    with ApiClient(api.url, "k", timeout=0.2) as client, pytest.raises(HarborHookError) as caught:
        client.health()
    assert "did not answer" in str(caught.value)


def test_success_without_a_json_object_is_an_error(api: FakeApi) -> None:
    api.reply = Reply(status=200, body=b"ok", content_type="text/plain")
    with ApiClient(api.url, "k") as client, pytest.raises(HarborHookError) as caught:
        client.health()
    assert "not a JSON object" in str(caught.value)


# -- ApiClient: requests it sends ------------------------------------------------------------


def test_requests_carry_key_paths_bodies_and_params(api: FakeApi) -> None:
    api.answer(202, {"event_id": "evt_1", "fanout_count": 1, "duplicate": False})
    with ApiClient(api.url, "secret-key") as client:
        result = client.publish_event("ten/1", "order.created", {"a": 1}, idempotency_key="i1")
        assert result["event_id"] == "evt_1"
        api.answer(200, {"deliveries": []})
        client.list_deliveries("ten_1", status="dead", limit=5)
        api.answer(204)
        client.delete_endpoint("ten_1", "ep_1")
        api.answer(202, {"dry_run": True, "replayed": 0, "deliveries": []})
        client.replay_dlq("ten_1", endpoint_id="ep_1", dry_run=True)

    publish, listing, delete, replay = api.requests
    assert publish.method == "POST"
    assert publish.path == "/v1/tenants/ten%2F1/events:publish"
    assert publish.headers["Authorization"] == "Bearer secret-key"
    assert json.loads(publish.body) == {
        "event_type": "order.created",
        "payload": {"a": 1},
        "idempotency_key": "i1",
    }
    assert listing.path == "/v1/tenants/ten_1/deliveries?status=dead&limit=5"
    assert (delete.method, delete.path) == ("DELETE", "/v1/tenants/ten_1/endpoints/ep_1")
    assert replay.path == "/v1/tenants/ten_1/dlq:replay"
    assert json.loads(replay.body) == {"endpoint_id": "ep_1", "dry_run": True}


def test_key_precedence_explicit_then_api_key_then_admin_key(api: FakeApi, tmp_path: Path) -> None:
    api.answer(200, {"status": "ok"})
    with_tenant_key = Settings(
        state_dir=tmp_path, api_url=api.url, api_key="tenant-key", admin_key="admin-key"
    )
    admin_only = Settings(state_dir=tmp_path, api_url=api.url, admin_key="admin-key")
    for settings, explicit in [
        (with_tenant_key, "explicit-key"),
        (with_tenant_key, None),
        (admin_only, None),
    ]:
        with client_from_settings(settings, explicit) as client:
            client.health()
    sent = [seen.headers["Authorization"] for seen in api.requests]
    assert sent == ["Bearer explicit-key", "Bearer tenant-key", "Bearer admin-key"]


# -- CLI: local input is checked before any request ------------------------------------------


@pytest.fixture
def env(api: FakeApi) -> dict[str, str]:
    return {
        "HARBORHOOK_API_URL": api.url,
        "HARBORHOOK_API_KEY": "k",
        "HARBORHOOK_TENANT_ID": "ten_1",
    }


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, args, env=env, input=stdin)


def _one_line_error(result: Any) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    line: str = lines[0]
    assert line.startswith("error: ")
    return line


@pytest.mark.parametrize(
    ("args", "stdin", "named"),
    [
        (["--data", "{not json"], None, "--data"),
        (["--data-file", "/nonexistent/payload.json"], None, "--data-file"),
        (["--data-file", "-"], "{'single': 'quotes'}", "--data-file"),
        (["--data", "{}", "--data-file", "-"], "{}", "--data"),
        ([], None, "--data"),
    ],
)
def test_publish_rejects_bad_payload_before_any_request(
    api: FakeApi, env: dict[str, str], args: list[str], stdin: str | None, named: str
) -> None:
    result = _run(["events", "publish", "--type", "order.created", *args], env, stdin)
    assert result.exit_code == 2
    assert named in _one_line_error(result)
    assert api.requests == []


def test_publish_reads_stdin_and_prints_json(api: FakeApi, env: dict[str, str]) -> None:
    answer = {"event_id": "evt_1", "fanout_count": 2, "duplicate": False, "trace_id": None}
    api.answer(202, answer)
    result = _run(
        ["events", "publish", "-t", "order.created", "--data-file", "-", "--json"],
        env,
        stdin='{"order_id": 42}',
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == answer
    assert api.json_body() == {"event_type": "order.created", "payload": {"order_id": 42}}


def test_missing_tenant_is_a_clear_error(api: FakeApi, env: dict[str, str]) -> None:
    del env["HARBORHOOK_TENANT_ID"]
    result = _run(["endpoints", "list"], env)
    assert result.exit_code == 2
    assert "--tenant" in _one_line_error(result)
    assert api.requests == []


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["dlq", "replay"], "DELIVERY_ID"),
        (["dlq", "replay", "dlv_1", "--endpoint-id", "ep_1"], "not both"),
        (["dlq", "replay", "--all", "--since", "1h"], "--all"),
        (["dlq", "list", "--since", "yesterday"], "--since"),
        (["endpoints", "create", "--url", "ftp://example.com"], "--url"),
    ],
)
def test_bad_local_options_fail_before_any_request(
    api: FakeApi, env: dict[str, str], args: list[str], named: str
) -> None:
    result = _run(args, env)
    assert result.exit_code == 2
    assert named in _one_line_error(result)
    assert api.requests == []


def test_cli_prints_api_errors_as_one_line_with_exit_code(
    api: FakeApi, env: dict[str, str]
) -> None:
    api.answer(
        404,
        {"error": {"code": "not_found", "message": "endpoint [ep_x] not found", "field": "id"}},
    )
    result = _run(["endpoints", "get", "ep_x"], env)
    assert result.exit_code == 4
    line = _one_line_error(result)
    assert "endpoint [ep_x] not found" in line  # shown verbatim, not eaten as rich markup
    assert "field: id" in line


def test_cli_says_cannot_reach_when_nothing_listens(closed_url: str, env: dict[str, str]) -> None:
    env["HARBORHOOK_API_URL"] = closed_url
    result = _run(["deliveries", "list"], env)
    assert result.exit_code == 1
    assert "cannot reach the ingest API" in _one_line_error(result)


def test_tenants_commands_use_the_admin_key_not_the_tenant_key(
    api: FakeApi, env: dict[str, str]
) -> None:
    env["HARBORHOOK_ADMIN_KEY"] = "admin-key"
    api.answer(200, {"tenants": [{"tenant_id": "ten_1", "name": "acme", "created_at": "x"}]})
    result = _run(["tenants", "list"], env)
    assert result.exit_code == 0, result.output
    assert "acme" in result.stdout
    assert api.requests[0].headers["Authorization"] == "Bearer admin-key"


# -- --since ---------------------------------------------------------------------------------


def test_parse_since_accepts_durations_and_iso_times() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == "2024-05-01T10:30:00Z"
    assert parse_since("2d", now) == "2024-04-29T12:00:00Z"
    assert parse_since("2024-05-01T12:00:00Z") == "2024-05-01T12:00:00Z"
    assert parse_since("2024-05-01T14:00:00+02:00") == "2024-05-01T12:00:00Z"
