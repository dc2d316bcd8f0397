"""Every path HarborHook keeps under its state dir, named once.

::

    <state_dir>/                      default ~/.local/state/harborhook (HARBORHOOK_STATE_DIR)
      harborhook.db                   SQLite database of the embedded default
      harborhook.yaml                 optional config file (HARBORHOOK_CONFIG overrides)
      admin.key                       the generated admin API key, 0600
      compose/                        the compose stack's overlay (`harborctl compose overlay`)
      jaeger/jaeger.yaml              Jaeger's config in the native stack
      run/                            supervisord.sock, .pid, .conf; stack.json (the plan
                                      `up` started); settings.json (what it decided);
                                      up.lock (one `up` at a time)
      logs/                           <service>.jsonl JSON log lines (log_dir overrides),
                                      <component>.log process output, supervisord.log/.out
      nsqd/                           nsqd's data dir in the native stack (nsqd-<n>/ for node n
                                      of several: `up --nsqd-nodes`)
      postgres/                       the stack's PostgreSQL cluster (`up --database postgres`):
                                      data/; a link to /var/tmp/harborhook-postgres-<id> when
                                      the postgres OS user cannot reach the state dir
      traces/spans.jsonl              finished spans when no OTLP endpoint is set
      alerting/receivers.yaml         receivers set by `alerts set-*` (no secrets)
      alerting/secrets/<name>         one secret per receiver, 0600, dir 0700
      alertmanager/alertmanager.yml   generated, 0600; alertmanager/data/
      prometheus/prometheus.yml       generated; prometheus/rules/*.yml; prometheus/data/
      grafana/dashboards/*.json       generated Grafana dashboards

Pure: naming a path creates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class StateLayout:
    """The paths under one state dir. ``root`` is absolute; ``json_logs_override`` is the
    ``log_dir`` setting when one is given."""

    root: Path
    json_logs_override: Path | None = None

    @classmethod
    def at(cls, state_dir: Path, log_dir: Path | None = None) -> StateLayout:
        """The layout of ``state_dir`` (``~`` expanded, made absolute)."""
        return cls(state_dir.expanduser().absolute(), log_dir)

    # the database, config and keys ----------------------------------------------------

    @property
    def sqlite_file(self) -> Path:
        return self.root / "harborhook.db"

    @property
    def config_file(self) -> Path:
        return self.root / "harborhook.yaml"

    @property
    def admin_key_file(self) -> Path:
        return self.root / "admin.key"

    # the native stack -----------------------------------------------------------------

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def supervisor_socket(self) -> Path:
        return self.run_dir / "supervisord.sock"

    @property
    def supervisor_pidfile(self) -> Path:
        return self.run_dir / "supervisord.pid"

    @property
    def supervisor_config(self) -> Path:
        return self.run_dir / "supervisord.conf"

    @property
    def stack_file(self) -> Path:
        """The plan ``up`` started, so ``status``/``down`` act on exactly that."""
        return self.run_dir / "stack.json"

    @property
    def stack_settings_file(self) -> Path:
        """What the running stack decided (transport, addresses), read by every command."""
        return self.run_dir / "settings.json"

    @property
    def up_lock_file(self) -> Path:
        """Held (flock) by ``harborctl up`` while it starts the stack."""
        return self.run_dir / "up.lock"

    @property
    def compose_dir(self) -> Path:
        """The compose stack's overlay: your config and receivers (``compose_overlay``)."""
        return self.root / "compose"

    @property
    def jaeger_config(self) -> Path:
        """Jaeger's config when the native stack runs it (``harborctl.stack.jaeger``)."""
        return self.root / "jaeger" / "jaeger.yaml"

    @property
    def process_logs_dir(self) -> Path:
        """Output of the supervised processes and of supervisord itself."""
        return self.root / "logs"

    def process_log(self, name: str) -> Path:
        return self.process_logs_dir / f"{name}.log"

    @property
    def supervisor_log(self) -> Path:
        return self.process_logs_dir / "supervisord.log"

    @property
    def supervisor_output(self) -> Path:
        """stdout/stderr of the supervisord launcher (config errors land here)."""
        return self.process_logs_dir / "supervisord.out"

    @property
    def nsqd_data_dir(self) -> Path:
        return self.root / "nsqd"

    def nsqd_node_data_dir(self, node: int, nodes: int) -> Path:
        """Data dir of nsqd node ``node`` (1-based) of ``nodes``; ``nsqd/`` for a single one."""
        return self.nsqd_data_dir if nodes == 1 else self.root / f"nsqd-{node}"

    @property
    def postgres_dir(self) -> Path:
        """The stack's PostgreSQL cluster, or a link to it (``harborctl.stack.postgres``)."""
        return self.root / "postgres"

    # telemetry --------------------------------------------------------------------------

    @property
    def json_logs_dir(self) -> Path:
        """Where services write their JSON log lines (the ``log_dir`` setting overrides)."""
        return self.json_logs_override or self.root / "logs"

    def json_log(self, service: str) -> Path:
        return self.json_logs_dir / f"{service}.jsonl"

    @property
    def spans_file(self) -> Path:
        return self.root / "traces" / "spans.jsonl"

    # alerting and Prometheus ------------------------------------------------------------

    @property
    def alerting_dir(self) -> Path:
        return self.root / "alerting"

    @property
    def receivers_file(self) -> Path:
        return self.alerting_dir / "receivers.yaml"

    @property
    def secrets_dir(self) -> Path:
        return self.alerting_dir / "secrets"

    def secret_file(self, name: str) -> Path:
        return self.secrets_dir / name

    @property
    def alertmanager_dir(self) -> Path:
        return self.root / "alertmanager"

    @property
    def alertmanager_config(self) -> Path:
        return self.alertmanager_dir / "alertmanager.yml"

    @property
    def alertmanager_data_dir(self) -> Path:
        return self.alertmanager_dir / "data"

    @property
    def prometheus_dir(self) -> Path:
        return self.root / "prometheus"

    @property
    def prometheus_config(self) -> Path:
        return self.prometheus_dir / "prometheus.yml"

    @property
    def rules_dir(self) -> Path:
        return self.prometheus_dir / "rules"

    @property
    def prometheus_data_dir(self) -> Path:
        return self.prometheus_dir / "data"

    # dashboards -------------------------------------------------------------------------

    @property
    def dashboards_dir(self) -> Path:
        """The generated Grafana dashboards (``harborctl dashboards generate``)."""
        return self.root / "grafana" / "dashboards"
