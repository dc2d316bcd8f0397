"""The only place that reads ``HARBORHOOK_*`` environment variables and the YAML config.

Precedence (highest first): environment variables, the YAML file named by
``HARBORHOOK_CONFIG`` (or ``<state_dir>/harborhook.yaml`` when it exists), built-in defaults.
The defaults are the embedded stack: SQLite in the state dir and the ``db`` transport.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from harborctl.alerting_spec import AlertingSpec, Duration, SloSpec
from harborctl.domain.address_policy import IPNetwork, parse_cidrs
from harborctl.domain.lifecycle import (
    DEFAULT_FAILING_PERIOD,
    DEFAULT_SECRET_OVERLAP,
    MAX_SECRET_OVERLAP,
)
from harborctl.errors import ConfigError
from harborctl.grafana_spec import GrafanaSpec
from harborctl.layout import StateLayout

ENV_PREFIX = "HARBORHOOK_"
# nsqd's protocol.IsValidTopicName / IsValidChannelName: 1-64 of [.a-zA-Z0-9_-], with an
# optional "#ephemeral" suffix (github.com/nsqio/nsq internal/protocol/names.go)
NSQ_NAME_PATTERN = re.compile(r"^[.a-zA-Z0-9_-]+(#ephemeral)?$")
NSQ_NAME_MAX = 64
# time an attempt needs around its HTTP exchange (claim, signing, recording the result:
# milliseconds normally; two seconds cover a slow commit)
LEASE_MARGIN_SECONDS = 2.0


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "harborhook"


class _FileSource(PydanticBaseSettingsSource):
    """A whole file read as one mapping of settings (``__call__``), not field by field."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False


