"""A typed reading of Grafana's dashboard JSON model, and the checks a dashboard must pass.

Grafana's documented model (``dashboards/json-model``, schemaVersion 39): a dashboard has a
``uid`` (at most 40 of ``a-zA-Z0-9_-``), ``panels`` with a unique ``id`` and a ``gridPos``
``{x, y, w, h}`` on a 24-column grid, ``targets`` with a ``refId`` and a ``datasource``
``{type, uid}``, variables under ``templating.list`` and links under ``links``. Only what
harborctl reads or checks is modelled; the JSON itself (``Dashboard.raw``) is what Grafana
gets.

Pure: ``parse_dashboard`` raises ``ConfigError`` on a malformed model,
``dashboard_problems`` lists what is wrong with a well-formed one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from harborctl.errors import ConfigError
from harborctl.grafana_spec import check_uid

GRID_COLUMNS = 24
Language = Literal["promql", "logql", "traceql"]
LANGUAGES: dict[str, Language] = {"prometheus": "promql", "loki": "logql", "tempo": "traceql"}
# $name, ${name}, ${name:format} (Grafana's variable syntax; [[name]] is deprecated and unused)
VARIABLE_REFERENCE = re.compile(r"\$(?:\{(?P<braced>\w+)(?::\w+)?\}|(?P<plain>\w+))")
DASHBOARD_URL = re.compile(r"^/d/(?P<uid>[^/?#]+)")


@dataclass(frozen=True)
class DatasourceRef:
    type: str
    uid: str


@dataclass(frozen=True)
class Grid:
    x: int
    y: int
    w: int
    h: int

    def overlaps(self, other: Grid) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )


@dataclass(frozen=True)
class Target:
    """One query of a panel; ``language`` follows from its datasource's type."""

    ref_id: str
    datasource: DatasourceRef
    query: str
    language: Language
    instant: bool
    legend: str
    exemplar: bool


@dataclass(frozen=True)
class DataLink:
    """A link on a panel or field: a URL, or a query in another datasource (``internal``)."""

    title: str
    url: str
    datasource_uid: str | None = None
    query: str | None = None


@dataclass(frozen=True)
class Panel:
    id: int
    type: str
    title: str
    description: str
    grid: Grid
    datasource: DatasourceRef | None
    targets: tuple[Target, ...]
    unit: str | None
    thresholds: tuple[float, ...]  # the threshold steps' values, base step (null) left out
    links: tuple[DataLink, ...]


@dataclass(frozen=True)
class Variable:
    name: str
    type: str  # query, custom, textbox
    query: str
    datasource: DatasourceRef | None
    multi: bool
    include_all: bool
    all_value: str | None
    options: tuple[str, ...]  # a custom variable's values


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    tags: tuple[str, ...]
    panels: tuple[Panel, ...]
    variables: tuple[Variable, ...]
    links: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any]

    def variable(self, name: str) -> Variable | None:
        return next((v for v in self.variables if v.name == name), None)

    def panel(self, panel_id: int) -> Panel:
        return next(p for p in self.panels if p.id == panel_id)

    def targets(self) -> Iterator[tuple[Panel, Target]]:
        for panel in self.panels:
            for target in panel.targets:
                yield panel, target


def referenced_variables(text: str) -> list[str]:
    """Names of the variables ``text`` uses (``$x``, ``${x}``, ``${x:fmt}``), in order."""
    return [m.group("braced") or m.group("plain") for m in VARIABLE_REFERENCE.finditer(text)]


# --- parsing ----------------------------------------------------------------------------------


def _where(dashboard: str, panel: Mapping[str, Any] | None = None) -> str:
    if panel is None:
        return f"dashboard {dashboard}"
    return f"dashboard {dashboard}, panel {panel.get('id')} ({panel.get('title')!r})"


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(what, "expected a JSON object")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(what, "expected a JSON array")
    return value


def _datasource(value: Any, what: str) -> DatasourceRef | None:
    if value is None:
        return None
    ref = _object(value, what)
    kind, uid = ref.get("type"), ref.get("uid")
    if not isinstance(kind, str) or not isinstance(uid, str):
        raise ConfigError(what, "a datasource reference needs a string type and uid")
    return DatasourceRef(kind, uid)


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(what, f"expected an integer, found {value!r}")
    return value


