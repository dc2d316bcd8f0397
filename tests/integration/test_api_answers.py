"""The ingest's answers outside the happy path, as the OpenAPI document declares them.

Each test is one kind that schemathesis found (tests/integration/test_api_schema.py) or that
the document's 503 declaration promises, sent as explicit requests to the real ingest
process: a method the route lacks, a ``since`` that is not an RFC 3339 date-time, a body
value of another JSON type than the document's, an endpoint URL that is not a URI, and a
database that is down.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harborctl.ingest.errors import UNAVAILABLE_RETRY_AFTER_SECONDS
from tests.support.pipeline import Pipeline, Tenant
from tests.support.services import (
    PostgresServer,
    postgres_bin_dir,
    postgres_os_user,
    postgres_workdir,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ingest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    workdir: Path = tmp_path_factory.mktemp("api-answers")
    pipeline = Pipeline(workdir, f"sqlite:///{workdir}/hh.db", "db")
    try:
        pipeline.start_ingest()
        yield pipeline
    finally:
        pipeline.stop()


@pytest.fixture(scope="module")
def tenant(ingest: Pipeline) -> Tenant:
    return ingest.tenant("answers")


def _error(answer: httpx.Response) -> dict[str, Any]:
    assert answer.headers["content-type"] == "application/json", answer.text
    error: dict[str, Any] = answer.json()["error"]
    return error


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("TRACE", "/healthz", {"GET"}),
        ("PUT", "/v1/tenants", {"GET", "POST"}),
        ("PUT", "/v1/tenants/{tenant}/endpoints/ep_x", {"GET", "PATCH", "DELETE"}),
        ("GET", "/v1/tenants/{tenant}/events:publish", {"POST"}),
    ],
)
def test_a_method_the_route_lacks_answers_405_naming_the_allowed_ones(
    ingest: Pipeline, tenant: Tenant, method: str, path: str, allowed: set[str]
) -> None:
    """RFC 9110 §15.5.6: a 405 names the route's methods in ``Allow`` (the error handler used
    to drop Starlette's headers)."""
    with tenant.api() as api:
        answer = api.request(method, path.format(tenant=tenant.id))
    assert answer.status_code == 405, answer.text
    assert {m.strip() for m in answer.headers["allow"].split(",")} == allowed
    assert _error(answer)["code"] == "method_not_allowed"


@pytest.mark.parametrize(
    "since",
    [
        "0.5",  # pydantic alone reads a number as Unix time: 1970-01-01T00:00:00.5
        "1700000000",
        "2024-05-01T12:00:00",  # no zone: which instant is meant?
        "2024-05-01",
        "yesterday",
    ],
)
def test_since_is_an_rfc3339_date_time_or_a_422_naming_it(
    ingest: Pipeline, tenant: Tenant, since: str
) -> None:
    with tenant.api() as api:
        listed = api.get(f"/v1/tenants/{tenant.id}/dlq", params={"since": since})
        replayed = api.post(
            f"/v1/tenants/{tenant.id}/dlq:replay", json={"since": since, "dry_run": True}
        )
        number = api.post(f"/v1/tenants/{tenant.id}/dlq:replay", json={"since": 0.5})
    for answer in (listed, replayed, number):
        assert answer.status_code == 422, answer.text
        error = _error(answer)
        assert error["field"] == "since"
        assert "RFC 3339" in error["message"]


@pytest.mark.parametrize("since", ["2024-05-01T12:00:00Z", "2024-05-01T14:00:00.250+02:00"])
def test_since_with_a_zone_is_taken(ingest: Pipeline, tenant: Tenant, since: str) -> None:
    with tenant.api() as api:
        listed = api.get(f"/v1/tenants/{tenant.id}/dlq", params={"since": since})
        replayed = api.post(
            f"/v1/tenants/{tenant.id}/dlq:replay", json={"since": since, "dry_run": True}
        )
    assert listed.status_code == 200, listed.text
    assert replayed.status_code == 202, replayed.text
    assert replayed.json() == {"dry_run": True, "replayed": 0, "deliveries": []}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("dlq:replay", {"dry_run": 0}, "dry_run"),  # was taken as false: a real replay
        ("dlq:replay", {"dry_run": "true"}, "dry_run"),
        ("endpoints", {"url": "http://127.0.0.1:1/x", "max_attempts": "3"}, "max_attempts"),
        ("endpoints", {"url": "http://127.0.0.1:1/x", "max_attempts": 3.0}, "max_attempts"),
        ("endpoints", {"url": "http://127.0.0.1:1/x", "rate_limit_rps": "5"}, "rate_limit_rps"),
        ("endpoints", {"url": "http://127.0.0.1:1/x", "rate_limit_rps": True}, "rate_limit_rps"),
    ],
)
def test_a_body_value_of_another_json_type_is_a_422_naming_it(
    ingest: Pipeline, tenant: Tenant, path: str, body: dict[str, object], field: str
) -> None:
    """The document's types hold as JSON types: pydantic alone converts ``0``, ``"3"`` and
    ``3.0`` to the field's type."""
    with tenant.api() as api:
        before = api.get(f"/v1/tenants/{tenant.id}/endpoints").json()
        answer = api.post(f"/v1/tenants/{tenant.id}/{path}", json=body)
        after = api.get(f"/v1/tenants/{tenant.id}/endpoints").json()
    assert answer.status_code == 422, answer.text
    assert _error(answer)["field"] == field
    assert after == before


