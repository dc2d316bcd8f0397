"""The JSON HTTP clients' base: httpx's errors and unexpected bodies become the project's."""

from __future__ import annotations

import httpx
import pytest

from harborctl.errors import ServiceError
from harborctl.jsonhttp import JsonHttpClient, short_text


class Example(JsonHttpClient):
    service = "Example"


def _client(handler: httpx.MockTransport) -> Example:
    return Example("http://example.test/", transport=handler)


def test_no_answer_is_a_service_error_naming_the_service() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with _client(httpx.MockTransport(refuse)) as client, pytest.raises(ServiceError) as caught:
        client.send("GET", "/x")
    assert str(caught.value) == "Example at http://example.test is unreachable: connection refused"


def test_the_answer_comes_back_whatever_its_status() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(503, text="busy"))
    with _client(transport) as client:
        assert client.send("POST", "/x", json={"a": 1}).status_code == 503


@pytest.mark.parametrize("body", ["<html><b>Bad gateway</b></html>", "[1, 2]", ""])
def test_a_body_that_is_not_a_json_object_is_one_clear_error(body: str) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text=body))
    with _client(transport) as client, pytest.raises(ServiceError) as caught:
        client.json_object(client.send("GET", "/api/x"), "/api/x")
    assert str(caught.value).startswith("Example answered /api/x with something that is not")
    assert "<" not in str(caught.value)


def test_a_json_object_is_returned_as_a_dict() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"ok": True}))
    with _client(transport) as client:
        assert client.json_object(client.send("GET", "/x"), "/x") == {"ok": True}


def test_short_text_is_one_line_and_bounded() -> None:
    assert short_text("a\n  b\t<i>c</i>") == "a b c"
    assert len(short_text("x" * 1000)) == 200