def _links(field_config: Mapping[str, Any], what: str) -> list[DataLink]:
    found: list[Any] = list(_object(field_config.get("defaults", {}), what).get("links") or [])
    for override in field_config.get("overrides") or []:
        for prop in _object(override, what).get("properties") or []:
            if prop.get("id") == "links":
                found += _list(prop.get("value"), what)
    links = []
    for raw in found:
        link = _object(raw, what)
        internal = link.get("internal")
        if internal is not None:
            internal = _object(internal, what)
            query = _object(internal.get("query"), what)
            links.append(
                DataLink(
                    str(link.get("title", "")),
                    str(link.get("url", "")),
                    str(internal.get("datasourceUid")),
                    str(query.get("expr") or query.get("query") or ""),
                )
            )
        else:
            links.append(DataLink(str(link.get("title", "")), str(link.get("url", ""))))
    return links


def _target(raw: Any, panel_ds: DatasourceRef | None, what: str) -> Target:
    target = _object(raw, what)
    ds = _datasource(target.get("datasource"), what) or panel_ds
    if ds is None:
        raise ConfigError(what, "a target without a datasource (and none on its panel)")
    language = LANGUAGES.get(ds.type)
    if language is None:
        raise ConfigError(what, f"datasource type {ds.type!r} is not one HarborHook queries")
    query = target.get("query") if language == "traceql" else target.get("expr")
    ref_id = target.get("refId")
    if not isinstance(query, str) or not isinstance(ref_id, str):
        raise ConfigError(what, "a target needs a string refId and query")
    return Target(
        ref_id=ref_id,
        datasource=ds,
        query=query,
        language=language,
        instant=bool(target.get("instant")) and not target.get("range"),
        legend=str(target.get("legendFormat") or ""),
        exemplar=bool(target.get("exemplar")),
    )


def _panel(raw: Any, uid: str) -> Panel:
    panel = _object(raw, f"dashboard {uid}: panel")
    what = _where(uid, panel)
    grid = _object(panel.get("gridPos"), what + ": gridPos")
    ds = _datasource(panel.get("datasource"), what)
    field_config = _object(panel.get("fieldConfig", {}), what)
    defaults = _object(field_config.get("defaults", {}), what)
    steps = _object(defaults.get("thresholds", {"steps": []}), what).get("steps") or []
    return Panel(
        id=_int(panel.get("id"), what + ": id"),
        type=str(panel.get("type")),
        title=str(panel.get("title") or ""),
        description=str(panel.get("description") or ""),
        grid=Grid(*(_int(grid.get(k), f"{what}: gridPos.{k}") for k in ("x", "y", "w", "h"))),
        datasource=ds,
        targets=tuple(_target(t, ds, what) for t in _list(panel.get("targets", []), what)),
        unit=defaults.get("unit"),
        thresholds=tuple(float(s["value"]) for s in steps if s.get("value") is not None),
        links=tuple(_links(field_config, what)),
    )


def _variable(raw: Any, uid: str) -> Variable:
    variable = _object(raw, f"dashboard {uid}: variable")
    what = f"dashboard {uid}: variable {variable.get('name')!r}"
    query = variable.get("query", "")
    if isinstance(query, Mapping):
        query = query.get("query", "")
    name = variable.get("name")
    if not isinstance(name, str) or not isinstance(query, str):
        raise ConfigError(what, "a variable needs a string name and query")
    options = tuple(
        str(o.get("value"))
        for o in variable.get("options") or []
        if isinstance(o, Mapping) and o.get("value") != "$__all"
    )
    all_value = variable.get("allValue")
    return Variable(
        name=name,
        type=str(variable.get("type")),
        query=query,
        datasource=_datasource(variable.get("datasource"), what),
        multi=bool(variable.get("multi")),
        include_all=bool(variable.get("includeAll")),
        all_value=all_value if isinstance(all_value, str) else None,
        options=options if variable.get("type") == "custom" else (),
    )


def parse_dashboard(raw: Mapping[str, Any]) -> Dashboard:
    """The typed view of a dashboard JSON object; ConfigError naming what is malformed."""
    uid = raw.get("uid")
    title = raw.get("title")
    if not isinstance(uid, str) or not isinstance(title, str):
        raise ConfigError("dashboard", "needs a string uid and title")
    templating = _object(raw.get("templating", {"list": []}), _where(uid))
    return Dashboard(
        uid=uid,
        title=title,
        tags=tuple(str(t) for t in raw.get("tags") or []),
        panels=tuple(_panel(p, uid) for p in _list(raw.get("panels", []), _where(uid))),
        variables=tuple(_variable(v, uid) for v in _list(templating.get("list", []), uid)),
        links=tuple(_object(x, _where(uid)) for x in raw.get("links") or []),
        raw=raw,
    )


