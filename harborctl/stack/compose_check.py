"""Checks of the compose stack that need no Docker engine.

The compose files are loaded by ``harborhook-compose-check``: the Compose Specification loader
Docker Compose itself uses (github.com/compose-spec/compose-go/v2, built by scripts/bootstrap
from scripts/compose-check), with interpolation, schema validation, normalization and the
consistency checks of ``docker compose config``, unset variables refused (``--strict``). Its
normalized model (JSON: absolute paths, long syntax everywhere) is what the checks read:

- ``images``: every image is pinned to a version tag (no ``latest``, no bare name); a built
  image (``build:``) is named with one too;
- ``ports``: every published port is bound to 127.0.0.1;
- ``mounts``: every bind-mounted file or directory, secret file and build context exists,
  under one of the allowed roots (the checkout; the overlay's state dir), host sockets aside;
- ``start order``: a ``service_healthy`` dependency has a healthcheck, a
  ``service_completed_successfully`` one is a one-shot (no restart), no command sleeps;
- ``prometheus`` / ``alertmanager``: the config each service is started with passes
  ``promtool check config`` / ``amtool check-config``, checked in a temporary directory
  mirroring the container's mounts (``/etc/prometheus/rules`` → ``<tmp>/etc/prometheus/rules``)
  with the container paths in the config rewritten to the mirror; every rule file glob matches
  a file; every scrape, Alertmanager and notification target is a service of the stack; every
  ``*_file`` the Alertmanager config reads is mounted, and no receiver secret is inline;
- ``grafana``: the provisioned datasources' uids are unique and every uid they and the
  dashboards reference exists; each dashboard provider's path is a mounted directory.

Each check answers a ``CheckResult`` (its problems, or why it was skipped: promtool or amtool
not installed).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

from harborctl.alerting import tools
from harborctl.errors import ConfigError, StackError

COMPOSE_CHECK = "harborhook-compose-check"
COMPOSE_CHECK_HINT = "run scripts/bootstrap (it builds it from scripts/compose-check)"
LOAD_TIMEOUT = 120.0
# Host resources a service may bind-mount although they are no files of the checkout
HOST_RESOURCES = frozenset({"/var/run/docker.sock"})
# 1.3.0, v2.53.2, 16.4, 3.11.10-slim-bookworm: a version, optionally with a variant
VERSION_TAG = re.compile(r"^v?\d+(\.\d+)+([-_+.][0-9A-Za-z][0-9A-Za-z._-]*)?$")
SECRETS_DIR = "/run/secrets"  # where compose mounts a secret without a target
GRAFANA_BUILTIN_UIDS = frozenset({"-- Grafana --", "-- Mixed --", "-- Dashboard --", "grafana"})
# Alertmanager's receiver fields holding a secret, and their file-reading twins
SECRET_FIELDS = {
    "slack_configs": ("api_url", "api_url_file"),
    "email_configs": ("auth_password", "auth_password_file"),
    "webhook_configs": ("url", "url_file"),
}

Model = Mapping[str, Any]


@dataclass(frozen=True)
class CheckResult:
    name: str
    problems: tuple[str, ...] = ()
    skipped: str | None = None  # why it did not run
    detail: str = ""  # what was checked, when it passed

    @property
    def ok(self) -> bool:
        return not self.problems


# --- the model -------------------------------------------------------------------------------


def load_compose_model(
    files: Sequence[Path],
    project_dir: Path,
    *,
    binary: str | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The normalized model of ``files`` (later files merged into earlier ones), loaded as
    ``docker compose config`` would with unset variables refused. StackError when the
    validator is not installed; ConfigError with the loader's reason when a file is invalid."""
    program = binary or shutil.which(COMPOSE_CHECK)
    if program is None:
        raise StackError(f"{COMPOSE_CHECK} not installed: {COMPOSE_CHECK_HINT}")
    argv = [program, "--project-directory", str(project_dir), "--strict", "--format", "json"]
    for path in files:
        argv += ["-f", str(path)]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=LOAD_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise StackError(f"{COMPOSE_CHECK} could not run: {exc}") from exc
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()
        raise ConfigError(
            ", ".join(str(path) for path in files),
            reason[-1] if reason else f"{COMPOSE_CHECK} exited {done.returncode}",
        )
    model: dict[str, Any] = json.loads(done.stdout)
    return model


