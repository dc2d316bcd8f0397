"""Notification receivers (Slack, email, webhook): validation and masking, no I/O.

A receiver's public part is a ``Receiver`` (persisted in receivers.yaml); its secret (Slack
webhook URL, SMTP password, webhook URL) travels separately and is only ever written to a
0600 file under ``<state_dir>/alerting/secrets/``.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field

from harborctl.errors import ValidationError

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")
_EMAIL = re.compile(r"^[^@\s<>,;\"']+@[^@\s<>,;\"']+\.[^@\s<>,;\"'.]+$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+$|^\[[0-9A-Fa-f:.]+\]$")
RESERVED_NAMES = frozenset({"blackhole"})


class Severity(StrEnum):
    """Which alerts a receiver gets: pages, tickets, or both."""

    page = "page"
    ticket = "ticket"
    all = "all"

    def accepts(self, severity: str) -> bool:
        return self is Severity.all or self.value == severity


class _Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    severity: Severity = Severity.all


class SlackReceiver(_Receiver):
    type: Literal["slack"] = "slack"
    channel: str | None = None


class EmailReceiver(_Receiver):
    type: Literal["email"] = "email"
    to: str
    from_: str = Field(alias="from")
    smarthost: str
    username: str | None = None
    has_password: bool = False
    require_tls: bool = True


class WebhookReceiver(_Receiver):
    type: Literal["webhook"] = "webhook"


Receiver = Annotated[SlackReceiver | EmailReceiver | WebhookReceiver, Field(discriminator="type")]


def check_name(name: str) -> str:
    if not _NAME.match(name) or name in RESERVED_NAMES:
        raise ValidationError(
            "--name",
            f"--name: {name!r} is not a receiver name (lowercase letters, digits, '-' and '_', "
            "starting with a letter, at most 40 characters; not 'blackhole')",
        )
    return name


def check_url(option: str, url: str) -> str:
    """An absolute http(s) URL with a host, no whitespace."""
    parts = urlsplit(url.strip())
    try:
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        port_ok = False
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or not port_ok
        or any(c.isspace() for c in url.strip())
    ):
        # never echo the value: webhook URLs are secrets
        raise ValidationError(
            option, f"{option}: not an absolute http(s) URL (e.g. https://host/path)"
        )
    return url.strip()


def check_email(option: str, value: str) -> str:
    """One address, or several separated by commas (Alertmanager's ``to``)."""
    addresses = [part.strip() for part in value.split(",")]
    for address in addresses:
        if not _EMAIL.match(address):
            raise ValidationError(option, f"{option}: {address!r} is not an email address")
    return ", ".join(addresses)


def check_smarthost(value: str) -> str:
    host, _, port = value.strip().rpartition(":")
    if not host or not _HOST.match(host) or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValidationError(
            "--smarthost", f"--smarthost: {value!r} is not host:port (e.g. smtp.gmail.com:587)"
        )
    return value.strip()


def check_channel(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip() or any(c.isspace() for c in value.strip()):
        raise ValidationError("--channel", f"--channel: {value!r} is not a Slack channel")
    return value.strip()


def check_username(value: str | None) -> str | None:
    """An SMTP login as Alertmanager sends it (inline ``auth_username``): one line, no
    whitespace at either end (the server would get another login), no control character."""
    if value is None:
        return None
    if (
        not value.strip()
        or value != value.strip()
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)
    ):
        raise ValidationError(
            "--username",
            f"--username: {value!r} is not a login (empty, whitespace at an end, or a control "
            "character)",
        )
    return value


def is_loopback_host(smarthost: str) -> bool:
    """Whether ``host:port`` names this machine (Go's smtp.PlainAuth sends credentials
    without TLS only there)."""
    host = smarthost.rpartition(":")[0].strip("[]").lower()
    return host in ("localhost", "127.0.0.1", "::1")


def mask_url(url: str) -> str:
    """``https://hooks.slack.com/****``: scheme and host only."""
    parts = urlsplit(url.strip())
    if parts.scheme and parts.hostname:
        return f"{parts.scheme}://{parts.hostname}/****"
    return "****"


def describe(receiver: SlackReceiver | EmailReceiver | WebhookReceiver, secret: str | None) -> str:
    """What the receiver sends to, with secrets masked."""
    if isinstance(receiver, SlackReceiver):
        target = mask_url(secret) if secret else "(webhook URL missing)"
        return f"{target} {receiver.channel or ''}".strip()
    if isinstance(receiver, EmailReceiver):
        auth = f" as {receiver.username}" if receiver.username else ""
        password = ", password ****" if receiver.has_password else ""
        tls = "" if receiver.require_tls else ", no TLS"
        return f"{receiver.to} via {receiver.smarthost}{auth}{password}{tls}"
    return mask_url(secret) if secret else "(URL missing)"