class _YamlSource(_FileSource):
    """Reads the optional YAML config file; unknown keys are rejected by the model."""

    def __call__(self) -> dict[str, Any]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = yaml.safe_load(self.path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(str(self.path), f"not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(str(self.path), "the top level must be a mapping")
        return data


class _StackSource(_FileSource):
    """What a running native stack decided (``harborctl up`` writes it, ``down`` removes it).

    Ranks below the environment and above the YAML file, so CLI commands talk to the stack
    that is actually running (its transport, NSQ addresses, ports).
    """

    def __call__(self) -> dict[str, Any]:
        if self.path is None:
            return {}
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    # where everything local lives: SQLite file, admin key, logs, pid files
    state_dir: Path = Field(default_factory=default_state_dir)
    database_url: str | None = None
    transport: Literal["db", "nsq"] = "db"

    # NSQ: publishing goes to nsqd over TCP, consumers discover nsqd through nsqlookupd
    nsqd_tcp_addresses: list[str] = ["127.0.0.1:4150"]
    nsqlookupd_http_addresses: list[str] = ["127.0.0.1:4161"]
    deliveries_topic: str = "harborhook.deliveries"
    dlq_topic: str = "harborhook.dlq"
    worker_channel: str = "workers"
    nsq_lookupd_poll_interval: int = Field(default=15, ge=1)  # seconds; pynsq wants an int

    # ingest HTTP API
    ingest_host: str = "127.0.0.1"
    ingest_port: int = Field(default=8080, ge=0, le=65535)
    admin_key: str | None = None
    max_payload_bytes: int = Field(default=1024 * 1024, gt=0)
    # admission (ingest.admission): at most this many publishes in progress at once, and
    # none waits longer than the deadline from its arrival for its turn to be written; past
    # either it is answered 503 with Retry-After and nothing is stored
    publish_max_in_flight: int = Field(default=64, ge=1, le=100_000)
    publish_deadline_seconds: float = Field(default=5.0, gt=0)
    # arrays/objects nested in a publish body, the envelope included (domain.strict_json)
    max_payload_depth: int = Field(default=64, ge=2, le=512)

    # worker
    worker_max_in_flight: int = Field(default=50, ge=1, le=10_000)
    worker_metrics_port: int = Field(default=9101, ge=0, le=65535)
    worker_poll_interval: float = Field(default=0.2, gt=0)
    worker_shutdown_grace: float = Field(default=30.0, ge=0)
    delivery_lease_seconds: float = Field(default=30.0, gt=0)
    connect_timeout: float = Field(default=2.0, gt=0)
    # CIDRs the outbound request guard lets deliveries reach although they are loopback,
    # private, link-local, ... (domain.address_policy); `harborctl up` opens loopback
    outbound_allow_cidrs: list[str] = []
    total_timeout: float = Field(default=5.0, gt=0)

    # retry policy defaults (per endpoint max_attempts overrides)
    max_attempts: int = Field(default=8, ge=1, le=100)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_factor: float = Field(default=4.0, ge=1)
    retry_cap_seconds: float = Field(default=600.0, gt=0)

    # per-endpoint protection
    rate_limit_rps: float = Field(default=10.0, gt=0)
    rate_limit_burst: int = Field(default=20, ge=1)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0)

    # endpoint lifecycle (domain.lifecycle): an endpoint with no successful attempt for this
    # long is disabled (reason `failing`; 0: never); the overlap during which a rotated-out
    # secret still signs beside the new one (`endpoints rotate-secret --overlap` overrides)
    disable_failing_endpoint_after_seconds: float = Field(
        default=DEFAULT_FAILING_PERIOD.total_seconds(), ge=0
    )
    secret_overlap_seconds: float = Field(
        default=DEFAULT_SECRET_OVERLAP.total_seconds(), ge=0, le=MAX_SECRET_OVERLAP.total_seconds()
    )

    # reconciler: re-publish deliveries stuck in `queued` (nsq transport)
    reconcile_after_seconds: float = Field(default=60.0, gt=0)
    reconcile_interval_seconds: float = Field(default=10.0, gt=0)

    # the CLI's view of the API
    api_url: str = "http://127.0.0.1:8080"
    api_key: str | None = None

    # --- metrics, NSQ backlog monitor, Prometheus ---
    monitor_host: str = "127.0.0.1"
    monitor_port: int = Field(default=9102, ge=0, le=65535)
    monitor_poll_interval: float = Field(default=5.0, gt=0)  # seconds between backlog polls
    prometheus_port: int = Field(default=9090, ge=0, le=65535)
    prometheus_scrape_interval: Duration = "5s"
    alertmanager_port: int = Field(default=9093, ge=0, le=65535)
    prometheus_url: str = "http://127.0.0.1:9090"
    alertmanager_url: str = "http://127.0.0.1:9093"

    # --- SLOs and alerting ---
    slo: SloSpec = SloSpec()  # YAML section `slo:` (harborctl.alerting_spec)
    alerting: AlertingSpec = AlertingSpec()  # YAML section `alerting:`
    grafana: GrafanaSpec = GrafanaSpec()  # YAML section `grafana:` (harborctl.grafana_spec)

    # --- tracing and logs ---
    otlp_endpoint: str | None = None  # OTLP/HTTP base, e.g. http://tempo:4318; None: span file
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)
    trace_export_delay_ms: int = Field(default=1000, ge=1)  # batch export interval
    tempo_url: str | None = None  # e.g. http://127.0.0.1:3200 (traces read from Tempo)
    jaeger_url: str | None = None  # Jaeger's query API, e.g. http://127.0.0.1:16686
    # the native stack's Jaeger (upstream's default ports; harborctl.stack.jaeger)
    jaeger_otlp_port: int = Field(default=4318, ge=0, le=65535)  # OTLP/HTTP receiver
    jaeger_query_port: int = Field(default=16686, ge=0, le=65535)  # query API and UI
    jaeger_grpc_port: int = Field(default=16685, ge=0, le=65535)  # query gRPC API
    jaeger_health_port: int = Field(default=13133, ge=0, le=65535)  # GET /status
    loki_url: str | None = None  # e.g. http://127.0.0.1:3100; None: read the log files
    log_dir: Path | None = None  # default <state_dir>/logs
    log_to_file: bool = True  # JSON lines files under log_dir (off in containers: stdout only)
    log_to_stdout: bool = True  # the native stack turns it off: its supervisor copies stdout
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("nsqd_tcp_addresses", "nsqlookupd_http_addresses")
    @classmethod
    def _host_port(cls, value: list[str]) -> list[str]:
        for item in value:
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
                raise ValueError(f"{item!r} is not host:port (port 1-65535)")
        return value

    @field_validator("outbound_allow_cidrs")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        parse_cidrs(value)  # ValueError names the bad entry
        return value

    @property
    def outbound_allow(self) -> tuple[IPNetwork, ...]:
        """``outbound_allow_cidrs`` as networks."""
        return parse_cidrs(self.outbound_allow_cidrs)

    @field_validator("deliveries_topic", "dlq_topic", "worker_channel")
    @classmethod
    def _nsq_name(cls, value: str) -> str:
        if not 1 <= len(value) <= NSQ_NAME_MAX or not NSQ_NAME_PATTERN.match(value):
            raise ValueError(
                f"{value!r} is not an NSQ topic/channel name: 1 to {NSQ_NAME_MAX} characters "
                "of a-z A-Z 0-9 . _ - (nsqd refuses anything else)"
            )
        return value

    @field_validator(
        "api_url",
        "prometheus_url",
        "alertmanager_url",
        "otlp_endpoint",
        "tempo_url",
        "jaeger_url",
        "loki_url",
    )
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http:// or https:// URL with a host")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number in 0-65535
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}") from exc
        return value.rstrip("/")

    @model_validator(mode="after")
    def _timeouts_fit_the_lease(self) -> Settings:
        """An attempt must end before its lease does, or a second worker may claim the
        delivery and POST it again while the first is still waiting for an answer."""
        if self.connect_timeout > self.total_timeout:
            raise ConfigError(
                _setting_name("connect_timeout"),
                f"connect_timeout ({self.connect_timeout} s) is longer than total_timeout "
                f"({self.total_timeout} s), which includes it"
            )
        needed = self.total_timeout + LEASE_MARGIN_SECONDS
        if self.delivery_lease_seconds < needed:
            raise ConfigError(
                _setting_name("delivery_lease_seconds"),
                f"delivery_lease_seconds ({self.delivery_lease_seconds} s) must be at least "
                f"total_timeout + {LEASE_MARGIN_SECONDS:g} s ({needed:g} s): a lease that ends "
                "during an attempt lets another worker POST the same delivery again"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        given = getattr(init_settings, "init_kwargs", {}).get("state_dir")
        state_dir = Path(given) if given else env_state_dir()
        return (
            init_settings,
            env_settings,
            _StackSource(settings_cls, StateLayout.at(state_dir).stack_settings_file),
            _YamlSource(settings_cls, config_file_path(state_dir)),
        )

    @property
    def layout(self) -> StateLayout:
        """Every path under the state dir (``harborctl.layout``)."""
        return StateLayout.at(self.state_dir, self.log_dir)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.layout.sqlite_file}"