def services(model: Model) -> dict[str, dict[str, Any]]:
    return dict(model.get("services") or {})


def _binds(service: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for volume in service.get("volumes") or []:
        if volume.get("type") == "bind":
            yield volume


def _secret_mounts(model: Model, service: Mapping[str, Any]) -> Iterator[tuple[Path, str]]:
    """(host file, container path) of each compose secret the service gets."""
    declared = model.get("secrets") or {}
    for secret in service.get("secrets") or []:
        source = str(secret.get("source"))
        target = str(secret.get("target") or source)
        if not target.startswith("/"):
            target = f"{SECRETS_DIR}/{target}"
        path = (declared.get(source) or {}).get("file")
        if path:
            yield Path(path), target


# --- checks on the model alone (pure) --------------------------------------------------------


def image_problems(model: Model) -> list[str]:
    problems = []
    for name, service in sorted(services(model).items()):
        image = service.get("image")
        if not image:
            problems.append(f"{name}: no image (a built one needs a name with a version too)")
            continue
        reference = str(image).split("@", 1)[0]
        repository, _, tag = reference.rpartition(":")
        if not repository or "/" in tag:
            problems.append(f"{name}: image {image} has no tag (that is `latest`)")
        elif tag == "latest" or not VERSION_TAG.match(tag):
            problems.append(f"{name}: image {image} is not pinned to a version")
    return problems


def port_problems(model: Model) -> list[str]:
    problems = []
    for name, service in sorted(services(model).items()):
        for port in service.get("ports") or []:
            if port.get("host_ip") != "127.0.0.1":
                where = port.get("host_ip") or "every interface"
                problems.append(
                    f"{name}: port {port.get('published')}->{port.get('target')} is published "
                    f"on {where}, not 127.0.0.1"
                )
    return problems


def _inside(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == root or root in path.parents for root in roots)


def mount_problems(model: Model, roots: Sequence[Path]) -> list[str]:
    """Every bind source, secret file and build context exists under one of ``roots``."""
    resolved = [root.resolve() for root in roots]
    problems = []

    def check(owner: str, what: str, path: Path) -> None:
        if str(path) in HOST_RESOURCES:
            return
        if not path.exists():
            problems.append(f"{owner}: {what} {path} does not exist")
        elif not _inside(path.resolve(), resolved):
            problems.append(f"{owner}: {what} {path} is outside {', '.join(map(str, roots))}")

    for name, service in sorted(services(model).items()):
        for volume in _binds(service):
            check(name, "mounted path", Path(volume["source"]))
        for path, _ in _secret_mounts(model, service):
            check(name, "secret file", path)
        build = service.get("build")
        if build:
            context = Path(build["context"])
            check(name, "build context", context)
            check(name, "Dockerfile", context / str(build.get("dockerfile") or "Dockerfile"))
    for name, secret in sorted((model.get("secrets") or {}).items()):
        if secret.get("file"):
            check(f"secret {name}", "file", Path(secret["file"]))
    return problems


def _has_healthcheck(service: Mapping[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    test = check.get("test") or []
    return not check.get("disable") and bool(test) and test[0] != "NONE"


def _words(value: Any) -> list[str]:
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [word for item in value for word in str(item).split()]
    return []


def start_order_problems(model: Model) -> list[str]:
    known = services(model)
    problems = []
    for name, service in sorted(known.items()):
        for dependency, how in sorted((service.get("depends_on") or {}).items()):
            condition = how.get("condition")
            target = known.get(dependency)
            if target is None:
                problems.append(f"{name}: depends on {dependency}, which is no service")
            elif condition == "service_healthy" and not _has_healthcheck(target):
                problems.append(
                    f"{name}: waits for {dependency} to be healthy, which has no healthcheck"
                )
            elif condition == "service_completed_successfully" and target.get("restart") not in (
                None,
                "no",
            ):
                problems.append(
                    f"{name}: waits for {dependency} to complete, which restarts "
                    f"({target.get('restart')})"
                )
        commands = [service.get("command"), service.get("entrypoint")]
        commands.append((service.get("healthcheck") or {}).get("test"))
        if any("sleep" in _words(command) for command in commands):
            problems.append(f"{name}: sleeps instead of waiting for a healthcheck")
    return problems


def _service_host(address: str) -> str:
    """``prometheus`` of ``http://prometheus:9090``, ``ingest`` of ``ingest:8080``."""
    if "://" in address:
        return urlsplit(address).hostname or ""
    return address.rpartition(":")[0] if ":" in address else address


def _unknown_hosts(hosts: Sequence[str], known: Mapping[str, Any], owner: str) -> list[str]:
    return [
        f"{owner}: {host} is no service of the stack"
        for host in hosts
        if host not in known and host != "localhost"
    ]


# --- mirroring a container's files ----------------------------------------------------------


@dataclass
class Mirror:
    """A service's mounted files copied under ``root`` at their container paths."""

    root: Path
    targets: list[str] = field(default_factory=list)

    def path(self, container_path: str) -> Path:
        return self.root / PurePosixPath(container_path).relative_to("/")

    def rewrite(self, text: str) -> str:
        """``text`` with every mounted container path pointing into the mirror."""
        if not self.targets:
            return text
        targets = sorted(self.targets, key=len, reverse=True)
        pattern = re.compile("(" + "|".join(re.escape(t) for t in targets) + r")(?=[/\"'\s,\]]|$)")
        return pattern.sub(lambda m: str(self.path(m.group(1))), text)


def mirror_service(model: Model, service: Mapping[str, Any], root: Path) -> Mirror:
    mirror = Mirror(root)
    mounts = [(Path(v["source"]), str(v["target"])) for v in _binds(service)]
    mounts += list(_secret_mounts(model, service))
    for source, target in mounts:
        destination = mirror.path(target)
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        elif source.is_file():
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination)
        else:
            continue
        mirror.targets.append(target)
    return mirror


def _flag(command: Sequence[str] | None, flag: str, default: str) -> str:
    for word in command or []:
        if word.startswith(f"{flag}="):
            return word.split("=", 1)[1]
    return default


# --- Prometheus ------------------------------------------------------------------------------


def prometheus_problems(
    model: Model, service_name: str, promtool: str, workdir: Path
) -> tuple[list[str], str]:
    """(problems, what was checked) of the Prometheus service's config."""
    known = services(model)
    service = known[service_name]
    mirror = mirror_service(model, service, workdir)
    config_path = _flag(service.get("command"), "--config.file", "/etc/prometheus/prometheus.yml")
    mirrored = mirror.path(config_path)
    if not mirrored.is_file():
        return [f"{service_name}: its config {config_path} is not mounted"], ""
    mirrored.write_text(mirror.rewrite(mirrored.read_text()))
    config = yaml.safe_load(mirrored.read_text()) or {}
    problems = []
    rule_files = 0
    for pattern in config.get("rule_files") or []:
        matched = sorted(Path("/").glob(str(pattern).lstrip("/")))
        if not matched:
            problems.append(f"{service_name}: rule_files {pattern} matches no mounted file")
        rule_files += len(matched)
    targets = []
    for job in config.get("scrape_configs") or []:
        for static in job.get("static_configs") or []:
            targets += list(static.get("targets") or [])
        for dns in job.get("dns_sd_configs") or []:
            targets += list(dns.get("names") or [])
    for alertmanagers in (config.get("alerting") or {}).get("alertmanagers") or []:
        for static in alertmanagers.get("static_configs") or []:
            targets += list(static.get("targets") or [])
    problems += _unknown_hosts([_service_host(t) for t in targets], known, service_name)
    try:
        tools.check_prometheus_config(promtool, mirrored)
    except ConfigError as exc:
        problems.append(f"{service_name}: {exc!s}")
    jobs = len(config.get("scrape_configs") or [])
    return problems, f"{jobs} scrape jobs, {rule_files} rule files"


# --- Alertmanager ----------------------------------------------------------------------------


def _receiver_configs(config: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for receiver in config.get("receivers") or []:
        for kind in SECRET_FIELDS:
            for entry in receiver.get(kind) or []:
                yield str(receiver.get("name")), kind, entry


def _inline_webhook_urls(config: dict[str, Any]) -> None:
    """Alertmanager before 0.26 (amtool of that age) has no webhook ``url_file``: check with
    the URL the file holds instead (the mirror is temporary)."""
    for _, kind, entry in _receiver_configs(config):
        if kind == "webhook_configs" and "url_file" in entry:
            entry["url"] = Path(entry.pop("url_file")).read_text().strip()


def alertmanager_problems(
    model: Model, service_name: str, amtool: str, workdir: Path
) -> tuple[list[str], str]:
    """(problems, what was checked) of the Alertmanager service's config."""
    service = services(model)[service_name]
    mirror = mirror_service(model, service, workdir)
    config_path = _flag(
        service.get("command"), "--config.file", "/etc/alertmanager/alertmanager.yml"
    )
    mirrored = mirror.path(config_path)
    if not mirrored.is_file():
        return [f"{service_name}: its config {config_path} is not mounted"], ""
    original = yaml.safe_load(mirrored.read_text()) or {}
    problems = []
    for receiver, kind, entry in _receiver_configs(original):
        inline, from_file = SECRET_FIELDS[kind]
        if inline in entry:
            problems.append(f"{service_name}: receiver {receiver} has its secret inline ({inline})")
        path = entry.get(from_file)
        if path and not mirror.path(str(path)).is_file():
            problems.append(
                f"{service_name}: receiver {receiver} reads {path}, which is not mounted"
            )
    if problems:
        return problems, ""
    config = yaml.safe_load(mirror.rewrite(mirrored.read_text())) or {}
    if not tools.webhook_url_file_supported(amtool):
        _inline_webhook_urls(config)
    mirrored.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        tools.check_alertmanager_config(amtool, mirrored)
    except ConfigError as exc:
        problems.append(f"{service_name}: {exc!s}")
    receivers = len(original.get("receivers") or [])
    secrets = len(list(_secret_mounts(model, service)))
    return problems, f"{receivers} receivers, {secrets} secrets mounted"


# --- Grafana ---------------------------------------------------------------------------------


def _mounted_dir(service: Mapping[str, Any], container_dir: str) -> Path | None:
    """The host directory mounted at ``container_dir`` (or at a parent of it)."""
    wanted = PurePosixPath(container_dir)
    for volume in _binds(service):
        target = PurePosixPath(str(volume["target"]))
        if wanted == target or target in wanted.parents:
            host = Path(volume["source"]) / wanted.relative_to(target)
            return host if host.is_dir() else None
    return None


def _yaml_files(directory: Path | None) -> list[Path]:
    if directory is None:
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))


def datasource_uids_in(document: Any) -> Iterator[str]:
    """Every datasource uid a Grafana dashboard names (``"datasource": {"uid": ...}``),
    template variables (``$...``) and Grafana's built-in ones aside."""
    if isinstance(document, dict):
        source = document.get("datasource")
        if isinstance(source, dict) and isinstance(source.get("uid"), str):
            uid = source["uid"]
            if not uid.startswith("$") and uid not in GRAFANA_BUILTIN_UIDS:
                yield uid
        for value in document.values():
            yield from datasource_uids_in(value)
    elif isinstance(document, list):
        for item in document:
            yield from datasource_uids_in(item)


def _referenced_uids(value: Any) -> Iterator[str]:
    """Every ``datasourceUid`` in a datasource's settings (trace-to-logs, exemplars...)."""
    if isinstance(value, dict):
        if isinstance(value.get("datasourceUid"), str):
            yield value["datasourceUid"]
        for item in value.values():
            yield from _referenced_uids(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced_uids(item)


def grafana_problems(model: Model, service_name: str) -> tuple[list[str], str]:
    known = services(model)
    service = known[service_name]
    problems: list[str] = []
    datasources: list[dict[str, Any]] = []
    for path in _yaml_files(_mounted_dir(service, "/etc/grafana/provisioning/datasources")):
        datasources += list((yaml.safe_load(path.read_text()) or {}).get("datasources") or [])
    uids = [str(d.get("uid")) for d in datasources]
    if not datasources:
        problems.append(f"{service_name}: no datasource is provisioned")
    problems += [
        f"{service_name}: datasource uid {u} is provisioned twice"
        for u in sorted({u for u in uids if uids.count(u) > 1})
    ]
    for datasource in datasources:
        for uid in _referenced_uids(datasource.get("jsonData") or {}):
            if uid not in uids:
                problems.append(
                    f"{service_name}: datasource {datasource.get('uid')} links to unknown uid {uid}"
                )
        problems += _unknown_hosts(
            [_service_host(str(datasource.get("url") or ""))], known, service_name
        )
    dashboards = 0
    for path in _yaml_files(_mounted_dir(service, "/etc/grafana/provisioning/dashboards")):
        for provider in (yaml.safe_load(path.read_text()) or {}).get("providers") or []:
            container_dir = str((provider.get("options") or {}).get("path") or "")
            host_dir = _mounted_dir(service, container_dir) if container_dir else None
            if host_dir is None:
                problems.append(
                    f"{service_name}: dashboard provider {provider.get('name')} reads "
                    f"{container_dir or '(no path)'}, which is no mounted directory"
                )
                continue
            for dashboard in sorted(host_dir.glob("*.json")):
                dashboards += 1
                for uid in sorted(set(datasource_uids_in(json.loads(dashboard.read_text())))):
                    if uid not in uids:
                        problems.append(
                            f"{service_name}: dashboard {dashboard.name} queries datasource "
                            f"uid {uid}, which is not provisioned"
                        )
    return problems, f"{len(datasources)} datasources, {dashboards} dashboards"


# --- all of them -----------------------------------------------------------------------------


def _find_service(model: Model, image: str) -> str | None:
    """The service running ``image`` (``prom/prometheus``), whatever its tag."""
    for name, service in sorted(services(model).items()):
        if str(service.get("image") or "").split(":", 1)[0] == image:
            return name
    return None


def _tool_check(
    model: Model,
    title: str,
    image: str,
    tool: str,
    run: Callable[[Model, str, str, Path], tuple[list[str], str]],
) -> CheckResult:
    name = _find_service(model, image)
    if name is None:
        return CheckResult(title, (f"no service runs {image}",))
    program = tools.find(tool)
    if program is None:
        return CheckResult(title, skipped=f"{tool} not installed")
    with tempfile.TemporaryDirectory(prefix=f"harborhook-{title}-") as directory:
        problems, detail = run(model, name, program, Path(directory))
    return CheckResult(title, tuple(problems), detail=detail)


def check_model(model: Model, roots: Sequence[Path]) -> list[CheckResult]:
    """Every check of the module docstring on a loaded model."""
    count = len(services(model))
    results = [
        CheckResult("images", tuple(image_problems(model)), detail=f"{count} services pinned"),
        CheckResult("ports", tuple(port_problems(model)), detail="published on 127.0.0.1"),
        CheckResult("mounts", tuple(mount_problems(model, roots)), detail="every source exists"),
        CheckResult("start order", tuple(start_order_problems(model)), detail="by healthchecks"),
        _tool_check(model, "prometheus", "prom/prometheus", "promtool", prometheus_problems),
        _tool_check(model, "alertmanager", "prom/alertmanager", "amtool", alertmanager_problems),
    ]
    grafana = _find_service(model, "grafana/grafana")
    if grafana is None:
        results.append(CheckResult("grafana", ("no service runs grafana/grafana",)))
    else:
        problems, detail = grafana_problems(model, grafana)
        results.append(CheckResult("grafana", tuple(problems), detail=detail))
    return results


def check_compose(
    files: Sequence[Path], project_dir: Path, roots: Sequence[Path]
) -> list[CheckResult]:
    """Load ``files`` with the compose loader (its verdict is the first result), then run
    every other check on the model."""
    try:
        model = load_compose_model(files, project_dir)
    except ConfigError as exc:
        return [CheckResult("compose file", (str(exc),))]
    loaded = CheckResult("compose file", detail=f"valid ({COMPOSE_CHECK}, --strict)")
    return [loaded, *check_model(model, roots)]
