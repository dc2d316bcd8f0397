"""Grafana's HTTP API for folders and dashboards, and ``push``: the dashboards into a folder.

The calls, as Grafana's HTTP API documentation (``developers/http_api/folder``,
``.../dashboard``) gives them, each with ``Authorization: Bearer <service account token>``:

- ``GET /api/folders/:uid`` → 200 the folder ``{id, uid, title, version, ...}`` or 404;
- ``POST /api/folders`` ``{uid, title}`` → 200 the folder; 409 when it exists;
- ``PUT /api/folders/:uid`` ``{title, version, overwrite}`` → 200 the folder;
- ``GET /api/dashboards/uid/:uid`` → 200 ``{dashboard, meta: {folderUid, version, url}}`` or
  404;
- ``POST /api/dashboards/db`` ``{dashboard, folderUid, overwrite, message}`` → 200 ``{id, uid,
  url, status, version, slug}``; 400 invalid; 412 ``version-mismatch`` / ``name-exists`` when
  it collides and ``overwrite`` is false.

Errors are answered ``{"message": ...}`` with 401 (no or bad token), 403 (the token may not),
400, 404, 409, 412; they become ``Unauthorized`` (401/403), ``Conflict`` (409/412) or
``ServiceError``, each one line naming what was refused and Grafana's message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from harborctl.errors import Conflict, HarborHookError, ServiceError, Unauthorized
from harborctl.grafana_spec import GrafanaSpec
from harborctl.jsonhttp import JsonHttpClient, json_or_none, short_text

PUSH_MESSAGE = "harborctl dashboards push"
# what Grafana adds to or changes in a saved dashboard; not a difference of ours
_SERVER_FIELDS = ("id", "version")


class GrafanaClient(JsonHttpClient):
    service = "Grafana"

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            transport=transport,
        )

    def _refused(self, answer: httpx.Response, what: str) -> HarborHookError:
        body = json_or_none(answer)
        message = body.get("message") if isinstance(body, dict) else None
        text = f"Grafana refused to {what} (HTTP {answer.status_code}): "
        text += str(message or short_text(answer.text) or "no message")
        if answer.status_code in (401, 403):
            return Unauthorized(text + " (check the token and its role)")
        if answer.status_code in (409, 412):
            return Conflict(text)
        return ServiceError(text)

    def _call(
        self, method: str, path: str, what: str, json: Any = None, missing_ok: bool = False
    ) -> dict[str, Any] | None:
        answer = self.send(method, path, json=json)
        if answer.status_code == 404 and missing_ok:
            return None
        if answer.status_code != 200:
            raise self._refused(answer, what)
        return self.json_object(answer, path)

    def folder(self, uid: str) -> dict[str, Any] | None:
        return self._call("GET", f"/api/folders/{uid}", f"read folder {uid}", missing_ok=True)

    def create_folder(self, uid: str, title: str) -> dict[str, Any]:
        found = self._call(
            "POST", "/api/folders", f"create folder {uid}", json={"uid": uid, "title": title}
        )
        assert found is not None
        return found

    def rename_folder(self, uid: str, title: str) -> dict[str, Any]:
        body = {"title": title, "overwrite": True}
        found = self._call("PUT", f"/api/folders/{uid}", f"rename folder {uid}", json=body)
        assert found is not None
        return found

    def dashboard(self, uid: str) -> dict[str, Any] | None:
        return self._call(
            "GET", f"/api/dashboards/uid/{uid}", f"read dashboard {uid}", missing_ok=True
        )

    def save_dashboard(
        self, dashboard: Mapping[str, Any], folder_uid: str, overwrite: bool = True
    ) -> dict[str, Any]:
        body = {
            "dashboard": {**dashboard, "id": None},
            "folderUid": folder_uid,
            "overwrite": overwrite,
            "message": PUSH_MESSAGE,
        }
        uid = dashboard.get("uid")
        found = self._call("POST", "/api/dashboards/db", f"save dashboard {uid}", json=body)
        assert found is not None
        return found


@dataclass(frozen=True)
class Change:
    """What ``push`` did to one object: created, updated or unchanged."""

    kind: str  # folder, dashboard
    uid: str
    title: str
    action: str
    url: str | None = None
    version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "uid": self.uid,
            "title": self.title,
            "action": self.action,
            "url": self.url,
            "version": self.version,
        }


def _comparable(dashboard: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in dashboard.items() if k not in _SERVER_FIELDS}


def push_folder(client: GrafanaClient, grafana: GrafanaSpec) -> Change:
    """The folder of ``grafana.folder_uid``: created once, renamed when its title differs."""
    uid, title = grafana.folder_uid, grafana.folder_title
    found = client.folder(uid)
    if found is None:
        made = client.create_folder(uid, title)
        return Change("folder", uid, title, "created", made.get("url"), made.get("version"))
    if found.get("title") != title:
        made = client.rename_folder(uid, title)
        return Change("folder", uid, title, "updated", made.get("url"), made.get("version"))
    return Change("folder", uid, title, "unchanged", found.get("url"), found.get("version"))


def push_dashboards(
    client: GrafanaClient, grafana: GrafanaSpec, dashboards: Sequence[Mapping[str, Any]]
) -> list[Change]:
    """Create or overwrite (by uid) each dashboard in the folder; unchanged ones are left."""
    changes = [push_folder(client, grafana)]
    for dashboard in dashboards:
        uid, title = str(dashboard["uid"]), str(dashboard["title"])
        found = client.dashboard(uid)
        if found is not None:
            meta = found.get("meta") or {}
            same = _comparable(found.get("dashboard") or {}) == _comparable(dashboard)
            if same and meta.get("folderUid") == grafana.folder_uid:
                version = (found.get("dashboard") or {}).get("version")
                changes.append(
                    Change("dashboard", uid, title, "unchanged", meta.get("url"), version)
                )
                continue
        saved = client.save_dashboard(dashboard, grafana.folder_uid)
        action = "created" if found is None else "updated"
        changes.append(
            Change("dashboard", uid, title, action, saved.get("url"), saved.get("version"))
        )
    return changes
