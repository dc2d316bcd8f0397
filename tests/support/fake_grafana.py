"""A stand-in for Grafana's folder and dashboard HTTP API, as strict as Grafana about them.

Answers as Grafana's HTTP API documentation (``developers/http_api/folder``,
``.../dashboard``) shows, with the validation Grafana's dashboard service does
(``pkg/services/dashboards``, ``pkg/util/shortid_generator.go``):

- every request needs ``Authorization: Bearer <token>``: none or an unknown token → 401
  ``{"message": "Unauthorized"}``; a viewer token → 403 on writes;
- ``POST /api/folders`` ``{uid, title}``: uid of ``a-zA-Z0-9_-`` (else 400), at most 40
  characters (400), not ``general`` (400), title not empty (400) nor ``General`` (400); an
  existing uid or title → 409;
- ``GET /api/folders/:uid`` → the folder or 404; ``PUT /api/folders/:uid`` ``{title, version |
  overwrite}`` → 412 on a version mismatch without overwrite;
- ``POST /api/dashboards/db`` ``{dashboard, folderUid, overwrite}``: the body and
  ``dashboard`` must be JSON objects (400), title not empty (400), uid rules as folders (400),
  ``folderUid`` must exist (400 "folder not found"); an existing uid: with ``overwrite`` the
  version is taken over, without it a different ``version`` → 412 ``version-mismatch``; a
  different uid with the same title in the folder → 412 ``name-exists``. Saved dashboards get
  ``id`` and ``version`` (+1 per save) and answer ``{id, uid, url, status, version, slug}``;
- ``GET /api/dashboards/uid/:uid`` → ``{dashboard, meta: {folderUid, version, url, slug}}`` or
  404.

Every request is recorded (method, path, Authorization header).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.aio_server import serving

UID = re.compile(r"^[a-zA-Z0-9\-_]*$")


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _error(code: int, message: str, **extra: str) -> web.Response:
    return web.json_response({"message": message, **extra}, status=code)


def _uid_problem(uid: Any) -> str | None:
    if not isinstance(uid, str):
        return "uid must be a string"
    if not UID.match(uid):
        return "uid contains illegal characters"
    if len(uid) > 40:
        return "uid too long, max 40 characters"
    return None


@dataclass
class FakeGrafana:
    tokens: dict[str, str] = field(default_factory=lambda: {"admin-token": "Admin"})
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    # uid → {dashboard, folderUid}
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    next_id: int = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id

    @web.middleware
    async def auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        self.requests.append((request.method, request.path, header))
        if not header or not header.startswith("Bearer "):
            return _error(401, "Unauthorized")
        role = self.tokens.get(header.removeprefix("Bearer "))
        if role is None:
            return _error(401, "invalid API key")
        if request.method != "GET" and role == "Viewer":
            return _error(403, "Access denied")
        response: web.StreamResponse = await handler(request)
        return response

    async def _body(self, request: web.Request) -> dict[str, Any] | web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "bad request data")
        if not isinstance(body, dict):
            return _error(400, "bad request data")
        return body

    # folders -----------------------------------------------------------------------------

    def _folder_view(self, folder: dict[str, Any]) -> dict[str, Any]:
        return {**folder, "url": f"/dashboards/f/{folder['uid']}/{slug(folder['title'])}"}

    async def get_folder(self, request: web.Request) -> web.Response:
        folder = self.folders.get(request.match_info["uid"])
        if folder is None:
            return _error(404, "folder not found", status="not-found")
        return web.json_response(self._folder_view(folder))

    async def create_folder(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        uid, title = body.get("uid", ""), str(body.get("title") or "").strip()
        problem = _uid_problem(uid)
        if problem:
            return _error(400, problem)
        if uid.strip().lower() == "general":
            return _error(400, "invalid uid for folder provided")
        if not title:
            return _error(400, "folder title cannot be empty")
        if title.lower() == "general":
            return _error(400, "a folder with that name already exists")
        if uid in self.folders or uid in self.dashboards:
            return _error(409, "a folder/dashboard with the same uid already exists")
        if any(f["title"] == title for f in self.folders.values()):
            return _error(
                409, "a folder or dashboard in the general folder with the same name already exists"
            )
        folder = {"id": self._id(), "uid": uid, "title": title, "version": 1}
        self.folders[uid] = folder
        return web.json_response(self._folder_view(folder))

    async def update_folder(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        folder = self.folders.get(request.match_info["uid"])
        if folder is None:
            return _error(404, "folder not found")
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            return _error(
                412, "the folder has been changed by someone else", status="version-mismatch"
            )
        title = str(body.get("title") or "").strip()
        if not title:
            return _error(400, "folder title cannot be empty")
        folder.update(title=title, version=folder["version"] + 1)
        return web.json_response(self._folder_view(folder))

    # dashboards --------------------------------------------------------------------------

    async def get_dashboard(self, request: web.Request) -> web.Response:
        saved = self.dashboards.get(request.match_info["uid"])
        if saved is None:
            return _error(404, "Dashboard not found")
        dashboard = saved["dashboard"]
        meta = {
            "folderUid": saved["folderUid"],
            "version": dashboard["version"],
            "slug": slug(dashboard["title"]),
            "url": f"/d/{dashboard['uid']}/{slug(dashboard['title'])}",
        }
        return web.json_response({"dashboard": dashboard, "meta": meta})

    async def save_dashboard(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        dashboard = body.get("dashboard")
        if not isinstance(dashboard, dict):
            return _error(400, "bad request data: dashboard must be an object")
        title = str(dashboard.get("title") or "").strip()
        if not title:
            return _error(400, "Dashboard title cannot be empty")
        uid = str(dashboard.get("uid") or "").strip() or f"gen{self._id()}"
        problem = _uid_problem(uid)
        if problem:
            return _error(400, problem)
        folder_uid = body.get("folderUid") or ""
        if folder_uid and folder_uid not in self.folders:
            return _error(400, "folder not found")
        if uid in self.folders:
            return _error(400, "a folder/dashboard with the same uid already exists")
        overwrite = bool(body.get("overwrite"))
        existing = self.dashboards.get(uid)
        for other_uid, other in self.dashboards.items():
            same_place = other["folderUid"] == folder_uid
            same_title = other["dashboard"]["title"] == title
            if other_uid != uid and same_place and same_title and not overwrite:
                return _error(
                    412,
                    "a dashboard with the same name in the folder already exists",
                    status="name-exists",
                )
        version = int(dashboard.get("version") or 0)
        if existing is not None:
            current = existing["dashboard"]["version"]
            if version != current and not overwrite:
                return _error(
                    412, "The dashboard has been changed by someone else", status="version-mismatch"
                )
            version = current
            ident = existing["dashboard"]["id"]
        else:
            ident = self._id()
        stored = {**dashboard, "id": ident, "uid": uid, "title": title, "version": version + 1}
        self.dashboards[uid] = {"dashboard": stored, "folderUid": folder_uid}
        return web.json_response(
            {
                "id": ident,
                "uid": uid,
                "url": f"/d/{uid}/{slug(title)}",
                "status": "success",
                "version": stored["version"],
                "slug": slug(title),
            }
        )

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self.auth])
        app.router.add_get("/api/folders/{uid}", self.get_folder)
        app.router.add_post("/api/folders", self.create_folder)
        app.router.add_put("/api/folders/{uid}", self.update_folder)
        app.router.add_get("/api/dashboards/uid/{uid}", self.get_dashboard)
        app.router.add_post("/api/dashboards/db", self.save_dashboard)
        return app


@contextmanager
def running_fake_grafana(fake: FakeGrafana | None = None) -> Iterator[tuple[FakeGrafana, str]]:
    grafana = fake or FakeGrafana()
    with serving(grafana.app()) as url:
        yield grafana, url
