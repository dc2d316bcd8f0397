"""What must hold before the demo changes anything, else the error (one line for the CLI).

``notify_names`` resolves --notify to configured receivers; ``check_stack`` plans the stack
and requires Prometheus and Alertmanager in it, and a running stack healthy and running both.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harborctl.alerting.store import load_receivers
from harborctl.demo import scenario
from harborctl.errors import ConfigError, StackError
from harborctl.settings import Settings
from harborctl.stack.model import StackOptions, StackPlan
from harborctl.stack.native import NativeStack
from harborctl.stack.plan import plan_stack
from harborctl.stack.status import StackStatus

REQUIRED = ("prometheus", "alertmanager")


def notify_names(
    settings: Settings, requested: Sequence[str], note: Callable[[str], None]
) -> list[str]:
    """The receivers --notify names (``["all"]``: every configured one but the demo's own),
    with a note for one that would not take a page. ConfigError for a name no receiver has."""
    configured = {r.name: r for r in load_receivers(settings.layout)}
    configured.pop(scenario.DEMO_RECEIVER, None)
    names = list(requested)
    if names == ["all"]:
        names = list(configured)
        if not names:
            note("--notify all: no receivers configured (`alerts set-*`)")
    for name in names:
        if name not in configured:
            known = ", ".join(configured) or "none configured; add one with `alerts set-*`"
            raise ConfigError("--notify", f"no receiver named {name!r} (receivers: {known})")
        if not configured[name].severity.accepts("page"):
            note(
                f"{name} takes only {configured[name].severity.value} alerts: a real "
                f"{scenario.DRIVEN_ALERT} (a page) would not reach it; the demo sends it "
                "there anyway"
            )
    return names


def check_stack(settings: Settings, options: StackOptions) -> tuple[StackPlan, StackStatus | None]:
    """The stack's plan and its status when it runs (None: not running). ConfigError when
    Prometheus or Alertmanager is not installed; StackError when the running stack is not
    healthy or runs without them."""
    plan = plan_stack(settings, options)
    names = {component.name for component in plan.components}
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        raise ConfigError(
            "demo",
            f"needs {' and '.join(missing)} (Debian packages prometheus, "
            "prometheus-alertmanager; scripts/bootstrap installs them)",
        )
    running = NativeStack(plan.layout).status()
    if running is not None:
        if not running.healthy:
            raise StackError(
                "the running stack is not healthy: see `harborctl status`, or restart it "
                "with `harborctl down && harborctl up`"
            )
        if not set(REQUIRED) <= {c.name for c in running.components}:
            raise StackError(
                "the running stack has no Prometheus or Alertmanager (started before they "
                "were installed?): restart it with `harborctl down && harborctl up`"
            )
    return plan, running
