"""Write the alerting files, each checked before it replaces the live one.

- ``write_rule_files(settings)``: ``<state_dir>/prometheus/rules/*.yml`` (``promtool check rules``);
- ``write_alertmanager_config(settings)``: ``<state_dir>/alertmanager/alertmanager.yml``, 0600
  (``amtool check-config``), after ``repair_secrets``: every receiver's secret file in the
  exact form Alertmanager reads (``harborctl.alerting.secret_files``);
- ``set_receiver`` / ``remove_receiver``: change the receivers, their secrets and
  alertmanager.yml together, then reload Alertmanager; a rejected change writes nothing, and a
  config the running Alertmanager refuses is rolled back;
- ``notify_only``: alertmanager.yml sending one alert to named receivers and nothing else
  anywhere (``harborctl demo``, which puts the operator's file back afterwards).

Each takes a rule ``Profile`` where timing matters (``harborctl.alerting.profiles``): the demo
profile scales windows, ``for`` durations and Alertmanager's waits down. ``harborctl up``
calls the first two with the normal profile; the CLI calls all of them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harborctl.alerting import tools
from harborctl.alerting.alertmanager import Route, build_only_route, render_alertmanager_config
from harborctl.alerting.client import AlertmanagerClient
from harborctl.alerting.profiles import Profile, rule_profile
from harborctl.alerting.receivers import WebhookReceiver
from harborctl.alerting.rules import render_rule_files
from harborctl.alerting.store import (
    SECRET_MODE,
    AnyReceiver,
    dump_receivers,
    load_receivers,
    read_secret,
    repair_secret_files,
    write_secret,
)
from harborctl.errors import NotFound, ServiceError
from harborctl.layout import StateLayout
from harborctl.render import write_file
from harborctl.settings import Settings


@dataclass
class Outcome:
    """What a change did: files written, whether it was checked, whether Alertmanager reloaded."""

    files: list[Path] = field(default_factory=list)
    validated: bool = False
    reloaded: bool | None = None  # None: not attempted; False: Alertmanager not running
    notes: list[str] = field(default_factory=list)


# --- Prometheus rules -------------------------------------------------------------------------


def write_rule_files(settings: Settings, profile: Profile = Profile.normal) -> list[Path]:
    """Render the rule files on ``profile``'s time scale, check them with promtool (when
    installed), then write them."""
    layout = settings.layout
    files = render_rule_files(settings.slo, settings.alerting, profile)
    promtool = tools.find("promtool")
    if promtool is not None:
        with tempfile.TemporaryDirectory(prefix="harborhook-rules-") as directory:
            staged = [Path(directory) / name for name in files]
            for path, text in zip(staged, files.values(), strict=True):
                path.write_text(text)
            tools.check_rules(promtool, staged)
    return [write_file(layout.rules_dir / name, text) for name, text in files.items()]


def reload_prometheus(url: str) -> bool:
    """POST /-/reload (needs --web.enable-lifecycle): True when reloaded, False when absent."""
    try:
        response = httpx.post(f"{url.rstrip('/')}/-/reload", timeout=10.0)
    except httpx.HTTPError:
        return False
    if response.status_code != 200:
        raise ServiceError(
            f"Prometheus at {url} did not reload (HTTP {response.status_code}): "
            f"{response.text.strip()[:200]}"
        )
    return True


# --- Alertmanager config ----------------------------------------------------------------------


def _render(
    settings: Settings,
    receivers: Sequence[AnyReceiver],
    secrets: Mapping[str, str | None],
    amtool: str | None,
    profile: Profile = Profile.normal,
    route: Route | None = None,
) -> str:
    layout = settings.layout
    return render_alertmanager_config(
        rule_profile(profile, settings.alerting).alerting.notify,
        receivers,
        secret_files={r.name: layout.secret_file(r.name) for r in receivers},
        secrets=secrets,
        receivers_file=layout.receivers_file,
        webhook_url_file=amtool is not None and tools.webhook_url_file_supported(amtool),
        route=route,
    )


def _current_secrets(
    layout: StateLayout, receivers: Sequence[AnyReceiver]
) -> dict[str, str | None]:
    return {r.name: read_secret(layout, r.name) for r in receivers}


def _check(amtool: str | None, text: str) -> bool:
    """amtool check-config on a staged copy; False when amtool is not installed."""
    if amtool is None:
        return False
    with tempfile.TemporaryDirectory(prefix="harborhook-am-") as directory:
        staged = Path(directory) / "alertmanager.yml"
        staged.write_text(text)
        tools.check_alertmanager_config(amtool, staged)
    return True


def repair_secrets(settings: Settings) -> list[Path]:
    """Every receiver's secret file in the exact form (files written by earlier versions end
    in a newline); the files rewritten."""
    layout = settings.layout
    return repair_secret_files(layout, load_receivers(layout))


def write_alertmanager_config(settings: Settings, profile: Profile = Profile.normal) -> Path:
    """alertmanager.yml (0600) from the spec and the configured receivers, checked first;
    the receivers' secret files repaired first (``repair_secrets``); Alertmanager's waits on
    ``profile``'s time scale."""
    layout = settings.layout
    receivers = load_receivers(layout)
    repair_secret_files(layout, receivers)
    amtool = tools.find("amtool")
    text = _render(settings, receivers, _current_secrets(layout, receivers), amtool, profile)
    _check(amtool, text)
    return write_file(layout.alertmanager_config, text, mode=SECRET_MODE)


