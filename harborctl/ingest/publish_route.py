"""Which request is a publish: the route's path, once, for everything that must recognise it.

The FastAPI route (``routes.publish``), its span (``tracing.publish_span``), the admission
control in front of it (``admission.PublishAdmission``) and the fast path that serves it
(``fast_publish.PublishFastPath``) all name the same request.
"""

from __future__ import annotations

import re

from starlette.types import Scope

PUBLISH_ROUTE = "/v1/tenants/{tenant_id}/events:publish"

#: ``PUBLISH_ROUTE`` with Starlette's ``str`` convertor for ``tenant_id`` (no ``/``), so
#: it matches exactly the paths the route matches.
PUBLISH_PATH = re.compile(r"/v1/tenants/(?P<tenant_id>[^/]+)/events:publish")


def publish_tenant_id(scope: Scope) -> str | None:
    """The tenant id of a ``POST`` to the publish route; None for any other request."""
    if scope["type"] != "http" or scope.get("method") != "POST":
        return None
    matched = PUBLISH_PATH.fullmatch(scope.get("path", ""))
    return None if matched is None else matched["tenant_id"]
