"""A dashboard reading drawn in the terminal with rich, laid out like the Grafana dashboard.

Panels keep their rows (same ``gridPos.y``) and relative widths (``gridPos.w`` of 24): a stat
is its value, a time series a line per series with its last value, maximum and a sparkline
over the window, a table its rows. Loki and Tempo panels name the command that shows the
same in a terminal. Values are formatted by the panel's unit (``ops`` → ``/s``,
``percentunit`` → ``%``, ``s`` → ``ms``/``s``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from itertools import groupby
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel as Box
from rich.table import Table
from rich.text import Text

from harborctl.dashboards.readings import DashboardReading, PanelReading, TargetReading

BARS = "▁▂▃▄▅▆▇█"
TERMINAL_EQUIVALENT = {
    "logs": "harborctl logs tail --trace-id ID / --tenant T / --level L",
    "table": "harborctl traces tail (and traces show TRACE_ID)",
}
_LEGEND = ("{{", "}}")


def sparkline(values: Sequence[float | None]) -> str:
    """One bar per value scaled between the series' minimum and maximum; a gap for none."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    low, high = min(finite), max(finite)
    span = high - low
    bars = []
    for value in values:
        if value is None or not math.isfinite(value):
            bars.append(" ")
        else:
            level = 0 if span == 0 else round((value - low) / span * (len(BARS) - 1))
            bars.append(BARS[level])
    return "".join(bars)


def format_value(value: float | None, unit: str | None) -> str:
    """``value`` as the panel's unit shows it; ``-`` for no value or NaN."""
    if value is None or math.isnan(value):
        return "-"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit == "percentunit":
        return f"{value * 100:.2f}%"
    if unit == "s":
        if abs(value) < 1:
            return f"{value * 1000:.1f}ms"
        return f"{value:.2f}s" if abs(value) < 120 else f"{value / 60:.1f}m"
    suffix = "/s" if unit == "ops" else ""
    for size, letter in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f}{letter}{suffix}"
    text = f"{value:.0f}" if float(value).is_integer() else f"{value:.3g}"
    return text + suffix


def legend(template: str, labels: Mapping[str, str]) -> str:
    """Grafana's legend format: ``{{label}}`` replaced; no format → the series' labels."""
    if template:
        text = template
        for name, value in labels.items():
            text = text.replace(_LEGEND[0] + name + _LEGEND[1], value)
        return text
    shown = {k: v for k, v in labels.items() if k != "__name__"}
    inside = ", ".join(f'{k}="{v}"' for k, v in sorted(shown.items()))
    return labels.get("__name__", "") + ("{" + inside + "}" if inside else "") or "value"


def _number(raw: Any) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def series_of(target: TargetReading) -> list[tuple[dict[str, str], list[float | None]]]:
    """(labels, values) per series of a target's answer (one value for instant queries)."""
    if target.result_type == "scalar":
        return [({}, [_number(target.result[1])])]
    found = []
    for item in target.result or []:
        labels = {str(k): str(v) for k, v in (item.get("metric") or {}).items()}
        if "values" in item:
            found.append((labels, [_number(v) for _, v in item["values"]]))
        else:
            found.append((labels, [_number(item.get("value", [0, None])[1])]))
    return found


def _last(values: Sequence[float | None]) -> float | None:
    return next((v for v in reversed(values) if v is not None and not math.isnan(v)), None)


def _stat(reading: PanelReading) -> RenderableType:
    unit = reading.panel.unit
    values = [_last(vals) for t in reading.targets for _, vals in series_of(t)]
    shown = [format_value(v, unit) for v in values] or ["no data"]
    style = "bold" if values else "dim"
    return Text(" ".join(shown), style=style, justify="center")


def _timeseries(reading: PanelReading, width: int) -> RenderableType:
    unit = reading.panel.unit
    table = Table.grid(padding=(0, 1), expand=True)
    table.add_column(ratio=1, overflow="ellipsis", no_wrap=True)
    table.add_column(justify="right", no_wrap=True)
    table.add_column(no_wrap=True, style="cyan")
    rows = 0
    for target in reading.targets:
        for labels, values in series_of(target):
            points = values[-width:]
            table.add_row(
                Text(legend(target.legend, labels)),
                format_value(_last(values), unit),
                sparkline(points),
            )
            rows += 1
    return table if rows else Text("no data", style="dim")


def _table(reading: PanelReading) -> RenderableType:
    """One row per label set; one value column per query (Grafana's merge transformation)."""
    unit = reading.panel.unit
    rows: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
    values: list[str] = []
    for target in reading.targets:
        name = target.legend or (f"value #{target.ref_id}" if len(reading.targets) > 1 else "value")
        values.append(name)
        for labels, series in series_of(target):
            key = tuple(sorted((k, v) for k, v in labels.items() if k != "__name__"))
            rows.setdefault(key, dict(key))[name] = format_value(_last(series), unit)
    if not rows:
        return Text("no data", style="dim")
    columns: list[str] = []
    for row in rows.values():
        columns += [c for c in row if c not in columns and c not in values]
    table = Table(expand=True, show_edge=False, pad_edge=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    for column in values:
        table.add_column(column, justify="right")
    for row in rows.values():
        table.add_row(*(Text(row.get(c, "")) for c in [*columns, *values]))
    return table


def draw_panel(reading: PanelReading, width: int) -> RenderableType:
    panel = reading.panel
    if reading.skipped:
        hint = TERMINAL_EQUIVALENT.get(panel.type, "open it in Grafana")
        body: RenderableType = Text(f"{reading.skipped}: {hint}", style="dim")
    elif panel.type == "stat":
        body = _stat(reading)
    elif panel.type == "table":
        body = _table(reading)
    else:
        body = _timeseries(reading, width)
    return Box(body, title=Text(panel.title, style="bold"), title_align="left", padding=(0, 1))


def _rows(panels: Iterable[PanelReading]) -> list[list[PanelReading]]:
    ordered = sorted(panels, key=lambda r: (r.panel.grid.y, r.panel.grid.x))
    return [list(row) for _, row in groupby(ordered, key=lambda r: r.panel.grid.y)]


def draw_dashboard(reading: DashboardReading, sparkline_width: int = 40) -> Group:
    """The whole dashboard: a header, then its panels row by row."""
    window = reading.window
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(window.end))
    chosen = ", ".join(
        f"{name}={'All' if value in ('.*', '') or value.startswith('(') else value}"
        for name, value in reading.variables.items()
        if name in ("tenant", "endpoint")
    )
    header = Text.assemble(
        (reading.dashboard.title, "bold"),
        f"  {stamp}, last {window.range_seconds / 60:g} min, step {window.step:g}s  {chosen}",
    )
    parts: list[RenderableType] = [header]
    for row in _rows(reading.panels):
        grid = Table.grid(expand=True, padding=0)
        for item in row:
            grid.add_column(ratio=item.panel.grid.w)
        grid.add_row(*(draw_panel(item, sparkline_width) for item in row))
        parts.append(grid)
    return Group(*parts)
