"""Every query of a dashboard as a datasource would receive it (pure).

Grafana substitutes the variables before a query leaves it, so the queries are checked in
that form, twice: with every variable on "All" (and the trace id box empty) and with one
concrete value each. ``expanded_queries`` yields them; ``query_problems`` checks the LogQL
and TraceQL ones with the strict checkers (``logql``, ``traceql``), and the LogQL queries of
data links (a trace id into Loki). PromQL is checked by Prometheus itself: ``promtool`` in
the tests, and every query executed against a real Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from harborctl.dashboards.logql import check_logql
from harborctl.dashboards.model import Dashboard, Language, Panel, Target
from harborctl.dashboards.traceql import check_traceql
from harborctl.dashboards.variables import ALL, TimeVariables, dashboard_values, substitute
from harborctl.errors import ValidationError

SAMPLE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
# what a query variable offers when no datasource is asked (the checks are syntactic)
SAMPLE_OPTIONS = ("sample_a", "sample_b")
# a one-hour dashboard drawn with 1000 points, a 15 s scrape (Grafana's default timeInterval)
SAMPLE_TIME = TimeVariables.for_range(3600, 1000, 15)


@dataclass(frozen=True)
class ExpandedQuery:
    panel: Panel
    target: Target
    variant: str  # "all" or "one"
    query: str


def expand(
    dashboard: Dashboard,
    target: Target,
    selections: Mapping[str, Sequence[str]],
    options: Mapping[str, Sequence[str]],
    time: TimeVariables,
) -> str:
    """``target``'s query with the dashboard's variables and Grafana's time variables."""
    values = dashboard_values(dashboard, selections, options, target.language)
    return substitute(target.query, {**time.values(), **values})


def sample_selections(dashboard: Dashboard, variant: str) -> dict[str, list[str]]:
    """ "all": every variable on All (a textbox empty); "one": one value each."""
    chosen: dict[str, list[str]] = {}
    for variable in dashboard.variables:
        if variable.type == "textbox":
            chosen[variable.name] = [SAMPLE_TRACE_ID if variant == "one" else ""]
        elif variant == "all":
            chosen[variable.name] = [ALL]
        else:
            offered = variable.options or SAMPLE_OPTIONS
            chosen[variable.name] = [offered[-1]]
    return chosen


def expanded_queries(dashboard: Dashboard) -> Iterator[ExpandedQuery]:
    """Every target of every panel, substituted for "all" and for "one"."""
    options = {v.name: v.options or SAMPLE_OPTIONS for v in dashboard.variables}
    for variant in ("all", "one"):
        selections = sample_selections(dashboard, variant)
        for panel, target in dashboard.targets():
            query = expand(dashboard, target, selections, options, SAMPLE_TIME)
            yield ExpandedQuery(panel, target, variant, query)


def link_queries(dashboard: Dashboard) -> Iterator[tuple[Panel, str, str]]:
    """(panel, datasource uid, query) of every data link that opens a query, with the
    clicked value (``${__value.raw}``) a sample trace id."""
    for panel in dashboard.panels:
        for link in panel.links:
            if link.datasource_uid is not None and link.query is not None:
                yield (
                    panel,
                    link.datasource_uid,
                    link.query.replace("${__value.raw}", SAMPLE_TRACE_ID),
                )


CHECKERS = {"logql": check_logql, "traceql": check_traceql}


def _check(language: Language, query: str) -> str | None:
    checker = CHECKERS.get(language)
    if checker is None:
        return None
    try:
        checker(query)
    except ValidationError as exc:
        return str(exc)
    return None


def query_problems(dashboard: Dashboard) -> list[str]:
    """LogQL and TraceQL problems of ``dashboard``'s targets and data links."""
    problems = []
    try:
        expanded = list(expanded_queries(dashboard))
    except ValidationError as exc:
        return [f"{dashboard.uid}: {exc}"]
    for item in expanded:
        problem = _check(item.target.language, item.query)
        if problem:
            problems.append(f"{dashboard.uid} panel {item.panel.id} ({item.variant}): {problem}")
    datasource_languages = {t.datasource.uid: t.language for _, t in dashboard.targets()}
    for panel, uid, query in link_queries(dashboard):
        language = datasource_languages.get(uid, "logql")
        problem = _check(language, query)
        if problem:
            problems.append(f"{dashboard.uid} panel {panel.id} link: {problem}")
    return problems
