"""Alerting state under the state dir read back: the receivers and their secrets.

::

    <state_dir>/alerting/receivers.yaml       receivers, no secrets (0600 anyway)
    <state_dir>/alerting/secrets/<name>       one secret per receiver, 0600, dir 0700,
                                              in the exact form of ``secret_files``

(paths from ``harborctl.layout.StateLayout``)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from harborctl.alerting.receivers import EmailReceiver, Receiver, SlackReceiver, WebhookReceiver
from harborctl.alerting.secret_files import needs_rewrite, secret_bytes, secret_from_file
from harborctl.errors import ConfigError
from harborctl.layout import StateLayout
from harborctl.render import write_file

SECRET_MODE = 0o600
SECRETS_DIR_MODE = 0o700

AnyReceiver = SlackReceiver | EmailReceiver | WebhookReceiver
_RECEIVERS = TypeAdapter(list[Receiver])


def load_receivers(layout: StateLayout) -> list[AnyReceiver]:
    """The configured receivers, [] when none were ever set."""
    path = layout.receivers_file
    if not path.exists():
        return []
    try:
        data = yaml.safe_load(path.read_text()) or {}
        return list(_RECEIVERS.validate_python(data.get("receivers") or []))
    except (yaml.YAMLError, AttributeError, PydanticValidationError) as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(str(path), f"not a receivers file ({first}); fix or delete it") from exc


def dump_receivers(receivers: Sequence[AnyReceiver]) -> str:
    body = [r.model_dump(mode="json", by_alias=True, exclude_none=True) for r in receivers]
    header = "# Managed by `harborctl alerts set-*/remove`. Secrets are in secrets/, not here.\n"
    return header + yaml.safe_dump({"receivers": body}, sort_keys=False)


def read_secret(layout: StateLayout, name: str) -> str | None:
    """The secret of receiver ``name``, None when it has no secret file."""
    try:
        return secret_from_file(layout.secret_file(name).read_bytes())
    except FileNotFoundError:
        return None


def write_secret(layout: StateLayout, name: str, secret: str) -> Path:
    """The secret file of receiver ``name``: exactly ``secret`` (``secret_files``), 0600."""
    layout.secrets_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(layout.secrets_dir, SECRETS_DIR_MODE)
    return write_file(
        layout.secret_file(name), secret_bytes(secret).decode("utf-8"), mode=SECRET_MODE
    )


def repair_secret_files(layout: StateLayout, receivers: Sequence[AnyReceiver]) -> list[Path]:
    """Rewrite, in the exact form, every receiver's secret file that is not in it (a file
    written by an earlier HarborHook ends in a newline, which Alertmanager 0.25 sends as part
    of the SMTP password); the files rewritten."""
    repaired: list[Path] = []
    for receiver in receivers:
        path = layout.secret_file(receiver.name)
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            continue
        if needs_rewrite(content):
            repaired.append(write_secret(layout, receiver.name, secret_from_file(content)))
    return repaired