def ensure_admin_key(settings: Settings) -> str:
    """The admin key: ``admin_key`` when set, else the key file, generated once (0600).

    Writes ``<state_dir>/admin.key`` the first time it is called without a configured key;
    raises ConfigError when the state dir cannot be written.
    """
    if settings.admin_key:
        return settings.admin_key
    path = settings.layout.admin_key_file
    if path.exists():
        return path.read_text().strip()
    key = "hh_admin_" + secrets.token_urlsafe(24)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process generated it first
        return path.read_text().strip()
    except OSError as exc:
        raise ConfigError("state_dir", f"cannot write the admin key file {path}: {exc}") from exc
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


def env_state_dir() -> Path:
    """The state dir before the settings exist: HARBORHOOK_STATE_DIR, else the default."""
    state = os.environ.get(ENV_PREFIX + "STATE_DIR")
    return Path(state) if state else default_state_dir()


def config_file_path(state_dir: Path | None = None) -> Path | None:
    """HARBORHOOK_CONFIG, else ``harborhook.yaml`` in the state dir when it exists."""
    explicit = os.environ.get(ENV_PREFIX + "CONFIG")
    if explicit:
        return Path(explicit)
    candidate = StateLayout.at(state_dir or env_state_dir()).config_file
    return candidate if candidate.exists() else None


# settings whose values are secrets: shown masked by `harborctl config`
SECRET_SETTINGS = frozenset({"admin_key", "api_key"})


def setting_sources(settings: Settings) -> dict[str, str]:
    """Where each setting's value comes from, in precedence order: ``environment``
    (HARBORHOOK_*), ``stack`` (what a running `harborctl up` decided), ``config file``,
    ``default``. Reads the same files the settings were built from."""
    stack = _StackSource(Settings, settings.layout.stack_settings_file)()
    path = config_file_path(settings.state_dir)
    from_file = _YamlSource(Settings, path)() if path is not None else {}
    sources = {}
    for name in Settings.model_fields:
        if ENV_PREFIX + name.upper() in os.environ:
            sources[name] = "environment"
        elif name in stack:
            sources[name] = "stack"
        elif name in from_file:
            sources[name] = f"config file {path}"
        else:
            sources[name] = "default"
    return sources


def _setting_name(name: str) -> str:
    """``total_timeout (HARBORHOOK_TOTAL_TIMEOUT)``: how errors name a setting."""
    return f"{name} ({ENV_PREFIX}{name.split('.')[0].upper()})"


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning pydantic's errors into one ConfigError naming the setting.

    Cross-field rules (timeouts against the lease) raise ConfigError themselves.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"]) or "config"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(_setting_name(name), message) from exc
    except SettingsError as exc:  # a list/mapping variable that is not JSON
        found = re.search(r'field "([a-z_]+)"', str(exc))
        name = found.group(1) if found else "config"
        raise ConfigError(
            _setting_name(name), "not valid JSON (lists are written like [\"a\", \"b\"])"
        ) from exc
