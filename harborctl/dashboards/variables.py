"""Dashboard variables substituted into queries the way Grafana does it (pure).

Two kinds of values:

- the dashboard's own variables (``$tenant``, ``$endpoint``, ...): "All" is the variable's
  ``allValue`` when it has one (``.*``), else every option; several values become a regex
  alternation. Values are escaped as Grafana's datasources escape them
  (``public/app/plugins/datasource/prometheus``: ``prometheusRegularEscape`` for a single-value
  variable, ``prometheusSpecialRegexEscape`` and ``(a|b)`` for multi-value and "All"; Loki
  the same escape joined without parentheses; Tempo as Prometheus);
- Grafana's built-in time variables for a time range and a number of points
  (``$__interval``, ``$__rate_interval``, ``$__range``, ...), computed as the documented
  formulas: ``$__interval`` = range / points rounded by Grafana's ``roundInterval`` table and
  never below the scrape interval; ``$__rate_interval`` = max(``$__interval`` + scrape
  interval, 4 x scrape interval); ``$__range`` = the range in whole seconds.

``substitute`` replaces ``$name``, ``${name}`` and ``${name:format}``; an unknown name is an
error, never left in a query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harborctl.dashboards.model import VARIABLE_REFERENCE, Dashboard, Language, Variable
from harborctl.errors import ValidationError

ALL = "$__all"  # what Grafana stores as the value of "All"

# Grafana's kbn.roundInterval: (below this many ms, use this many ms)
_ROUND_INTERVAL_MS: tuple[tuple[int, int], ...] = (
    (15, 10), (35, 20), (75, 50), (150, 100), (350, 200), (750, 500), (1_500, 1_000),
    (3_500, 2_000), (7_500, 5_000), (12_500, 10_000), (17_500, 15_000), (25_000, 20_000),
    (45_000, 30_000), (90_000, 60_000), (210_000, 120_000), (450_000, 300_000),
    (750_000, 600_000), (1_050_000, 900_000), (1_500_000, 1_200_000),
    (2_700_000, 1_800_000), (5_400_000, 3_600_000), (9_000_000, 7_200_000),
    (16_200_000, 10_800_000), (32_400_000, 21_600_000), (86_400_000, 43_200_000),
    (604_800_000, 86_400_000), (1_814_400_000, 604_800_000), (3_628_800_000, 2_592_000_000),
)  # fmt: skip
_YEAR_MS = 31_536_000_000
_REGEX_SPECIAL = re.compile(r"[$^*{}\[\]'+?.()|]")


def round_interval(interval_ms: float) -> int:
    """Grafana's ``roundInterval``: a raw interval snapped to a readable one (ms)."""
    for below, rounded in _ROUND_INTERVAL_MS:
        if interval_ms < below:
            return rounded
    return _YEAR_MS


def duration_text(ms: int) -> str:
    """A Prometheus duration for ``ms`` milliseconds: ``500ms``, ``20s``."""
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


@dataclass(frozen=True)
class TimeVariables:
    """Grafana's built-in time variables for one query (all in milliseconds)."""

    range_ms: int
    interval_ms: int
    rate_interval_ms: int

    @classmethod
    def for_range(cls, range_seconds: float, points: int, scrape_seconds: float) -> TimeVariables:
        """For a ``range_seconds`` window drawn with ``points`` points, a scrape interval of
        ``scrape_seconds`` (the Prometheus datasource's ``timeInterval``)."""
        scrape_ms = max(1, round(scrape_seconds * 1000))
        interval = max(round_interval(range_seconds * 1000 / max(points, 1)), scrape_ms)
        return cls(
            range_ms=round(range_seconds * 1000),
            interval_ms=interval,
            rate_interval_ms=max(interval + scrape_ms, 4 * scrape_ms),
        )

    def values(self) -> dict[str, str]:
        range_s = round(self.range_ms / 1000)
        return {
            "__interval": duration_text(self.interval_ms),
            "__interval_ms": str(self.interval_ms),
            "__rate_interval": duration_text(self.rate_interval_ms),
            "__rate_interval_ms": str(self.rate_interval_ms),
            "__range": f"{range_s}s",
            "__range_s": str(range_s),
            "__range_ms": str(self.range_ms),
        }


def regex_escape(value: str) -> str:
    """Grafana's ``prometheusSpecialRegexEscape`` (also Loki's): a literal inside a regex."""
    return _REGEX_SPECIAL.sub(lambda m: "\\" + m.group(0), value.replace("\\", "\\\\"))


def regular_escape(value: str) -> str:
    """Grafana's ``prometheusRegularEscape``: a single value inside a quoted string."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


def format_value(
    variable: Variable, chosen: Sequence[str], options: Sequence[str], language: Language
) -> str:
    """The text Grafana puts in place of ``variable`` when ``chosen`` is selected.

    ``chosen`` is ``[ALL]`` for "All"; ``options`` are the values the variable offers (its
    query's answer, or a custom variable's list), used for "All" without an ``allValue``.
    """
    if list(chosen) == [ALL]:
        if variable.all_value is not None:
            return variable.all_value  # used as given, never escaped
        chosen = list(options)
    if not variable.multi and not variable.include_all:
        return regular_escape(chosen[0]) if chosen else ""
    escaped = [regex_escape(value) for value in chosen]
    if len(escaped) == 1:
        return escaped[0]
    joined = "|".join(escaped)
    return joined if language == "logql" else f"({joined})"


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with every ``$name``/``${name}``/``${name:format}`` replaced from ``values``.

    A name missing from ``values`` is a ValidationError: a query never reaches a datasource
    with a variable left in it.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain")
        if name not in values:
            raise ValidationError("variable", f"${name} has no value in {text!r}")
        return values[name]

    return VARIABLE_REFERENCE.sub(replace, text)


def dashboard_values(
    dashboard: Dashboard,
    selections: Mapping[str, Sequence[str]],
    options: Mapping[str, Sequence[str]],
    language: Language,
) -> dict[str, str]:
    """Each variable of ``dashboard`` formatted for ``language``.

    ``selections`` maps a variable to its chosen values (missing: "All", or empty text for a
    textbox); ``options`` maps a variable to the values it offers.
    """
    values: dict[str, str] = {}
    for variable in dashboard.variables:
        if variable.type == "textbox":
            chosen = list(selections.get(variable.name, [""]))
            values[variable.name] = regular_escape(chosen[0] if chosen else "")
            continue
        chosen = list(selections.get(variable.name) or [ALL])
        offered = options.get(variable.name, variable.options)
        values[variable.name] = format_value(variable, chosen, offered, language)
    return values