# --- receivers --------------------------------------------------------------------------------


def _snapshot(paths: Sequence[Path]) -> dict[Path, bytes | None]:
    return {path: path.read_bytes() if path.exists() else None for path in paths}


def _restore(snapshot: Mapping[Path, bytes | None]) -> None:
    for path, content in snapshot.items():
        if content is None:
            with suppress(FileNotFoundError):
                path.unlink()
        else:
            write_file(path, content.decode(), mode=SECRET_MODE)


def _reload_or_restore(alertmanager_url: str, before: Mapping[Path, bytes | None]) -> bool:
    """Reload Alertmanager with the files just written; True when it answered, False when it
    is not running. When it refuses them (ServiceError), the files are put back as
    ``before`` and Alertmanager reloaded with those before the error is raised again."""
    with AlertmanagerClient(alertmanager_url) as client:
        try:
            return client.reload()
        except ServiceError:
            _restore(before)
            with suppress(ServiceError):
                client.reload()
            raise


def _apply(
    settings: Settings,
    receivers: list[AnyReceiver],
    new_secrets: Mapping[str, str | None],
) -> Outcome:
    """Check the whole new state, then write it and reload; nothing is written when it fails.

    ``new_secrets`` maps receiver names to their new secret (None: delete the secret file);
    receivers not named keep theirs.
    """
    layout = settings.layout
    amtool = tools.find("amtool")
    secrets = {**_current_secrets(layout, receivers), **new_secrets}
    config_text = _render(settings, receivers, secrets, amtool)
    outcome = Outcome(validated=_check(amtool, config_text))
    if not outcome.validated:
        outcome.notes.append("amtool not installed: alertmanager.yml was not checked")

    touched = [layout.receivers_file, layout.alertmanager_config]
    touched += [layout.secret_file(name) for name in new_secrets]
    before = _snapshot(touched)
    for name, secret in new_secrets.items():
        if secret is None:
            with suppress(FileNotFoundError):
                layout.secret_file(name).unlink()
        else:
            outcome.files.append(write_secret(layout, name, secret))
    kept = [r for r in receivers if r.name not in new_secrets]
    outcome.files += repair_secret_files(layout, kept)
    outcome.files.append(write_file(layout.receivers_file, dump_receivers(receivers), SECRET_MODE))
    outcome.files.append(write_file(layout.alertmanager_config, config_text, SECRET_MODE))

    outcome.reloaded = _reload_or_restore(settings.alertmanager_url, before)
    if not outcome.reloaded:
        outcome.notes.append(
            f"Alertmanager is not running at {settings.alertmanager_url}: "
            "it uses the new config when it starts"
        )
    return outcome


def set_receiver(settings: Settings, receiver: AnyReceiver, secret: str | None) -> Outcome:
    """Add or replace the receiver named ``receiver.name`` (its secret replaced too)."""
    current = load_receivers(settings.layout)
    names = [r.name for r in current]
    if receiver.name in names:
        current[names.index(receiver.name)] = receiver
    else:
        current.append(receiver)
    return _apply(settings, current, {receiver.name: secret})


def remove_receiver(settings: Settings, name: str) -> Outcome:
    current = load_receivers(settings.layout)
    if name not in [r.name for r in current]:
        raise NotFound("receiver", name)
    return _apply(settings, [r for r in current if r.name != name], {name: None})


def notify_only(
    settings: Settings,
    names: Sequence[str],
    matchers: Sequence[str],
    profile: Profile = Profile.demo,
) -> Outcome:
    """alertmanager.yml sending the alerts matching ``matchers`` to the configured receivers
    ``names`` (whatever severity they take) and nothing anywhere else, on ``profile``'s
    timing; checked with amtool, written 0600, Alertmanager reloaded (the previous file put
    back when the running Alertmanager refuses it). receivers.yaml and the secrets are not
    touched: the operator's own alertmanager.yml comes back with ``write_alertmanager_config``
    (or from a copy the caller kept). NotFound for a name that is not a receiver."""
    layout = settings.layout
    configured = {r.name: r for r in load_receivers(layout)}
    for name in names:
        if name not in configured:
            raise NotFound("receiver", name)
    chosen = [configured[name] for name in dict.fromkeys(names)]
    notify = rule_profile(profile, settings.alerting).alerting.notify
    route = build_only_route(notify, [r.name for r in chosen], matchers)
    amtool = tools.find("amtool")
    text = _render(settings, chosen, _current_secrets(layout, chosen), amtool, profile, route)
    outcome = Outcome(validated=_check(amtool, text))
    before = _snapshot([layout.alertmanager_config])
    outcome.files.append(write_file(layout.alertmanager_config, text, SECRET_MODE))
    outcome.reloaded = _reload_or_restore(settings.alertmanager_url, before)
    return outcome


def list_receivers(settings: Settings) -> list[tuple[AnyReceiver, str | None]]:
    """Every receiver with its secret (for masking by the caller)."""
    layout = settings.layout
    return [(r, read_secret(layout, r.name)) for r in load_receivers(layout)]


def webhook_url_inline(settings: Settings, receivers: Sequence[AnyReceiver]) -> bool:
    """True when some webhook URL had to be written into alertmanager.yml (no url_file)."""
    amtool = tools.find("amtool")
    supported = amtool is not None and tools.webhook_url_file_supported(amtool)
    return not supported and any(isinstance(r, WebhookReceiver) for r in receivers)
