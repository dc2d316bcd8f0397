"""alertmanager.yml built from the notify spec and the configured receivers (pure).

The file is a typed model (the ``TypedDict`` shapes below, named after Alertmanager's own
config sections, https://prometheus.io/docs/alerting/latest/configuration/) written with
``yaml.safe_dump``; the notification texts are Alertmanager's Go templates, kept verbatim in
the constants below.

Routing: every alert first reaches the ``blackhole`` receiver; pages go on to every receiver
taking pages (repeated every ``repeat_page``), everything else to every receiver taking
tickets (every ``repeat_ticket``). A page inhibits the ticket about the same ``area`` (and the
same ``test_id``: a test alert only the ticket of its own test; real alerts have none); with
ingest or every worker down, the pipeline and backlog alerts (consequences) are inhibited.

Secrets are referenced through ``*_file`` fields, never inlined, except where Alertmanager has
no such field: the webhook receiver's URL before Alertmanager 0.26 (``webhook_url_file=False``).
The file is written 0600 either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import NotRequired, TypedDict

import yaml

from harborctl.alerting.receivers import EmailReceiver, SlackReceiver, WebhookReceiver
from harborctl.alerting_spec import NotifySpec

AnyReceiver = SlackReceiver | EmailReceiver | WebhookReceiver
BLACKHOLE = "blackhole"  # alerts nobody asked for end here

# --- notification texts (Alertmanager Go templates) ---------------------------------------------

SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})"
)
SLACK_COLOR = (
    '{{ if eq .Status "firing" }}{{ if eq .CommonLabels.severity "page" }}danger'
    "{{ else }}warning{{ end }}{{ else }}good{{ end }}"
)
SLACK_TEXT = (
    '{{ range .Alerts }}{{ if eq .Status "firing" }}:red_circle:{{ else }}:white_check_mark:'
    "{{ end }} *{{ .Annotations.summary }}*\n"
    "{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook }}\n"
    "{{ end }}"
)
EMAIL_SUBJECT = "[HarborHook {{ .Status | toUpper }}] {{ (index .Alerts 0).Annotations.summary }}"
EMAIL_TEXT = (
    "{{ range .Alerts }}[{{ .Status | toUpper }}] {{ .Annotations.summary }}\n"
    "{{ .Annotations.description }}\n"
    "Severity: {{ .Labels.severity }}\n"
    "Runbook: {{ .Annotations.runbook }}\n"
    "\n"
    "{{ end }}"
)

# --- the model ----------------------------------------------------------------------------------


# `continue`, `from` and `global` are Python keywords: the functional form of TypedDict names
# those keys as Alertmanager does
Route = TypedDict(
    "Route",
    {
        "matchers": NotRequired[list[str]],
        "receiver": str,
        "continue": NotRequired[bool],
        "group_by": NotRequired[list[str]],
        "group_wait": NotRequired[str],
        "group_interval": NotRequired[str],
        "repeat_interval": NotRequired[str],
        "routes": NotRequired[list["Route"]],
    },
)


class InhibitRule(TypedDict):
    source_matchers: list[str]
    target_matchers: list[str]
    equal: NotRequired[list[str]]


class SlackConfig(TypedDict):
    api_url_file: str
    channel: NotRequired[str]
    send_resolved: bool
    title: str
    color: str
    text: str


EmailConfig = TypedDict(
    "EmailConfig",
    {
        "to": str,
        "from": str,
        "smarthost": str,
        "auth_username": NotRequired[str],
        "auth_password_file": NotRequired[str],
        "require_tls": bool,
        "send_resolved": bool,
        "headers": dict[str, str],
        "text": str,
    },
)


class WebhookConfig(TypedDict):
    url_file: NotRequired[str]
    url: NotRequired[str]
    send_resolved: bool


class ReceiverConfig(TypedDict):
    name: str
    slack_configs: NotRequired[list[SlackConfig]]
    email_configs: NotRequired[list[EmailConfig]]
    webhook_configs: NotRequired[list[WebhookConfig]]


AlertmanagerConfig = TypedDict(
    "AlertmanagerConfig",
    {
        "global": dict[str, str],
        "route": Route,
        "inhibit_rules": list[InhibitRule],
        "receivers": list[ReceiverConfig],
    },
)


INHIBIT_RULES: list[InhibitRule] = [
    # a page silences the ticket about the same thing (test alerts: of the same test only,
    # so `send-test --severity ticket` is not held back by an earlier page test)
    {
        "source_matchers": ['severity="page"'],
        "target_matchers": ['severity="ticket"'],
        "equal": ["area", "test_id"],
    },
    # with ingest or every worker down, stalled-pipeline and backlog alerts are consequences
    {
        "source_matchers": ['alertname=~"HarborHookIngestDown|HarborHookWorkerDown"'],
        "target_matchers": ['area=~"pipeline|backlog"'],
    },
]


# --- building it ---------------------------------------------------------------------------------


def _severity_route(matcher: str, repeat: str, receivers: Sequence[str]) -> Route:
    """Alerts matching ``matcher`` go on to every one of ``receivers`` (``continue``)."""
    route: Route = {"matchers": [matcher], "receiver": BLACKHOLE, "repeat_interval": repeat}
    if receivers:
        route["routes"] = [{"receiver": name, "continue": True} for name in receivers]
    return route


def build_route(notify: NotifySpec, receivers: Sequence[AnyReceiver]) -> Route:
    """The routing tree: pages and tickets each fanned out to the receivers taking them."""
    pages = [r.name for r in receivers if r.severity.accepts("page")]
    tickets = [r.name for r in receivers if r.severity.accepts("ticket")]
    return {
        "receiver": BLACKHOLE,
        "group_by": list(notify.group_by),
        "group_wait": notify.group_wait,
        "group_interval": notify.group_interval,
        "repeat_interval": notify.repeat_ticket,
        "routes": [
            _severity_route('severity="page"', notify.repeat_page, pages),
            _severity_route('severity!="page"', notify.repeat_ticket, tickets),
        ],
    }


def build_only_route(
    notify: NotifySpec, receivers: Sequence[str], matchers: Sequence[str]
) -> Route:
    """A tree that sends only the alerts matching every one of ``matchers`` on, to every one of
    ``receivers`` whatever their severity; everything else ends in the blackhole
    (``harborctl demo``: the alert it drives reaches the recorder and the receivers named with
    ``--notify``, and nothing else is sent anywhere while it runs)."""
    return {
        "receiver": BLACKHOLE,
        "group_by": list(notify.group_by),
        "group_wait": notify.group_wait,
        "group_interval": notify.group_interval,
        "repeat_interval": notify.repeat_page,
        "routes": [
            {
                "matchers": list(matchers),
                "receiver": BLACKHOLE,
                "routes": [{"receiver": name, "continue": True} for name in receivers],
            }
        ],
    }


def _slack(receiver: SlackReceiver, secret_file: Path) -> ReceiverConfig:
    config: SlackConfig = {
        "api_url_file": str(secret_file),
        "send_resolved": True,
        "title": SLACK_TITLE,
        "color": SLACK_COLOR,
        "text": SLACK_TEXT,
    }
    if receiver.channel:
        config["channel"] = receiver.channel
    return {"name": receiver.name, "slack_configs": [config]}


def _email(receiver: EmailReceiver, secret_file: Path) -> ReceiverConfig:
    config: EmailConfig = {
        "to": receiver.to,
        "from": receiver.from_,
        "smarthost": receiver.smarthost,
        "require_tls": receiver.require_tls,
        "send_resolved": True,
        "headers": {"Subject": EMAIL_SUBJECT},
        "text": EMAIL_TEXT,
    }
    if receiver.username:
        config["auth_username"] = receiver.username
    if receiver.has_password:
        config["auth_password_file"] = str(secret_file)
    return {"name": receiver.name, "email_configs": [config]}


def _webhook(
    receiver: WebhookReceiver, secret_file: Path, secret: str | None, url_file: bool
) -> ReceiverConfig:
    config: WebhookConfig = (
        {"url_file": str(secret_file), "send_resolved": True}
        if url_file
        else {"url": secret or "", "send_resolved": True}
    )
    return {"name": receiver.name, "webhook_configs": [config]}


def build_receiver(
    receiver: AnyReceiver, secret_file: Path, secret: str | None, webhook_url_file: bool
) -> ReceiverConfig:
    """One receiver's config section; ``secret`` is read only for an inline webhook URL."""
    if isinstance(receiver, SlackReceiver):
        return _slack(receiver, secret_file)
    if isinstance(receiver, EmailReceiver):
        return _email(receiver, secret_file)
    return _webhook(receiver, secret_file, secret, webhook_url_file)


