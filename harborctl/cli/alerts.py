"""harborctl alerts: generate SLO rules, test them, and say where notifications go.

The operator's side (send-test, status, silence, unsilence, routes) is ``alert_ops``,
registered on this group by the app.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from harborctl.alerting.profiles import Profile
from harborctl.alerting.receivers import Severity
from harborctl.cli.options import JsonFlag
from harborctl.cli.output import (
    console,
    emit,
    fail,
    note,
    print_table,
)

if TYPE_CHECKING:
    from harborctl.alerting.generate import Outcome
    from harborctl.settings import Settings

app = typer.Typer(
    help="Alerting: generate SLO burn-rate rules, test them, and send alerts to Slack, email "
    "or a webhook through Alertmanager.",
    no_args_is_help=True,
)

ReceiverSeverity = Annotated[
    Severity,
    typer.Option("--severity", help="Which alerts this receiver gets: page, ticket or all."),
]
RECEIVER_COLUMNS = ["name", "type", "severity", "target", "secret_file"]


def _settings() -> Settings:
    from harborctl.settings import load_settings

    return load_settings()


def _read_stdin(option: str) -> str:
    from harborctl.errors import ValidationError

    if sys.stdin.isatty():
        note(f"{option}: reading from stdin (end with Ctrl-D)")
    try:
        return sys.stdin.read()
    except UnicodeDecodeError as exc:
        raise ValidationError(option, f"{option}: stdin is not UTF-8 text") from exc


def _report(what: str, outcome: Outcome, settings: Settings, as_json: bool) -> None:
    data = {
        "changed": what,
        "files": [str(path) for path in outcome.files],
        "validated": outcome.validated,
        "reloaded": outcome.reloaded,
        "alertmanager_url": settings.alertmanager_url,
        "notes": outcome.notes,
    }

    def human() -> None:
        checked = "checked with amtool" if outcome.validated else "NOT checked (no amtool)"
        reloaded = "; Alertmanager reloaded" if outcome.reloaded else ""
        console.print(f"{what}: saved, alertmanager.yml {checked}{reloaded}.", highlight=False)
        for line in outcome.notes:
            note(line)

    emit(data, as_json, human)


def _reload_alertmanager(url: str) -> bool:
    from harborctl.alerting.client import AlertmanagerClient

    with AlertmanagerClient(url) as client:
        return client.reload()


# --- rules ------------------------------------------------------------------------------------


@app.command("generate")
def generate(
    profile: Profile = typer.Option(
        Profile.normal,
        "--profile",
        help="normal: the rules as the spec says. demo: every window, `for` duration, the "
        "evaluation interval and Alertmanager's waits divided by 60 (an hour becomes a "
        "minute), so a burn-rate alert fires within about a minute (`harborctl demo` uses "
        "it); `--profile normal` (or `harborctl up`) restores the normal rules.",
    ),
    as_json: JsonFlag = False,
) -> None:
    """Write the Prometheus rule files and alertmanager.yml from the `slo:`/`alerting:` spec.

    Both are checked (promtool, amtool) before they replace the live files; a running
    Prometheus and Alertmanager are reloaded.
    """
    from harborctl.alerting import generate as gen
    from harborctl.alerting import tools

    settings = _settings()
    rules = gen.write_rule_files(settings, profile)
    repaired = gen.repair_secrets(settings)
    config = gen.write_alertmanager_config(settings, profile)
    data: dict[str, Any] = {
        "profile": profile.value,
        "rule_files": [str(path) for path in rules],
        "alertmanager_config": str(config),
        "repaired_secret_files": [str(path) for path in repaired],
        "rules_checked": tools.find("promtool") is not None,
        "config_checked": tools.find("amtool") is not None,
        "prometheus_reloaded": gen.reload_prometheus(settings.prometheus_url),
        "alertmanager_reloaded": _reload_alertmanager(settings.alertmanager_url),
    }

    def human() -> None:
        for path in data["rule_files"]:
            console.print(f"rules         {path} ({profile.value} profile)", highlight=False)
        console.print(f"alertmanager  {data['alertmanager_config']}", highlight=False)
        for path in repaired:
            console.print(
                f"secret        {path} rewritten exactly (it ended in a newline, which "
                "Alertmanager 0.25 sends as part of the SMTP password)",
                highlight=False,
            )
        for key, tool in (("rules_checked", "promtool"), ("config_checked", "amtool")):
            if not data[key]:
                note(f"{tool} not installed: not checked")
        for key, name, url in (
            ("prometheus_reloaded", "Prometheus", settings.prometheus_url),
            ("alertmanager_reloaded", "Alertmanager", settings.alertmanager_url),
        ):
            if data[key]:
                console.print(f"{name} at {url} reloaded", highlight=False)
            else:
                note(f"{name} is not running at {url}: it reads these files when it starts")

    emit(data, as_json, human)


@app.command("test")
def test(
    tests_dir: Path | None = typer.Option(
        None, "--tests", help="Directory of promtool *.test.yml files (default tests/alerting)."
    ),
    as_json: JsonFlag = False,
) -> None:
    """Run the promtool unit tests of the alert rules, normal and demo profile; check the rules
    generated from your spec.

    The demo profile's tests are in the `demo/` folder beside the normal ones. Exit code 1
    when a unit test or the check fails.
    """
    from harborctl.alerting import tools
    from harborctl.alerting.ruletests import run_template_tests
    from harborctl.errors import ConfigError

    promtool = tools.find("promtool")
    if promtool is None:
        fail("promtool not installed (Debian package `prometheus`): cannot test rules", 2)
    report = run_template_tests(promtool, tests_dir)
    demo = run_template_tests(promtool, tests_dir, Profile.demo)
    settings = _settings()
    generated = sorted(settings.layout.rules_dir.glob("*.yml"))
    check_error = None
    if generated:
        try:
            tools.check_rules(promtool, generated)
        except ConfigError as exc:
            check_error = str(exc)
    data = {
        "unit_tests_passed": report.passed and demo.passed,
        "unit_test_files": report.test_files,
        "output": report.output,
        "profiles": {
            r.profile.value: {"passed": r.passed, "unit_test_files": r.test_files}
            for r in (report, demo)
        },
        "demo_output": demo.output,
        "generated_rules": [str(path) for path in generated],
        "generated_rules_ok": check_error is None,
        "generated_rules_error": check_error,
    }

    def human() -> None:
        console.print(report.output, highlight=False, markup=False)
        console.print("demo profile:", highlight=False)
        console.print(demo.output, highlight=False, markup=False)
        if not generated:
            note("no generated rules yet: run `harborctl alerts generate`")
        elif check_error:
            console.print(f"generated rules: {check_error}", highlight=False, markup=False)
        else:
            console.print(f"generated rules: {len(generated)} files pass promtool check rules")

    emit(data, as_json, human)
    if not report.passed or not demo.passed or check_error:
        raise typer.Exit(1)


# --- receivers --------------------------------------------------------------------------------


@app.command("set-slack")
def set_slack(
    webhook_url: str = typer.Option(
        ...,
        "--webhook-url",
        help="Slack incoming-webhook URL (https://hooks.slack.com/services/...); '-' reads it "
        "from stdin, keeping it out of shell history.",
    ),
    channel: str | None = typer.Option(None, "--channel", help="Override the channel (#alerts)."),
    severity: ReceiverSeverity = Severity.all,
    name: str = typer.Option("slack", "--name", help="Receiver name (to keep several)."),
    as_json: JsonFlag = False,
) -> None:
    """Send alerts to Slack. The URL is stored in a 0600 file, never in a config."""
    from harborctl.alerting import generate as gen
    from harborctl.alerting import receivers as rx

    url = _read_stdin("--webhook-url").strip() if webhook_url == "-" else webhook_url
    receiver = rx.SlackReceiver(
        name=rx.check_name(name), severity=severity, channel=rx.check_channel(channel)
    )
    secret = rx.check_url("--webhook-url", url)
    settings = _settings()
    outcome = gen.set_receiver(settings, receiver, secret)
    _report(f"receiver {name} (slack)", outcome, settings, as_json)


@app.command("set-email")
def set_email(
    to: str = typer.Option(..., "--to", help="Recipient address(es), comma-separated."),
    from_: str = typer.Option(..., "--from", help="Sender address."),
    smarthost: str = typer.Option(..., "--smarthost", help="SMTP server host:port."),
    username: str | None = typer.Option(None, "--username", help="SMTP login."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the SMTP password from stdin."
    ),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="Read the SMTP password from this file (copied, 0600)."
    ),
    require_tls: bool = typer.Option(
        True, "--require-tls/--no-require-tls", help="Insist on STARTTLS (off: local relays)."
    ),
    severity: ReceiverSeverity = Severity.all,
    name: str = typer.Option("email", "--name", help="Receiver name (to keep several)."),
    as_json: JsonFlag = False,
) -> None:
    """Send alerts by email. The password is stored in a 0600 file, never in a config."""
    from harborctl.alerting import generate as gen
    from harborctl.alerting import receivers as rx
    from harborctl.alerting.secret_files import check_secret
    from harborctl.errors import ValidationError

    if password_stdin and password_file is not None:
        raise ValidationError("--password-file", "give --password-stdin or --password-file")
    password: str | None = None
    if password_stdin:
        password = check_secret("--password-stdin", _read_stdin("--password-stdin"))
    elif password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(
                "--password-file",
                f"--password-file: cannot read {password_file}: {exc.strerror}",
            ) from exc
        except UnicodeDecodeError as exc:
            raise ValidationError(
                "--password-file", f"--password-file: {password_file} is not UTF-8 text"
            ) from exc
        password = check_secret("--password-file", text)
    if username and password is None:
        raise ValidationError(
            "--password-stdin",
            "missing password: --username needs --password-stdin or --password-file",
        )
    if password is not None and not username:
        raise ValidationError("--username", "--username is required with a password")
    receiver = rx.EmailReceiver.model_validate(
        {
            "name": rx.check_name(name),
            "severity": severity,
            "to": rx.check_email("--to", to),
            "from": rx.check_email("--from", from_),
            "smarthost": rx.check_smarthost(smarthost),
            "username": rx.check_username(username),
            "has_password": password is not None,
            "require_tls": require_tls,
        }
    )
    settings = _settings()
    outcome = gen.set_receiver(settings, receiver, password)
    if password is not None and not require_tls and not rx.is_loopback_host(smarthost):
        outcome.notes.append(
            "--no-require-tls: the password would cross the network unencrypted; Alertmanager "
            "refuses AUTH PLAIN without TLS except to localhost (send-test shows it)"
        )
    _report(f"receiver {name} (email)", outcome, settings, as_json)


@app.command("set-webhook")
def set_webhook(
    url: str = typer.Option(
        ..., "--url", help="Where Alertmanager POSTs its JSON; '-' reads it from stdin."
    ),
    severity: ReceiverSeverity = Severity.all,
    name: str = typer.Option("webhook", "--name", help="Receiver name (to keep several)."),
    as_json: JsonFlag = False,
) -> None:
    """Send alerts to any HTTP endpoint (Alertmanager's webhook JSON).

    Alertmanager 0.25 cannot read this URL from a file, so it is written into
    alertmanager.yml, which is kept 0600; `receivers` masks it.
    """
    from harborctl.alerting import generate as gen
    from harborctl.alerting import receivers as rx

    value = _read_stdin("--url").strip() if url == "-" else url
    receiver = rx.WebhookReceiver(name=rx.check_name(name), severity=severity)
    secret = rx.check_url("--url", value)
    settings = _settings()
    outcome = gen.set_receiver(settings, receiver, secret)
    if gen.webhook_url_inline(settings, [receiver]):
        outcome.notes.append(
            "this Alertmanager has no webhook url_file: the URL is in alertmanager.yml (0600)"
        )
    _report(f"receiver {name} (webhook)", outcome, settings, as_json)


@app.command("receivers")
def receivers(as_json: JsonFlag = False) -> None:
    """List the configured receivers, secrets masked."""
    from harborctl.alerting import generate as gen
    from harborctl.alerting.receivers import describe

    settings = _settings()
    layout = settings.layout
    rows = [
        {
            "name": receiver.name,
            "type": receiver.type,
            "severity": receiver.severity.value,
            "target": describe(receiver, secret),
            "secret_file": str(layout.secret_file(receiver.name)) if secret else None,
        }
        for receiver, secret in gen.list_receivers(settings)
    ]

    def human() -> None:
        if not rows:
            console.print(
                "no receivers: alerts go nowhere. Add one with `harborctl alerts "
                "set-slack`, `set-email` or `set-webhook`.",
                highlight=False,
            )
            return
        print_table(rows, RECEIVER_COLUMNS, title="Alert receivers")

    emit(rows, as_json, human)


@app.command("remove")
def remove(
    name: str = typer.Argument(..., help="Receiver name (see `harborctl alerts receivers`)."),
    as_json: JsonFlag = False,
) -> None:
    """Remove a receiver and its secret file."""
    from harborctl.alerting import generate as gen

    settings = _settings()
    outcome = gen.remove_receiver(settings, name)
    _report(f"receiver {name} removed", outcome, settings, as_json)
