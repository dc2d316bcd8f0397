"""The Prometheus admin client as Prometheus 2.42 answers: 204, or "admin APIs disabled"."""

from __future__ import annotations

import httpx
import pytest

from harborctl.errors import ServiceError
from harborctl.telemetry.prometheus import PrometheusAdminClient

DISABLED = '{"status":"error","errorType":"unavailable","error":"admin APIs disabled"}'


def _client(status: int, body: str, seen: list[httpx.Request]) -> PrometheusAdminClient:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text=body)

    return PrometheusAdminClient("http://prometheus:9090", transport=httpx.MockTransport(answer))


def test_deleting_series_sends_every_selector_and_the_range() -> None:
    seen: list[httpx.Request] = []
    with _client(204, "", seen) as client:
        assert client.delete_series(['{tenant_id="t"}', '{endpoint_id=~"a|b"}'], 10.5, 20.0)
    [request] = seen
    assert request.method == "POST" and request.url.path == "/api/v1/admin/tsdb/delete_series"
    assert request.url.params.get_list("match[]") == ['{tenant_id="t"}', '{endpoint_id=~"a|b"}']
    assert (request.url.params["start"], request.url.params["end"]) == ("10.500", "20.000")


def test_admin_api_disabled_is_false_and_other_failures_are_errors() -> None:
    with _client(500, DISABLED, []) as client:
        assert client.delete_series(["{a=\"b\"}"]) is False
    with _client(400, '{"error":"bad matcher"}', []) as client, pytest.raises(ServiceError):
        client.delete_series(["{"])
