"""Where alerting state lives under the state dir, and reading it back.

::

    <state_dir>/alerting/receivers.yaml       receivers, no secrets (0600 anyway)
    <state_dir>/alerting/secrets/<name>       one secret per receiver, 0600, dir 0700
    <state_dir>/alertmanager/alertmanager.yml generated, 0600
    <state_dir>/prometheus/rules/*.yml        generated rule files
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from harborctl.alerting.receivers import EmailReceiver, Receiver, SlackReceiver, WebhookReceiver
from harborctl.errors import ConfigError

AnyReceiver = SlackReceiver | EmailReceiver | WebhookReceiver
_RECEIVERS = TypeAdapter(list[Receiver])


@dataclass(frozen=True)
class AlertingPaths:
    state_dir: Path

    @property
    def receivers_file(self) -> Path:
        return self.state_dir / "alerting" / "receivers.yaml"

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "alerting" / "secrets"

    def secret_file(self, name: str) -> Path:
        return self.secrets_dir / name

    @property
    def alertmanager_dir(self) -> Path:
        return self.state_dir / "alertmanager"

    @property
    def alertmanager_config(self) -> Path:
        return self.alertmanager_dir / "alertmanager.yml"

    @property
    def rules_dir(self) -> Path:
        return self.state_dir / "prometheus" / "rules"


def load_receivers(paths: AlertingPaths) -> list[AnyReceiver]:
    """The configured receivers, [] when none were ever set."""
    path = paths.receivers_file
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


def read_secret(paths: AlertingPaths, name: str) -> str | None:
    try:
        return paths.secret_file(name).read_text().rstrip("\n")
    except FileNotFoundError:
        return None
