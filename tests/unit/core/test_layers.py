"""The package's imports point down the layers, and no modules import each other in a circle.

Layers, top to bottom (a module may import from its own package or from any lower layer;
two packages of one layer do not import each other)::

    __main__
    cli                                   thin typer commands
    soak                                  the fault soak: drives a throwaway stack, its
                                            load and receiver, and counts what arrived
    ingest, worker, monitor, demo, bench  the processes; the demo run; the load generator
                                            and its receiver
    services                              use cases: publish, deliver, replay
    queue, outbound                       transports; the outbound HTTP adapter
    stack                                 the local stack (plan, supervisor, native)
    store, observability, alerting,       storage; telemetry written and read back;
      telemetry, dashboards, client,        alerting and dashboards as code; the API client;
      receiver                              the test receiver
    render, jsonhttp                      Jinja templates → files; the JSON HTTP clients' base
    settings                              the only reader of HARBORHOOK_* and the YAML file
    domain, layout, alerting_spec,        pure core; the state dir's paths; SLO/alerting spec;
      grafana_spec                          Grafana datasource uids and folder
    errors, harborctl (the package face)

Imports are read from the source (``ast``), including those inside functions and under
``TYPE_CHECKING``: a lazy import up the layers is still one.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "harborctl"

LAYERS: list[set[str]] = [
    {"__main__"},
    {"cli"},
    {"soak"},
    {"ingest", "worker", "monitor", "demo", "bench"},
    {"services"},
    {"queue", "outbound"},
    {"stack"},
    {"store", "observability", "alerting", "telemetry", "dashboards", "client", "receiver"},
    {"render", "jsonhttp", "childproc"},  # jsonhttp: the base of the API and tool clients
    {"settings"},
    {"domain", "layout", "alerting_spec", "grafana_spec"},
    {"errors", ""},
]


def _room(module: str) -> str:
    """``harborctl.store.work`` → ``store``; ``harborctl`` itself → ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _rank(room: str) -> int:
    for index, layer in enumerate(LAYERS):
        if room in layer:
            return index
    raise AssertionError(f"harborctl/{room} is in no layer: add it to LAYERS in {__file__}")


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """module → the harborctl modules it imports (from-imports resolved to the module)."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if node.module.split(".")[0] != "harborctl":
                    continue
                for alias in node.names:  # `from harborctl.store import work` names a module
                    candidate = f"{node.module}.{alias.name}"
                    is_module = (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(
                        ".py"
                    ).exists() or (PACKAGE.parent / Path(*candidate.split("."))).is_dir()
                    found[module].add(candidate if is_module else node.module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "harborctl":
                        found[module].add(alias.name)
    return found


def test_every_import_points_down_the_layers() -> None:
    upward = []
    for module, targets in sorted(_imports().items()):
        source = _room(module)
        for target in sorted(targets):
            room = _room(target)
            if room == source:
                continue
            if _rank(room) <= _rank(source):
                upward.append(f"{module} -> {target}")
    assert upward == [], "imports that do not point down the layers:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    graph = _imports()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target == node:
                continue
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target) :], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == [], "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
