"""Alerting state under the state dir read back: the receivers and their secrets.

::

    <state_dir>/alerting/receivers.yaml       receivers, no secrets (0600 anyway)
    <state_dir>/alerting/secrets/<name>       one secret per receiver, 0600, dir 0700

(paths from ``harborctl.layout.StateLayout``)
"""

from __future__ import annotations

from collections.abc import Sequence

import yaml
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from harborctl.alerting.receivers import EmailReceiver, Receiver, SlackReceiver, WebhookReceiver
from harborctl.errors import ConfigError
from harborctl.layout import StateLayout

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
    try:
        return layout.secret_file(name).read_text().rstrip("\n")
    except FileNotFoundError:
        return None
