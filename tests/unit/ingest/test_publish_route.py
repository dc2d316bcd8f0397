"""publish_tenant_id: a POST to exactly the paths the FastAPI publish route matches."""

from __future__ import annotations

import pytest
from starlette.routing import Match

from harborctl.ingest.publish_route import PUBLISH_ROUTE, publish_tenant_id
from harborctl.ingest.routes import router

CASES = [
    ("POST", "/v1/tenants/t1/events:publish", "t1"),
    ("POST", "/v1/tenants/a%2Fb/events:publish", "a%2Fb"),
    ("POST", "/v1/tenants/a/b/events:publish", None),  # a decoded %2F: the route has no match
    ("POST", "/v1/tenants/t1/events:publish/", None),
    ("POST", "/v1/tenants//events:publish", None),
    ("GET", "/v1/tenants/t1/events:publish", None),
    ("POST", "/v1/tenants/t1/events", None),
    ("POST", "/v1/dlq/replay", None),
]


@pytest.mark.parametrize(("method", "path", "tenant_id"), CASES)
def test_a_publish_is_recognised_with_its_tenant(
    method: str, path: str, tenant_id: str | None
) -> None:
    assert publish_tenant_id({"type": "http", "method": method, "path": path}) == tenant_id


@pytest.mark.parametrize(("method", "path", "tenant_id"), CASES)
def test_it_matches_what_the_route_matches(method: str, path: str, tenant_id: str | None) -> None:
    [route] = [r for r in router.routes if getattr(r, "path", None) == PUBLISH_ROUTE]
    scope = {"type": "http", "method": method, "path": path}
    assert (route.matches(scope)[0] is Match.FULL) is (tenant_id is not None)


def test_other_scopes_are_not_publishes() -> None:
    assert publish_tenant_id({"type": "lifespan"}) is None
