"""The real receiver on a free loopback port: behaviours, signatures, records, CLI process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harborctl.domain import signing
from harborctl.errors import ConfigError
from harborctl.receiver.server import ReceiverRunner, create_app, running_receiver

SECRET = signing.generate_secret(b"receiver-test-key-0123456789")
BODY = b'{"type":"order.created","data":{"id":42}}'


def _signed(
    body: bytes = BODY, msg_id: str = "msg_1", timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    headers = signing.signature_headers(SECRET, msg_id, ts, body)
    return {**headers, "Content-Type": "application/json", "X-Trace-Id": "trace-" + msg_id}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``predicate`` until true or the deadline passes (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")


@pytest.fixture
def signed_url() -> Iterator[str]:
    with running_receiver(secret=SECRET) as url:
        yield url


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as c:
        yield c


def _received(client: httpx.Client, url: str, **params: str) -> list[dict[str, Any]]:
    resp = client.get(f"{url}/_received", params=params)
    assert resp.status_code == 200
    records: list[dict[str, Any]] = resp.json()["received"]
    return records


def test_signed_post_is_verified_and_recorded(signed_url: str, client: httpx.Client) -> None:
    resp = client.post(f"{signed_url}/orders/ok", content=BODY, headers=_signed())
    assert resp.status_code == 200
    [record] = _received(client, signed_url, path="/orders/ok")
    assert record["signature_valid"] is True
    assert record["signature_error"] is None
    assert record["status"] == 200
    assert record["method"] == "POST"
    assert record["behaviour"] == "ok"
    assert record["label"] == "orders"
    assert record["attempt"] == 1
    assert record["body"] == BODY.decode()
    assert record["webhook_id"] == "msg_1"
    assert record["x_trace_id"] == "trace-msg_1"
    assert record["webhook_timestamp"] == record["headers"]["webhook-timestamp"]
    assert record["headers"]["content-type"] == "application/json"
    assert all(name == name.lower() for name in record["headers"])
    assert record["received_at"].endswith("+00:00")


def test_tampered_body_is_401_and_still_recorded(signed_url: str, client: httpx.Client) -> None:
    headers = _signed(msg_id="msg_tampered")
    resp = client.post(f"{signed_url}/ok", content=BODY + b" ", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "invalid_signature"
    [record] = _received(client, signed_url, webhook_id="msg_tampered")
    assert record["signature_valid"] is False
    assert "no matching signature" in record["signature_error"]
    assert record["status"] == 401


def test_stale_timestamp_and_missing_headers_are_invalid(
    signed_url: str, client: httpx.Client
) -> None:
    stale = _signed(msg_id="msg_stale", timestamp=int(time.time()) - 3600)
    assert client.post(f"{signed_url}/ok", content=BODY, headers=stale).status_code == 401
    assert client.post(f"{signed_url}/ok", content=BODY).status_code == 401
    stale_record, unsigned_record = _received(client, signed_url, path="/ok")
    assert "webhook-timestamp" in stale_record["signature_error"]
    assert unsigned_record["signature_valid"] is False
    assert unsigned_record["webhook_id"] is None


def test_invalid_signature_keeps_scripted_failure(signed_url: str, client: httpx.Client) -> None:
    resp = client.post(f"{signed_url}/fail/1", content=b"tampered", headers=_signed())
    assert resp.status_code == 500
    resp = client.post(f"{signed_url}/fail/1", content=b"tampered", headers=_signed())
    assert resp.status_code == 401


def test_without_secret_nothing_is_verified(client: httpx.Client) -> None:
    with running_receiver() as url:
        assert client.post(f"{url}/ok", content=b"not signed").status_code == 200
        [record] = _received(client, url)
    assert record["signature_valid"] is None
    assert record["signature_error"] is None


def test_fail_n_then_success_with_separate_counters_per_path(
    signed_url: str, client: httpx.Client
) -> None:
    def post(path: str) -> int:
        return client.post(f"{signed_url}{path}", content=BODY, headers=_signed()).status_code

    assert [post("/a/fail/2") for _ in range(3)] == [500, 500, 200]
    assert [post("/b/fail/2") for _ in range(3)] == [500, 500, 200]
    assert [r["attempt"] for r in _received(client, signed_url, label="a")] == [1, 2, 3]
    assert client.get(f"{signed_url}/_count", params={"path": "/a/fail/2"}).json() == {"count": 3}
    assert client.get(f"{signed_url}/_count").json() == {"count": 6}


def test_flaky_n_fails_each_delivery_n_times_then_succeeds(client: httpx.Client) -> None:
    with running_receiver() as url:

        def post(webhook_id: str) -> int:
            headers = {"webhook-id": webhook_id}
            return client.post(f"{url}/x/flaky/2", content=BODY, headers=headers).status_code

        assert [post("msg_a") for _ in range(3)] == [500, 500, 200]
        # another delivery to the same path fails twice again: counted per webhook-id
        assert [post("msg_b"), post("msg_a"), post("msg_b"), post("msg_b")] == [500, 200, 500, 200]
        flaky = client.post(f"{url}/flaky/1?status=503&retry_after=2", content=BODY)
        assert (flaky.status_code, flaky.headers["Retry-After"]) == (503, "2")


def test_a_switch_answers_a_path_as_another_behaviour_until_undone(
    signed_url: str, client: httpx.Client
) -> None:
    def post(path: str) -> int:
        return client.post(f"{signed_url}{path}", content=BODY, headers=_signed()).status_code

    assert post("/dead/status/500") == 500
    switched = client.post(f"{signed_url}/_switch", json={"path": "/dead/status/500", "to": "/ok"})
    assert switched.json() == {"switches": {"/dead/status/500": "/ok"}}
    assert post("/dead/status/500") == 200
    assert post("/other/status/500") == 500  # only that path
    records = _received(client, signed_url, path="/dead/status/500")
    assert [(r["attempt"], r["behaviour"], r["status"]) for r in records] == [
        (1, "status", 500),
        (2, "ok", 200),
    ]
    to_429 = {"path": "/dead/status/500", "to": "/fail/1?status=429&retry_after=3"}
    assert client.post(f"{signed_url}/_switch", json=to_429).status_code == 200
    assert post("/dead/status/500") == 200  # the path's 3rd POST: past fail/1
    client.post(f"{signed_url}/_reset")
    assert client.get(f"{signed_url}/_switch").json()["switches"] == {
        "/dead/status/500": "/fail/1?status=429&retry_after=3"
    }  # a reset keeps switches
    answer = client.post(f"{signed_url}/dead/status/500", content=BODY, headers=_signed())
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "3")
    undo = client.post(f"{signed_url}/_switch", json={"path": "/dead/status/500", "to": None})
    assert undo.json() == {"switches": {}}
    assert post("/dead/status/500") == 500


@pytest.mark.parametrize(
    "body",
    [
        {"path": "/x/ok", "to": "/nothing"},
        {"path": "/x/ok", "to": "/fail/x"},
        {"path": "/x/ok", "to": "ok"},
        {"path": "/_switch", "to": "/ok"},
        {"path": 3, "to": "/ok"},
        ["/x/ok"],
    ],
)
def test_a_bad_switch_is_400_and_changes_nothing(
    signed_url: str, client: httpx.Client, body: object
) -> None:
    answer = client.post(f"{signed_url}/_switch", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "invalid"
    assert client.get(f"{signed_url}/_switch").json() == {"switches": {}}


def test_fail_with_chosen_status_and_retry_after(signed_url: str, client: httpx.Client) -> None:
    url = f"{signed_url}/fail/1?status=503&retry_after=2"
    first = client.post(url, content=BODY, headers=_signed())
    second = client.post(url, content=BODY, headers=_signed())
    assert (first.status_code, first.headers.get("retry-after")) == (503, "2")
    assert (second.status_code, second.headers.get("retry-after")) == (200, None)


def test_status_code_with_retry_after(signed_url: str, client: httpx.Client) -> None:
    for _ in range(2):
        resp = client.post(
            f"{signed_url}/status/429?retry_after=3", content=BODY, headers=_signed()
        )
        assert resp.status_code == 429
        assert resp.headers["retry-after"] == "3"
    resp = client.post(f"{signed_url}/status/204", content=BODY, headers=_signed())
    assert resp.status_code == 204
    assert resp.content == b""


def test_slow_waits_before_answering(signed_url: str, client: httpx.Client) -> None:
    started = time.monotonic()
    resp = client.post(f"{signed_url}/slow/0.2", content=BODY, headers=_signed())
    assert resp.status_code == 200
    assert time.monotonic() - started >= 0.2


def test_slow_request_does_not_block_others(client: httpx.Client) -> None:
    answers: list[int] = []
    with running_receiver(secret=SECRET) as url:

        def slow() -> None:
            with httpx.Client(timeout=30.0) as other:
                answers.append(other.post(f"{url}/slow/30", content=BODY).status_code)

        thread = threading.Thread(target=slow)
        thread.start()
        _wait_for(lambda: client.get(f"{url}/_count").json()["count"] == 1, what="slow POST")
        assert client.post(f"{url}/ok", content=BODY, headers=_signed()).status_code == 200
        assert thread.is_alive()
        assert answers == []
    # stopping the receiver cuts the wait short
    thread.join(timeout=15)
    assert not thread.is_alive()


def test_hang_never_answers(signed_url: str, client: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        client.post(f"{signed_url}/hang", content=BODY, headers=_signed(), timeout=0.3)
    [record] = _received(client, signed_url, path="/hang")
    assert record["status"] is None
    assert record["behaviour"] == "hang"
    assert client.get(f"{signed_url}/healthz").status_code == 200


def test_inspection_api(signed_url: str, client: httpx.Client) -> None:
    assert client.get(f"{signed_url}/healthz").json() == {"status": "ok"}
    for n in range(3):
        client.post(f"{signed_url}/ok", content=BODY, headers=_signed(msg_id=f"m{n}"))
    assert [r["webhook_id"] for r in _received(client, signed_url, limit="2")] == ["m1", "m2"]
    assert _received(client, signed_url, path="/nothing-here") == []
    assert client.get(f"{signed_url}/_received", params={"limit": "x"}).status_code == 400
    assert client.post(f"{signed_url}/_reset").json() == {"reset": True}
    assert _received(client, signed_url) == []
    assert client.get(f"{signed_url}/_count").json() == {"count": 0}


def test_unknown_bad_and_non_post_requests(signed_url: str, client: httpx.Client) -> None:
    resp = client.post(f"{signed_url}/hooks/whatever", content=BODY, headers=_signed())
    assert resp.status_code == 404
    assert client.post(f"{signed_url}/fail/many", content=BODY).status_code == 400
    assert client.get(f"{signed_url}/ok").status_code == 405
    assert client.post(f"{signed_url}/_received").status_code == 405
    assert client.get(f"{signed_url}/_reset").status_code == 405
    # unknown and bad paths are still recorded; GETs are not
    assert [r["status"] for r in _received(client, signed_url)] == [404, 400]


def test_record_file_gets_json_lines(tmp_path: Path, client: httpx.Client) -> None:
    record_file = tmp_path / "nested" / "received.jsonl"
    with running_receiver(secret=SECRET, record_file=record_file) as url:
        client.post(f"{url}/ok", content=BODY, headers=_signed(msg_id="f1"))
        client.post(f"{url}/fail/1", content=BODY, headers=_signed(msg_id="f2"))
        client.post(f"{url}/_reset")
        client.post(f"{url}/ok", content=BODY, headers=_signed(msg_id="f3"))
    lines = [json.loads(line) for line in record_file.read_text().splitlines()]
    assert [(r["webhook_id"], r["status"]) for r in lines] == [
        ("f1", 200),
        ("f2", 500),
        ("f3", 200),
    ]
    assert all(r["signature_valid"] is True for r in lines)


def test_async_runner_in_current_loop() -> None:
    async def scenario() -> None:
        async with ReceiverRunner(secret=SECRET) as receiver:
            assert receiver.url.startswith("http://127.0.0.1:")
            async with httpx.AsyncClient(timeout=10.0) as aclient:
                resp = await aclient.post(f"{receiver.url}/ok", content=BODY, headers=_signed())
                assert resp.status_code == 200
                hanging = asyncio.create_task(
                    aclient.post(f"{receiver.url}/hang", content=BODY, headers=_signed())
                )
                while receiver.records.count("/hang") == 0:
                    await asyncio.sleep(0.01)
                [record] = receiver.records.select(path="/ok")
                assert record["signature_valid"] is True
                await receiver.stop()  # a hanging request must not hold up shutdown
                with pytest.raises(httpx.TransportError):
                    await hanging

    asyncio.run(asyncio.wait_for(scenario(), timeout=15))


def test_bad_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        create_app(secret="whsec_not base64!")
    assert info.value.setting == "secret"
    with pytest.raises(ConfigError), running_receiver(secret="whsec_"):
        pass


def test_port_in_use_is_a_config_error() -> None:
    with running_receiver() as url:
        port = int(url.rsplit(":", 1)[1])

        async def second() -> None:
            async with ReceiverRunner(port=port):
                pass

        with pytest.raises(ConfigError) as info:
            asyncio.run(second())
    assert info.value.setting == "port"


def _harborctl(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from harborctl.cli.app import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_cli_receiver_process_serves_and_stops_on_sigterm(client: httpx.Client) -> None:
    port = _free_port()
    proc = _harborctl(
        "run", "receiver", "--port", str(port), env={"HARBORHOOK_RECEIVER_SECRET": SECRET}
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert proc.poll() is None, proc.communicate()
        try:
            return client.get(f"{url}/healthz", timeout=1.0).status_code == 200
        except httpx.TransportError:
            return False

    hang_errors: list[BaseException] = []

    def hang() -> None:
        try:
            httpx.post(f"{url}/hang", content=BODY, headers=_signed(), timeout=30.0)
        except httpx.TransportError as exc:
            hang_errors.append(exc)

    try:
        _wait_for(healthy, timeout=20.0, what="receiver /healthz")
        assert client.post(f"{url}/ok", content=BODY, headers=_signed()).status_code == 200
        hanging = threading.Thread(target=hang)
        hanging.start()
        _wait_for(lambda: client.get(f"{url}/_count?path=/hang").json()["count"] == 1)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    hanging.join(timeout=15)
    assert len(hang_errors) == 1  # dropped, never answered
    logs = [json.loads(line) for line in stdout.splitlines()]
    assert logs[0]["msg"] == "receiver listening"
    assert logs[0]["url"] == url
    assert logs[0]["verify_signatures"] is True
    [ok_line] = [line for line in logs if line.get("path") == "/ok"]
    assert (ok_line["status"], ok_line["signature_valid"]) == (200, True)
    assert logs[-1]["msg"] == "receiver stopped"


def test_cli_receiver_bad_secret_exits_with_one_line() -> None:
    proc = _harborctl("run", "receiver", "--port", "0", "--secret", "whsec_%%%")
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "secret" in stderr
    assert "Traceback" not in stderr
