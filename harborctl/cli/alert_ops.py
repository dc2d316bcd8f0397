"""harborctl alerts send-test|status|silence|unsilence|routes: the operator's side of alerts.

Everything goes through Alertmanager's API v2 and its /metrics (``harborctl.alerting``);
registered on the ``alerts`` group by ``register``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from harborctl.cli.options import JsonFlag
from harborctl.cli.output import console, emit, note, print_fields, print_table

if TYPE_CHECKING:
    from harborctl.alerting.sendtest import SendTestReport
    from harborctl.settings import Settings

SEND_TEST_COLUMNS = ["receiver", "integrations", "result", "detail"]
STATUS_COLUMNS = ["alertname", "severity", "state", "since", "for", "receivers", "runbook"]
SILENCE_COLUMNS = ["id", "matchers", "state", "ends_at", "ends_in", "created_by", "comment"]
ROUTE_COLUMNS = ["alert", "severity", "receivers"]
NOBODY = "nobody"


def _settings() -> Settings:
    from harborctl.settings import load_settings

    return load_settings()


def _stack_alertmanager_log(settings: Settings) -> Path | None:
    """The log of the Alertmanager the native stack runs at ``alertmanager_url``, if any."""
    from harborctl.stack.native import NativeStack

    plan = NativeStack(settings.layout).started_plan()
    if plan is None:
        return None
    for component in plan.components:
        if component.name == "alertmanager" and component.url.rstrip("/") == (
            settings.alertmanager_url.rstrip("/")
        ):
            path = settings.layout.process_log("alertmanager")
            return path if path.exists() else None
    return None


# --- send-test ----------------------------------------------------------------------------------


def _waiting(report: SendTestReport) -> None:
    what = "resolution" if report.resolved else "test alert"
    console.print(
        f"Alertmanager at {report.alertmanager_url} accepted the {what} {report.test_id} "
        f"({report.severity}).",
        highlight=False,
    )
    if not report.receivers:
        return
    if not report.waited:
        note(f"not waiting: expect it within about {report.wait} ({report.wait_name})")
        return
    source = f"its /metrics and {report.log_file}" if report.log_file else "its /metrics"
    note(
        f"waiting up to {report.deadline_seconds:g}s for Alertmanager's verdict on "
        f"{', '.join(report.receivers)}: it notifies after {report.wait_name} "
        f"{report.wait}; reading {source}"
    )


def _show_verdicts(report: SendTestReport) -> None:
    from harborctl.jsonhttp import one_line

    if not report.receivers:
        note(
            f"no receiver takes {report.severity} alerts: it goes nowhere. Add one with "
            "`harborctl alerts set-slack`, `set-email` or `set-webhook`"
        )
        return
    if not report.waited:
        return
    rows = [
        {
            "receiver": v.receiver,
            "integrations": ", ".join(v.integrations),
            "result": v.result if v.result == "delivered" else v.result.upper(),
            "detail": one_line(v.detail or ""),
        }
        for v in report.verdicts
    ]
    print_table(rows, SEND_TEST_COLUMNS, title="Notifications")
    if report.delivered:
        console.print(
            f"delivered to {', '.join(report.receivers)} in {report.waited_seconds:.0f}s",
            highlight=False,
        )
        if not report.resolved:
            note(
                f"resolve it with: harborctl alerts send-test --resolve {report.test_id} "
                f"--severity {report.severity}"
            )
    else:
        failed = [v.receiver for v in report.verdicts if v.result != "delivered"]
        console.print(f"NOT delivered to {', '.join(failed)}", highlight=False)


def send_test(
    severity: str = typer.Option(
        "page", "--severity", help="page or ticket: routes like a real alert of that severity."
    ),
    resolve: str | None = typer.Option(
        None, "--resolve", metavar="TEST_ID", help="Resolve an earlier test alert instead."
    ),
    timeout: float | None = typer.Option(
        None,
        "--timeout",
        min=0,
        help="Seconds to wait for the verdict (default: group_wait, or group_interval for "
        "--resolve, plus 15 s).",
    ),
    no_wait: bool = typer.Option(
        False, "--no-wait", help="Only post the alert; do not wait for the notifications."
    ),
    log_file: Path | None = typer.Option(
        None,
        "--log-file",
        help="Alertmanager's log, for each receiver's error (default: the local stack's "
        "logs/alertmanager.log when the stack runs Alertmanager).",
    ),
    as_json: JsonFlag = False,
) -> None:
    """Send a test alert and wait until Alertmanager says, per receiver, whether it arrived.

    Exit code 0 when every receiver got it, 1 when one failed, was held back or had no verdict.
    """
    from harborctl.alerting import generate as gen
    from harborctl.alerting import sendtest
    from harborctl.errors import ValidationError

    if severity not in ("page", "ticket"):
        raise ValidationError("--severity", f"--severity: {severity!r} is not page or ticket")
    if resolve is not None and not resolve.strip():
        raise ValidationError("--resolve", "--resolve: give the TEST_ID send-test printed")
    if log_file is not None and not log_file.is_file():
        raise ValidationError("--log-file", f"--log-file: {log_file} is not a file")
    settings = _settings()
    secrets = [secret for _, secret in gen.list_receivers(settings) if secret]
    report = sendtest.send_test(
        settings,
        severity,
        resolve.strip() if resolve else None,
        log_file=log_file or _stack_alertmanager_log(settings),
        timeout=timeout,
        wait=not no_wait,
        secrets=secrets,
        progress=(lambda r: None) if as_json else _waiting,
    )
    emit(report.to_dict(), as_json, lambda: _show_verdicts(report))
    if report.waited and not report.delivered:
        raise typer.Exit(1)


# --- status -------------------------------------------------------------------------------------


def _short_time(iso: str | None) -> str:
    """``2024-05-01 12:30:05 UTC`` from an ISO 8601 time (UTC), for people."""
    return f"{iso[:10]} {iso[11:19]} UTC" if iso else ""


def _nowhere(config: dict[str, Any] | None) -> set[str]:
    """Receivers that send nothing (no integration)."""
    from harborctl.alerting.alertmanager import BLACKHOLE
    from harborctl.alerting.routing import integrations

    if config is None:
        return {BLACKHOLE}
    return {name for name, kinds in integrations(config).items() if not kinds}


def status(
    expired: bool = typer.Option(False, "--expired", help="List expired silences too."),
    as_json: JsonFlag = False,
) -> None:
    """What is firing now (since when, to which receivers, its runbook) and the silences."""
    from datetime import UTC, datetime

    from harborctl.alerting.client import AlertmanagerClient
    from harborctl.alerting.silences import alert_row, silence_row

    settings = _settings()
    now = datetime.now(UTC)
    with AlertmanagerClient(settings.alertmanager_url) as client:
        nowhere = _nowhere(client.running_config())
        alerts = [alert_row(a, now, nowhere) for a in client.alerts()]
        silences = [silence_row(s, now) for s in client.silences()]
    alerts.sort(key=lambda row: (row["severity"] != "page", row["since"] or "", row["alertname"]))
    if not expired:
        silences = [s for s in silences if s["state"] != "expired"]
    silences.sort(key=lambda row: (row["state"] or "", row["ends_at"] or ""))
    data = {"alertmanager_url": settings.alertmanager_url, "alerts": alerts, "silences": silences}

    def human() -> None:
        if alerts:
            rows = [
                {
                    **a,
                    "since": _short_time(a["since"]),
                    "receivers": ", ".join(a["receivers"]) or NOBODY,
                }
                for a in alerts
            ]
            print_table(rows, STATUS_COLUMNS, title=f"Firing alerts ({len(alerts)})")
        else:
            console.print(f"nothing is firing (Alertmanager at {settings.alertmanager_url})")
        if silences:
            rows = [
                {**s, "matchers": ", ".join(s["matchers"]), "ends_at": _short_time(s["ends_at"])}
                for s in silences
            ]
            print_table(rows, SILENCE_COLUMNS, title=f"Silences ({len(silences)})")
        else:
            console.print("no silences")

    emit(data, as_json, human)


# --- silence / unsilence ------------------------------------------------------------------------


def _author() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "harborctl"
    return f"{user}@{socket.gethostname()}"


def silence(
    alert: str = typer.Argument(..., help="The alert's name (alertname), e.g. HarborHookDlqSpike."),
    matcher: list[str] | None = typer.Option(
        None,
        "--matcher",
        "-m",
        help="More labels to match: name=value, name!=value, name=~regex, name!~regex (repeat it).",
    ),
    for_: str = typer.Option(..., "--for", help="How long: a duration such as 30m, 2h, 1d."),
    comment: str = typer.Option(..., "--comment", help="Why (shown to everyone who looks)."),
    author: str | None = typer.Option(None, "--author", help="Who (default user@host)."),
    as_json: JsonFlag = False,
) -> None:
    """Silence an alert for a while: Alertmanager sends no notification for it until then."""
    from datetime import UTC, datetime, timedelta

    from harborctl.alerting.client import AlertmanagerClient
    from harborctl.alerting.matchers import Matcher, label_value, parse_matcher
    from harborctl.alerting.rules import ALERTS
    from harborctl.alerting.silences import alert_row, build_silence
    from harborctl.alerting.testalert import TEST_ALERT_NAME
    from harborctl.alerting_spec import duration_seconds, is_duration
    from harborctl.errors import ValidationError

    name = label_value("ALERT", alert.strip())
    matchers = [Matcher("alertname", "=", name), *(parse_matcher(m) for m in matcher or [])]
    if not is_duration(for_.strip()):
        raise ValidationError("--for", f"--for: {for_!r} is not a duration (e.g. 30m, 2h, 1d)")
    now = datetime.now(UTC)
    body = build_silence(
        matchers,
        timedelta(seconds=duration_seconds(for_.strip())),
        comment,
        (author or "").strip() or _author(),
        now,
    )
    settings = _settings()
    with AlertmanagerClient(settings.alertmanager_url) as client:
        silence_id = client.create_silence(body)
        silenced = [
            alert_row(a, now)
            for a in client.alerts([str(m) for m in matchers])
            if silence_id in ((a.get("status") or {}).get("silencedBy") or [])
        ]
    data = {
        "silence_id": silence_id,
        "matchers": [str(m) for m in matchers],
        "starts_at": body["startsAt"],
        "ends_at": body["endsAt"],
        "created_by": body["createdBy"],
        "comment": body["comment"],
        "silenced_now": [row["alertname"] for row in silenced],
        "alertmanager_url": settings.alertmanager_url,
    }

    def human() -> None:
        print_fields(
            {
                "silence_id": silence_id,
                "matchers": ", ".join(data["matchers"]),
                "until": f"{body['endsAt']} ({for_.strip()})",
                "silences now": f"{len(silenced)} firing alert(s)",
            }
        )
        if not silenced and name not in {a.name for a in ALERTS} | {TEST_ALERT_NAME}:
            note(f"no alert named {name} is firing or generated here: check the name")
        note(f"undo: harborctl alerts unsilence {silence_id}")

    emit(data, as_json, human)


def unsilence(
    silence_id: str = typer.Argument(..., metavar="ID", help="The silence's id (alerts status)."),
    as_json: JsonFlag = False,
) -> None:
    """End a silence now: its alerts are notified again."""
    from harborctl.alerting.client import AlertmanagerClient
    from harborctl.alerting.matchers import Matcher
    from harborctl.alerting.silences import check_silence_id

    ident = check_silence_id(silence_id)
    settings = _settings()
    with AlertmanagerClient(settings.alertmanager_url) as client:
        found = client.silence(ident)
        already = (found.get("status") or {}).get("state") == "expired"
        if not already:
            client.expire_silence(ident)
    data = {
        "silence_id": ident,
        "result": "already_expired" if already else "expired",
        "matchers": [str(Matcher.from_api(m)) for m in found.get("matchers") or []],
    }

    def human() -> None:
        what = "had already ended" if already else "ended"
        console.print(f"silence {ident} ({', '.join(data['matchers'])}) {what}", highlight=False)

    emit(data, as_json, human)


# --- routes -------------------------------------------------------------------------------------


def _routing_config(settings: Settings) -> tuple[dict[str, Any], str]:
    """The config Alertmanager runs, else the generated file; with where it came from."""
    import yaml

    from harborctl.alerting.client import AlertmanagerClient
    from harborctl.errors import ConfigError, ServiceError

    with AlertmanagerClient(settings.alertmanager_url) as client:
        try:
            return client.running_config(), f"Alertmanager at {settings.alertmanager_url}"
        except ServiceError:
            if client.is_ready():
                raise
    path = settings.layout.alertmanager_config
    try:
        config = yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(
            str(path),
            "Alertmanager is not running and there is no alertmanager.yml: run "
            "`harborctl alerts generate`",
        ) from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), f"not YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise ConfigError(str(path), "not an Alertmanager config")
    return config, f"{path} (Alertmanager is not running at {settings.alertmanager_url})"


def routes(as_json: JsonFlag = False) -> None:
    """Which receiver gets which alert: the routing tree and, per alert, where it goes."""
    from rich.text import Text
    from rich.tree import Tree

    from harborctl.alerting.routing import RouteNode, integrations, parse_routing, receivers_for
    from harborctl.alerting.rules import ALERTS
    from harborctl.alerting.testalert import TEST_ALERT_NAME

    settings = _settings()
    config, source = _routing_config(settings)
    tree = parse_routing(config)
    kinds = integrations(config)
    catalogue = [(a.name, a.severity, a.area) for a in ALERTS]
    catalogue += [(TEST_ALERT_NAME, severity, "test") for severity in ("page", "ticket")]
    rows = []
    for name, severity, area in catalogue:
        labels = {"alertname": name, "severity": severity, "area": area}
        rows.append(
            {
                "alert": name,
                "severity": severity,
                "area": area,
                "receivers": [r for r in receivers_for(tree, labels) if kinds.get(r)],
            }
        )
    by_severity = {
        severity: sorted(
            {r for row in rows if row["severity"] == severity for r in row["receivers"]}
        )
        for severity in ("page", "ticket")
    }
    data = {
        "source": source,
        "tree": tree.to_dict(),
        "receivers": kinds,
        "alerts": rows,
        "severities": by_severity,
    }

    def label(node: RouteNode, parent: RouteNode | None) -> Text:
        condition = ", ".join(str(m) for m in node.matchers)
        if parent is None:
            condition = "every alert"
        sends = ", ".join(kinds.get(node.receiver) or []) or "sends nothing"
        text = f"{condition + ' ' if condition else ''}-> {node.receiver} [{sends}]"
        if node.continue_:
            text += " (continue)"
        timing = [
            f"{name} {getattr(node, key)}"
            for key, name in (("group_wait", "wait"), ("repeat_interval", "repeat"))
            if parent is None or getattr(node, key) != getattr(parent, key)
        ]
        if timing:
            text += f"   {', '.join(timing)}"
        return Text(text)

    def grow(branch: Tree, node: RouteNode) -> None:
        for child in node.routes:
            grow(branch.add(label(child, node)), child)

    def human() -> None:
        console.print(f"Routing tree of {source}", highlight=False)
        root = Tree(label(tree, None))
        grow(root, tree)
        console.print(root)
        shown = [{**row, "receivers": ", ".join(row["receivers"]) or NOBODY} for row in rows]
        print_table(shown, ROUTE_COLUMNS, title="Which receiver gets which alert")
        for severity, names in by_severity.items():
            if names:
                console.print(f"{severity}s go to: {', '.join(names)}", highlight=False)
            else:
                note(
                    f"{severity} alerts reach nobody: add a receiver with `harborctl alerts "
                    f"set-slack --severity {severity}` (or set-email, set-webhook)"
                )

    emit(data, as_json, human)


def register(app: typer.Typer) -> None:
    """Add send-test, status, silence, unsilence and routes to the ``alerts`` group."""
    app.command("send-test")(send_test)
    app.command("status")(status)
    app.command("silence")(silence)
    app.command("unsilence")(unsilence)
    app.command("routes")(routes)