# --- checks -----------------------------------------------------------------------------------


def _grid_problems(dashboard: Dashboard) -> list[str]:
    problems = []
    for panel in dashboard.panels:
        g = panel.grid
        if g.x < 0 or g.y < 0 or g.w < 1 or g.h < 1 or g.x + g.w > GRID_COLUMNS:
            problems.append(f"panel {panel.id}: gridPos {g} is outside the 24-column grid")
    for index, panel in enumerate(dashboard.panels):
        for other in dashboard.panels[index + 1 :]:
            if panel.grid.overlaps(other.grid):
                problems.append(f"panels {panel.id} and {other.id} overlap")
    return problems


def _datasource_problems(dashboard: Dashboard, datasources: Mapping[str, str]) -> list[str]:
    """``datasources``: uid → type of every datasource Grafana has."""
    refs: list[tuple[str, DatasourceRef | None]] = []
    for panel in dashboard.panels:
        refs.append((f"panel {panel.id}", panel.datasource))
        refs += [(f"panel {panel.id} target {t.ref_id}", t.datasource) for t in panel.targets]
    refs += [(f"variable {v.name}", v.datasource) for v in dashboard.variables]
    problems = []
    for where, ref in refs:
        if ref is None:
            continue
        if ref.uid not in datasources:
            problems.append(f"{where}: datasource uid {ref.uid!r} is not provisioned")
        elif datasources[ref.uid] != ref.type:
            problems.append(
                f"{where}: datasource {ref.uid!r} is a {datasources[ref.uid]}, not a {ref.type}"
            )
    for panel in dashboard.panels:
        for link in panel.links:
            if link.datasource_uid is not None and link.datasource_uid not in datasources:
                problems.append(
                    f"panel {panel.id}: link {link.title!r} to unknown datasource "
                    f"{link.datasource_uid!r}"
                )
    return problems


def _variable_problems(dashboard: Dashboard) -> list[str]:
    problems = []
    defined: set[str] = set()
    for variable in dashboard.variables:
        for name in referenced_variables(variable.query):
            if name not in defined and not name.startswith("__"):
                problems.append(
                    f"variable {variable.name}: uses ${name}, which is not defined before it"
                )
        if variable.type == "query" and variable.datasource is None:
            problems.append(f"variable {variable.name}: a query variable needs a datasource")
        defined.add(variable.name)
    for panel, target in dashboard.targets():
        for name in referenced_variables(target.query):
            if name not in defined and not name.startswith("__"):
                problems.append(f"panel {panel.id} target {target.ref_id}: ${name} is undefined")
    return problems


def dashboard_problems(
    dashboard: Dashboard, datasources: Mapping[str, str], dashboard_uids: Sequence[str]
) -> list[str]:
    """Everything wrong with ``dashboard``: uid, panel ids, grid, datasources, variables,
    links. ``datasources`` maps each provisioned datasource uid to its type;
    ``dashboard_uids`` are the dashboards links may point at."""
    problems = []
    try:
        check_uid(dashboard.uid)
    except ValueError as exc:
        problems.append(str(exc))
    if not dashboard.title.strip():
        problems.append("the title is empty")
    ids = [p.id for p in dashboard.panels]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    problems += [f"panel id {i} is used {ids.count(i)} times" for i in repeated]
    problems += [f"panel id {i} is not positive" for i in ids if i < 1]
    problems += _grid_problems(dashboard)
    problems += _datasource_problems(dashboard, datasources)
    problems += _variable_problems(dashboard)
    for panel in dashboard.panels:
        refs = [t.ref_id for t in panel.targets]
        if len(set(refs)) != len(refs):
            problems.append(f"panel {panel.id}: refIds {refs} are not unique")
        if not panel.targets:
            problems.append(f"panel {panel.id}: no query")
        for target in panel.targets:
            if not target.query.strip():
                problems.append(f"panel {panel.id} target {target.ref_id}: empty query")
        for link in panel.links:
            match = DASHBOARD_URL.match(link.url)
            if match and match.group("uid") not in dashboard_uids:
                problems.append(
                    f"panel {panel.id}: link {link.title!r} to unknown dashboard "
                    f"{match.group('uid')!r}"
                )
    return [f"{dashboard.uid}: {problem}" for problem in problems]
