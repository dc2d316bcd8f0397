"""Alertmanager's routing tree, read from its config and walked as Alertmanager walks it (pure).

``parse_routing(config)`` takes alertmanager.yml as data (the file, or the ``original`` text
Alertmanager reports at ``/api/v2/status``) and gives the tree of ``RouteNode`` with what each
node inherits already filled in; ``receivers_for(tree, labels)`` is the list of receivers an
alert with those labels is sent to. The walk is Alertmanager 0.25's ``dispatch/route.go``
``Route.Match``: a node that matches tries its children in order, stops after the first
child that matched unless that child has ``continue: true``, and is itself the answer when
no child matched. Receiver names, ``group_by`` and timings are inherited from the parent;
the root's defaults are Alertmanager's (group_wait 30s, group_interval 5m, repeat_interval 4h).

``integrations(config)`` names each receiver's integrations (``slack``, ``email``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from harborctl.alerting.matchers import Matcher, parse_matcher
from harborctl.errors import ConfigError

DEFAULT_TIMING = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
_CONFIGS_SUFFIX = "_configs"


@dataclass(frozen=True)
class RouteNode:
    """One route; ``path`` is its position (``0``, ``0.1``, ...) under the root (``""``)."""

    receiver: str
    matchers: tuple[Matcher, ...]
    continue_: bool
    group_by: tuple[str, ...]
    group_wait: str
    group_interval: str
    repeat_interval: str
    path: str = ""
    routes: tuple[RouteNode, ...] = field(default=())

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "matchers": [str(m) for m in self.matchers],
            "continue": self.continue_,
            "group_by": list(self.group_by),
            "group_wait": self.group_wait,
            "group_interval": self.group_interval,
            "repeat_interval": self.repeat_interval,
            "routes": [child.to_dict() for child in self.routes],
        }


def _matchers(route: Mapping[str, Any], where: str) -> tuple[Matcher, ...]:
    found: list[Matcher] = []
    try:
        for text in route.get("matchers") or []:
            found.append(parse_matcher(str(text), where))
        for name, value in (route.get("match") or {}).items():
            found.append(Matcher(str(name), "=", str(value)))
        for name, value in (route.get("match_re") or {}).items():
            found.append(Matcher(str(name), "=~", str(value)))
    except Exception as exc:
        raise ConfigError(where, f"unreadable matchers: {exc}") from exc
    return tuple(found)


def _node(route: Mapping[str, Any], parent: RouteNode | None, path: str) -> RouteNode:
    where = f"route {path or 'root'}"
    if not isinstance(route, Mapping):
        raise ConfigError(where, "not a mapping")

    def inherited(key: str) -> str:
        value = route.get(key)
        if value is not None:
            return str(value)
        return getattr(parent, key) if parent else DEFAULT_TIMING[key]

    receiver = route.get("receiver") or (parent.receiver if parent else None)
    if not receiver:
        raise ConfigError(where, "has no receiver")
    group_by = route.get("group_by")
    node = RouteNode(
        receiver=str(receiver),
        matchers=_matchers(route, where),
        continue_=bool(route.get("continue", False)),
        group_by=tuple(str(g) for g in group_by)
        if group_by is not None
        else (parent.group_by if parent else ()),
        group_wait=inherited("group_wait"),
        group_interval=inherited("group_interval"),
        repeat_interval=inherited("repeat_interval"),
        path=path,
    )
    children = tuple(
        _node(child, node, f"{path}.{index}" if path else str(index))
        for index, child in enumerate(route.get("routes") or [])
    )
    return replace(node, routes=children)


def parse_routing(config: Mapping[str, Any]) -> RouteNode:
    """The routing tree of an alertmanager.yml (as data); ConfigError when it has none."""
    route = config.get("route")
    if not isinstance(route, Mapping):
        raise ConfigError("alertmanager.yml", "has no route")
    return _node(route, None, "")


def match(node: RouteNode, labels: Mapping[str, str]) -> list[RouteNode]:
    """The routes an alert with ``labels`` ends at (``Route.Match`` of Alertmanager)."""
    if not node.matches(labels):
        return []
    found: list[RouteNode] = []
    for child in node.routes:
        hits = match(child, labels)
        found += hits
        if hits and not child.continue_:
            break
    return found or [node]


def receivers_for(tree: RouteNode, labels: Mapping[str, str]) -> list[str]:
    """The receivers an alert with ``labels`` is sent to, in routing order, each once."""
    names: list[str] = []
    for node in match(tree, labels):
        if node.receiver not in names:
            names.append(node.receiver)
    return names


def integrations(config: Mapping[str, Any]) -> dict[str, list[str]]:
    """Receiver name -> its integrations, e.g. ``{"email": ["email"], "blackhole": []}``."""
    found: dict[str, list[str]] = {}
    for receiver in config.get("receivers") or []:
        if not isinstance(receiver, Mapping) or "name" not in receiver:
            continue
        found[str(receiver["name"])] = [
            key.removesuffix(_CONFIGS_SUFFIX)
            for key, value in receiver.items()
            if key.endswith(_CONFIGS_SUFFIX) and value
        ]
    return found