def build_alertmanager_config(
    notify: NotifySpec,
    receivers: Sequence[AnyReceiver],
    secret_files: Mapping[str, Path],
    secrets: Mapping[str, str | None],
    webhook_url_file: bool = False,
    route: Route | None = None,
) -> AlertmanagerConfig:
    """The whole config as data (see the module docstring for the routing; ``route`` replaces
    that tree)."""
    return {
        "global": {"resolve_timeout": notify.resolve_timeout},
        "route": route or build_route(notify, receivers),
        "inhibit_rules": INHIBIT_RULES,
        "receivers": [
            {"name": BLACKHOLE},
            *(
                build_receiver(r, secret_files[r.name], secrets.get(r.name), webhook_url_file)
                for r in receivers
            ),
        ],
    }


# --- writing it ----------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """safe_dump, with multi-line strings (the notification texts) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _header(receivers_file: Path, inline_webhook: bool) -> str:
    lines = [
        "Generated by `harborctl alerts generate` / `harborctl alerts set-*`.",
        f"Do not edit: receivers live in {receivers_file}, their secrets in 0600 files",
        "referenced below through *_file fields; timing comes from the `alerting.notify`",
        "section of the config.",
    ]
    if inline_webhook:
        lines.append(
            "Alertmanager before 0.26 has no webhook url_file: webhook URLs are inline, "
            "this file is 0600."
        )
    return "".join(f"# {line}\n" for line in lines)


def render_alertmanager_config(
    notify: NotifySpec,
    receivers: Sequence[AnyReceiver],
    secret_files: Mapping[str, Path],
    secrets: Mapping[str, str | None],
    receivers_file: Path,
    webhook_url_file: bool = False,
    route: Route | None = None,
) -> str:
    """The whole alertmanager.yml; ``secrets`` is only read for inline webhook URLs."""
    config = build_alertmanager_config(
        notify, receivers, secret_files, secrets, webhook_url_file, route
    )
    inline = not webhook_url_file and any(isinstance(r, WebhookReceiver) for r in receivers)
    return _header(receivers_file, inline) + dump_alertmanager_config(config)


def dump_alertmanager_config(config: AlertmanagerConfig) -> str:
    """The YAML text of ``config`` (no header), notification texts as literal blocks."""
    return yaml.dump(config, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000)