@pytest.mark.parametrize(
    "url",
    [
        "https://\u000f\u00a9h/",  # control characters in the host: was stored (201)
        "http://bücher.example/",  # not a URI: punycode it (xn--bcher-kva.example)
        "http://a b/",
        "http://exa$mple.test/",
        "http://example.test:99999/",
        "http://example.test/\u0007",
    ],
)
def test_an_endpoint_url_that_is_not_a_uri_is_a_422_naming_it(
    ingest: Pipeline, tenant: Tenant, url: str
) -> None:
    """The document declares ``format: uri`` (RFC 3986); such a URL can never be delivered."""
    with tenant.api() as api:
        before = api.get(f"/v1/tenants/{tenant.id}/endpoints").json()
        answer = api.post(f"/v1/tenants/{tenant.id}/endpoints", json={"url": url})
        after = api.get(f"/v1/tenants/{tenant.id}/endpoints").json()
    assert answer.status_code == 422, answer.text
    assert _error(answer)["field"] == "url"
    assert after == before


def test_the_document_declares_the_error_answers_of_every_operation(ingest: Pipeline) -> None:
    """So a client (and schemathesis) knows every status and body the API can send."""
    document = httpx.get(f"{ingest.api_url}/openapi.json").json()
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if path == "/healthz":
                assert set(responses) == {"200"}
                continue
            assert "503" in responses, (method, path)
            assert responses["503"]["headers"]["Retry-After"]["required"] is True
            if path != "/readyz":
                assert operation["security"] == [{"bearerAuth": []}], (method, path)
                assert "401" in responses, (method, path)
            if path.startswith("/v1/tenants/{tenant_id}"):
                assert {"404", "422"} <= set(responses), (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == error_body, (method, path, status)
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


@pytest.mark.postgres
def test_a_database_that_is_down_answers_503_with_retry_after(tmp_path: Path) -> None:
    """Every route that reads the database, the key lookup included, answered 500 text/plain
    (the publish route dropped the connection) while PostgreSQL was down; now 503 with
    ``Retry-After`` and no driver message, and the ingest recovers when it is back."""
    os_user = postgres_os_user()
    with postgres_workdir(os_user) as workdir:
        server = PostgresServer(postgres_bin_dir(), workdir, os_user)
        pipeline = Pipeline(tmp_path, server.url("harborhook"), "db")
        try:
            server.start()
            server.create_database("harborhook")
            pipeline.start_ingest()
            tenant = pipeline.tenant("down")
            server.stop()
            calls: list[tuple[str, str, object, str | None]] = [
                ("GET", "/readyz", None, None),
                ("GET", "/v1/tenants", None, None),
                ("POST", "/v1/tenants", {"name": "x"}, None),
                ("GET", f"/v1/tenants/{tenant.id}/endpoints", None, tenant.key),
                ("GET", f"/v1/tenants/{tenant.id}/deliveries", None, tenant.key),
                (
                    "POST",
                    f"/v1/tenants/{tenant.id}/events:publish",
                    {"event_type": "a", "payload": {}},
                    tenant.key,
                ),
            ]
            for method, path, body, key in calls:
                with pipeline.client(*([key] if key else [])) as api:
                    answer = api.request(method, path, json=body)
                assert answer.status_code == 503, (method, path, answer.text)
                assert answer.headers["retry-after"] == str(UNAVAILABLE_RETRY_AFTER_SECONDS)
                error = _error(answer)
                assert error == {
                    "code": "store_unavailable",
                    "message": "the database is unavailable",
                }
            server.start()
            with pipeline.client() as api:
                assert api.get("/v1/tenants").status_code == 200
            assert httpx.get(f"{pipeline.api_url}/readyz").status_code == 200
        finally:
            pipeline.stop()
            server.stop()
