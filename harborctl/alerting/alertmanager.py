"""alertmanager.yml rendered from the notify spec and the configured receivers (pure).

Secrets are referenced, never inlined, except where Alertmanager has no ``*_file`` field: the
webhook receiver's URL before Alertmanager 0.26 (``webhook_url_file=False``). The file is
written 0600 either way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from harborctl.alerting.receivers import EmailReceiver, SlackReceiver, WebhookReceiver
from harborctl.alerting_spec import NotifySpec
from harborctl.render import render_template

TEMPLATE = "alertmanager/alertmanager.yml.j2"
AnyReceiver = SlackReceiver | EmailReceiver | WebhookReceiver


def _receiver_context(
    receiver: AnyReceiver,
    secret_file: Path,
    secret: str | None,
    webhook_url_file: bool,
) -> dict[str, Any]:
    context: dict[str, Any] = {"name": receiver.name, "type": receiver.type}
    if isinstance(receiver, SlackReceiver):
        context.update(secret_file=str(secret_file), channel=receiver.channel)
    elif isinstance(receiver, EmailReceiver):
        context.update(
            to=receiver.to,
            smarthost=receiver.smarthost,
            username=receiver.username,
            require_tls=receiver.require_tls,
            secret_file=str(secret_file) if receiver.has_password else None,
        )
        context["from"] = receiver.from_
    else:
        context.update(
            url_file=str(secret_file) if webhook_url_file else None,
            url=None if webhook_url_file else (secret or ""),
        )
    return context


def render_alertmanager_config(
    notify: NotifySpec,
    receivers: Sequence[AnyReceiver],
    secret_files: Mapping[str, Path],
    secrets: Mapping[str, str | None],
    receivers_file: Path,
    webhook_url_file: bool = False,
) -> str:
    """The whole alertmanager.yml; ``secrets`` is only read for inline webhook URLs."""
    contexts = [
        _receiver_context(r, secret_files[r.name], secrets.get(r.name), webhook_url_file)
        for r in receivers
    ]
    return render_template(
        TEMPLATE,
        notify=notify,
        receivers=contexts,
        page_receivers=[r.name for r in receivers if r.severity.accepts("page")],
        ticket_receivers=[r.name for r in receivers if r.severity.accepts("ticket")],
        receivers_file=str(receivers_file),
        am_version_note="before 0.26",
    )
