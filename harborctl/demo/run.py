"""One demo run, phase by phase (``DemoRun(options, observer, sources).run()``).

::

    stack      brought up when it is not running (and down again at the end unless --keep);
               Prometheus and Alertmanager are required
    setup      the webhook receiver and the alert recorder start; Alertmanager gets the demo
               receiver (`alerts set-webhook`'s logic, name ``harborhook-demo``) and a config
               sending only the driven alert, to it and the --notify receivers; the rules
               switch to the demo profile; a demo tenant gets the scenario's endpoints
    burn       mixed traffic for --duration; the dead endpoint burns the error budget until
               the fast burn-rate alert fires and the notifications are out
    evidence   the metric queries; one flaky delivery's trace and log lines
    heal       the dead endpoint's receiver path switches to ok, its DLQ is replayed, the
               replays land; traffic goes on until the alert resolves and says so
    restore    (always, Ctrl-C included) the tenant's endpoints deleted and its series
               removed from Prometheus once nothing is pending; the normal rules back;
               the demo's alerts resolved in Alertmanager; the demo receiver removed and
               Alertmanager's files byte for byte as before; receivers stopped; the stack
               down if the demo started it

The check table comes from ``harborctl.demo.checks``. Timing: every wait polls with a
deadline; the whole run takes about two minutes on two cores (``timings`` in the result).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx

from harborctl.alerting import generate as gen
from harborctl.alerting.client import Alert, AlertmanagerClient
from harborctl.alerting.profiles import Profile, RuleWindows, rule_profile
from harborctl.alerting.receivers import Severity, WebhookReceiver
from harborctl.alerting.routing import integrations
from harborctl.alerting.sendtest import LogFollower
from harborctl.alerting.store import load_receivers
from harborctl.alerting.verdict import (
    Counters,
    NotifyEvent,
    ReceiverVerdict,
    increase,
    parse_counters,
    parse_log_line,
)
from harborctl.alerting_spec import duration_seconds
from harborctl.client import ApiClient, client_from_settings
from harborctl.dashboards.generate import RenderedDashboard, render_dashboards
from harborctl.dashboards.prometheus import PrometheusClient as DashboardPrometheus
from harborctl.dashboards.readings import Window, read_dashboard
from harborctl.demo import checks, scenario
from harborctl.demo.notifications import (
    first_firing,
    first_resolved,
    notifications,
    route_verdicts,
)
from harborctl.demo.receivers import RECORDER, WEBHOOKS, ReceiverPair
from harborctl.demo.restore import Changes, FileSnapshot, interrupts_deferred
from harborctl.demo.summary import Summary, first_success_latencies, summarize
from harborctl.demo.traffic import Publisher
from harborctl.domain.signing import generate_secret
from harborctl.errors import ConfigError, HarborHookError, NotFound, ServiceError, StackError
from harborctl.settings import Settings, ensure_admin_key, load_settings
from harborctl.stack.model import StackOptions, StackPlan
from harborctl.stack.native import NativeStack
from harborctl.stack.plan import plan_stack
from harborctl.stack.status import StackStatus
from harborctl.store import Store
from harborctl.telemetry.log_query import LogEntry, LogQuery
from harborctl.telemetry.log_tail import LogSource
from harborctl.telemetry.prometheus import PrometheusAdminClient
from harborctl.telemetry.trace_model import SpanView
from harborctl.telemetry.trace_tail import TraceSource

POLL = 0.5
VERDICT_MARGIN = 20.0  # seconds after the recorder got it for Alertmanager's other receivers
SETTLE_TIMEOUT = 30.0  # for the demo's deliveries to be final
EVIDENCE_TIMEOUT = 30.0  # for the chosen delivery, its spans and its log lines
INTERRUPTED_SETTLE = 15.0
DASHBOARD_MINUTES = 5  # the dashboards are read over the last few minutes, as Grafana would
DASHBOARD_POINTS = 100


@dataclass(frozen=True)
class DemoOptions:
    duration: float = scenario.DEFAULT_DURATION
    rate: float = scenario.DEFAULT_RATE
    notify: tuple[str, ...] = ()  # receiver names, or ("all",)
    keep: bool = False
    stack: StackOptions = field(default_factory=StackOptions)
    start_timeout: float = 90.0
    alert_timeout: float = 120.0  # longest wait for the alert to fire, and to resolve
    seed: int | None = None


class DemoObserver(Protocol):
    """How the run shows itself (the CLI's terminal, or nothing for --json)."""

    def step(self, text: str) -> None: ...  # a phase began
    def done(self, text: str) -> None: ...  # it ended well
    def note(self, text: str) -> None: ...
    def traffic(
        self, summary: Summary, elapsed: float, total: float | None, status: str
    ) -> None: ...
    def traffic_done(self) -> None: ...
    def evidence(self, spans: Sequence[SpanView], logs: Sequence[LogEntry]) -> None: ...


@dataclass(frozen=True)
class Sources:
    """Where traces and logs are read (Tempo, Jaeger or the span file; Loki or the files):
    the same as ``traces show`` and ``logs tail``."""

    traces: Callable[[], AbstractContextManager[TraceSource]]
    logs: Callable[[], AbstractContextManager[LogSource]]


@dataclass
class DemoResult:
    checked: dict[str, checks.Check] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    started_stack: bool = False
    kept_stack: bool = False
    transport: str | None = None
    tenant_id: str | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    notify: list[str] = field(default_factory=list)
    summary: Summary | None = None
    trace_id: str | None = None
    delivery_id: str | None = None
    fired_after: float | None = None
    resolved_after: float | None = None
    replayed: int = 0
    notifications: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interrupted: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            not self.interrupted and self.error is None and all(c.ok for c in self.ordered_checks())
        )

    def ordered_checks(self) -> list[checks.Check]:
        why = "interrupted" if self.interrupted else (self.error or "an earlier step failed")
        return [self.checked.get(name) or checks.not_run(name, why) for name in checks.CHECK_NAMES]

    def to_dict(self) -> dict[str, Any]:
        ordered = self.ordered_checks()
        return {
            "ok": self.ok,
            "failed": [c.name for c in ordered if not c.ok],
            "checks": [c.to_dict() for c in ordered],
            "duration_seconds": round(self.timings.get("total", 0.0), 1),
            "timings": {k: round(v, 1) for k, v in self.timings.items()},
            "stack": {
                "started": self.started_stack,
                "kept": self.kept_stack,
                "transport": self.transport,
            },
            "tenant_id": self.tenant_id,
            "endpoints": self.endpoints,
            "notify": self.notify,
            "summary": self.summary.to_dict() if self.summary else None,
            "trace": {"trace_id": self.trace_id, "delivery_id": self.delivery_id},
            "alert": {
                "name": scenario.DRIVEN_ALERT,
                "fired_after_seconds": _round(self.fired_after),
                "resolved_after_seconds": _round(self.resolved_after),
                "notifications": self.notifications,
            },
            "replayed": self.replayed,
            "interrupted": self.interrupted,
            "error": self.error,
            "notes": self.notes,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _deadline(seconds: float) -> float:
    return time.monotonic() + seconds


class DemoRun:
    """One run of the demo; ``run()`` answers a ``DemoResult`` whatever happens, after
    putting everything back (a KeyboardInterrupt is noted and re-raised afterwards)."""

    def __init__(self, options: DemoOptions, observer: DemoObserver, sources: Sources) -> None:
        self.options = options
        self.observer = observer
        self.sources = sources
        self.result = DemoResult()
        self.changes = Changes()
        self.settings: Settings = load_settings()
        self.receivers = ReceiverPair(generate_secret())
        self.urls: dict[str, str] = {}
        self.snapshot = FileSnapshot()
        self.api: ApiClient | None = None
        self.store: Store | None = None
        self.publisher: Publisher | None = None
        self.notify: list[str] = []
        self.replayed: list[tuple[str, str]] = []
        self.traffic_started = 0.0
        self._interrupt_notes = 0
        self.failed_before: dict[str, float] | None = None
        self.checked = False
        self.demo_rules_since: float | None = None
        self.plan: StackPlan | None = None
        self.running: StackStatus | None = None

    # ----------------------------------------------------------------------------- the run

    def run(self) -> DemoResult:
        began = time.monotonic()
        interrupted: KeyboardInterrupt | None = None
        try:
            self._timed("stack", self._stack)
            self._timed("setup", self._setup)
            self._timed("burn", self._burn)
            self._timed("evidence", self._evidence)
            self._timed("heal", self._heal)
        except KeyboardInterrupt as exc:
            interrupted = exc
            self.result.interrupted = True
            self.observer.note("interrupted: putting back what the demo changed")
        except HarborHookError as exc:
            self.result.error = str(exc)
            self.observer.note(f"the demo stopped: {exc}")
        finally:
            self._stop_traffic()
            with interrupts_deferred(self._still_restoring):
                self._timed("restore", self._restore)
            self.result.timings["total"] = time.monotonic() - began
        if interrupted is not None:
            raise interrupted
        return self.result

    def _timed(self, name: str, phase: Callable[[], None]) -> None:
        started = time.monotonic()
        try:
            phase()
        finally:
            self.result.timings[name] = time.monotonic() - started

    def _still_restoring(self) -> None:
        if self._interrupt_notes == 0:
            self.observer.note("still putting things back; this takes a few seconds")
        self._interrupt_notes += 1

    # ----------------------------------------------------------------------------- stack

    def preflight(self) -> None:
        """What must hold before anything changes, else the error (one line for the CLI):
        every --notify name a receiver; Prometheus and Alertmanager installed; a running
        stack healthy and running both. ``run`` calls it when the caller did not."""
        settings = self.settings
        self.notify = self._notify_names()
        self.plan = plan_stack(settings, self.options.stack)
        names = {component.name for component in self.plan.components}
        missing = [name for name in ("prometheus", "alertmanager") if name not in names]
        if missing:
            raise ConfigError(
                "demo",
                f"needs {' and '.join(missing)} (Debian packages prometheus, "
                "prometheus-alertmanager; scripts/bootstrap installs them)",
            )
        self.running = NativeStack(self.plan.layout).status()
        if self.running is not None:
            if not self.running.healthy:
                raise StackError(
                    "the running stack is not healthy: see `harborctl status`, or restart it "
                    "with `harborctl down && harborctl up`"
                )
            if not {"prometheus", "alertmanager"} <= {c.name for c in self.running.components}:
                raise StackError(
                    "the running stack has no Prometheus or Alertmanager (started before they "
                    "were installed?): restart it with `harborctl down && harborctl up`"
                )
        self.checked = True

    def _stack(self) -> None:
        if not self.checked:
            self.preflight()
        assert self.plan is not None
        native = NativeStack(self.plan.layout)
        current = self.running
        if current is None:
            self.observer.step("starting the stack")
            ensure_admin_key(self.settings)
            current = native.up(self.plan, timeout=self.options.start_timeout).status
            self.result.started_stack = True
            if self.options.keep:
                self.result.kept_stack = True
            else:
                self.changes.add("stack", lambda: self._stack_down(native))
            self.observer.done(
                f"stack up ({current.transport}) in the state dir {current.state_dir}"
            )
        else:
            self.observer.done(f"stack already running ({current.transport}): using it")
        self.result.transport = current.transport
        self.settings = load_settings()  # what the stack decided: its URLs and transport

    def _stack_down(self, native: NativeStack) -> None:
        self.observer.step("stopping the stack the demo started")
        native.down()

    def _notify_names(self) -> list[str]:
        configured = {r.name: r for r in load_receivers(self.settings.layout)}
        configured.pop(scenario.DEMO_RECEIVER, None)
        names = list(self.options.notify)
        if names == ["all"]:
            names = list(configured)
            if not names:
                self.note("--notify all: no receivers configured (`alerts set-*`)")
        for name in names:
            if name not in configured:
                known = ", ".join(configured) or "none configured; add one with `alerts set-*`"
                raise ConfigError("--notify", f"no receiver named {name!r} (receivers: {known})")
            if not configured[name].severity.accepts("page"):
                self.note(
                    f"{name} takes only {configured[name].severity.value} alerts: a real "
                    f"{scenario.DRIVEN_ALERT} (a page) would not reach it; the demo sends it "
                    "there anyway"
                )
        self.result.notify = names
        return names

    # ----------------------------------------------------------------------------- setup

    def _setup(self) -> None:
        settings = self.settings
        layout = settings.layout
        self.urls = self.receivers.start()
        self.changes.add("receivers", self.receivers.stop)
        self._leftover_demo_receiver()
        self.failed_before = self._failed_notifications()

        self.observer.step("switching alerting to the demo profile")
        rule_files = [
            layout.rules_dir / name for name in ("harborhook-slo.yml", "harborhook-operations.yml")
        ]
        am_files = [
            layout.alertmanager_config,
            layout.receivers_file,
            layout.secret_file(scenario.DEMO_RECEIVER),
        ]
        self.snapshot = FileSnapshot.take(
            [*rule_files, *am_files], dirs=[layout.alerting_dir, layout.secrets_dir]
        )
        created_dirs = [layout.secrets_dir, layout.alerting_dir]
        self.changes.add(
            "alertmanager", lambda: self._restore_alertmanager([*am_files, *created_dirs])
        )
        gen.set_receiver(
            settings,
            WebhookReceiver(name=scenario.DEMO_RECEIVER, severity=Severity.all),
            self.urls[RECORDER] + scenario.RECORDER_PATH,
        )
        gen.notify_only(
            settings,
            [scenario.DEMO_RECEIVER, *self.notify],
            [f'alertname="{scenario.DRIVEN_ALERT}"', scenario.DEMO_PROFILE_MATCHER],
            Profile.demo,
        )
        self.changes.add("rules", lambda: self._restore_rules(rule_files))
        self.demo_rules_since = time.time()
        gen.write_rule_files(settings, Profile.demo)
        gen.reload_prometheus(settings.prometheus_url)
        windows = rule_profile(Profile.demo, settings.alerting).windows.burn_windows[0]
        self.observer.done(
            f"demo profile: {scenario.DRIVEN_ALERT} fires over {windows.long} and "
            f"{windows.short}; Alertmanager sends it to "
            + ", ".join(["the demo's recorder", *self.notify])
        )

        self.observer.step("creating the demo tenant and its endpoints")
        admin = client_from_settings(settings)
        with admin:
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            tenant = admin.create_tenant(f"harborhook-demo-{stamp}")
        tenant_id = str(tenant["tenant_id"])
        self.result.tenant_id = tenant_id
        self.api = ApiClient(settings.api_url, str(tenant["api_key"]), key_source="the demo tenant")
        self.store = Store.open(settings.resolved_database_url)
        self.changes.add("tenant", self._retire_tenant)
        for demo in scenario.ENDPOINTS:
            made = self.api.create_endpoint(
                tenant_id,
                demo.url(self.urls[WEBHOOKS]),
                secret=self.receivers.secret,
                description=f"demo: {demo.what}",
                max_attempts=demo.max_attempts,
                breaker_failure_threshold=demo.breaker_failure_threshold,
            )
            endpoint_id = str(made["endpoint"]["endpoint_id"])
            self.result.endpoints[demo.key] = endpoint_id
            for event_type in demo.event_types:
                self.api.create_subscription(tenant_id, endpoint_id, event_type)
        self.observer.done(
            f"tenant {tenant_id}: " + ", ".join(f"{e.key} ({e.what})" for e in scenario.ENDPOINTS)
        )

    def _leftover_demo_receiver(self) -> None:
        """A demo killed before it could clean up left its receiver: remove it first."""
        names = [r.name for r in load_receivers(self.settings.layout)]
        if scenario.DEMO_RECEIVER in names:
            self.note(f"removing the receiver {scenario.DEMO_RECEIVER} an earlier demo left behind")
            gen.remove_receiver(self.settings, scenario.DEMO_RECEIVER)

    # ----------------------------------------------------------------------------- burn

    def _summary(self) -> Summary:
        assert self.store is not None and self.result.tenant_id is not None
        publisher = self.publisher
        published = publisher.snapshot() if publisher else {}
        records = self.receivers.records(WEBHOOKS)
        paths = [e.path for e in scenario.ENDPOINTS if e.key != scenario.DEAD]
        latencies = first_success_latencies(records, {k: v.at for k, v in published.items()}, paths)
        summary = summarize(
            tenant_id=self.result.tenant_id,
            published=len(published),
            deliveries=sum(e.fanout for e in published.values()) + len(self.replayed),
            counts=self.store.events.count_by_status(),
            latencies=list(latencies.values()),
            replayed_dead=len(self.replayed),
            publish_errors=publisher.errors if publisher else 0,
        )
        self.result.summary = summary
        return summary

    def _show(self, since: float, total: float | None, status: str) -> None:
        """The live summary; ``total``: the phase's length when known (seconds)."""
        self.observer.traffic(self._summary(), time.monotonic() - since, total, status)

    def _recorder_notifications(self) -> list[Any]:
        return notifications(self.receivers.records(RECORDER))

    def _burn(self) -> None:
        assert self.api is not None and self.result.tenant_id is not None
        self.observer.step(
            f"publishing for {self.options.duration:g}s at {self.options.rate:g} events/s"
        )
        watch = _NotifyWatch(self.settings, self.notify, self.receivers)
        self.publisher = Publisher(
            self.api, self.result.tenant_id, self.options.rate, self.options.seed
        )
        self.traffic_started = time.monotonic()
        self.publisher.start()
        duration = self.options.duration
        fired = None
        end = self.traffic_started + duration
        give_up = end + self.options.alert_timeout
        while True:
            now = time.monotonic()
            fired = fired or first_firing(self._recorder_notifications(), scenario.DRIVEN_ALERT)
            if fired and self.result.fired_after is None:
                self.result.fired_after = now - self.traffic_started
            if now >= end and fired:
                break
            if now >= give_up:
                break
            status = "burning the error budget"
            if fired:
                status = f"{scenario.DRIVEN_ALERT} fired after {self.result.fired_after:.0f}s"
            elif now >= end:
                status = f"waiting for {scenario.DRIVEN_ALERT}"
            if now < end:
                self._show(self.traffic_started, duration, status)
            else:
                self._show(end, None, status)
            time.sleep(POLL)
        self._show(self.traffic_started, duration, "fired" if fired else "did not fire")
        self.observer.traffic_done()
        verdicts = watch.verdicts(final=fired is None) if self.notify else []
        if fired:
            verdicts = watch.wait(VERDICT_MARGIN)
        self._note_notification("firing", fired, verdicts)
        self.result.checked[checks.FIRED] = checks.check_alert(
            checks.FIRED,
            self.result.fired_after,
            verdicts,
            f"{scenario.DRIVEN_ALERT} fired",
        )
        if fired:
            self.observer.done(
                f"{scenario.DRIVEN_ALERT} fired {self.result.fired_after:.0f}s into the "
                "traffic and reached " + ", ".join(["the recorder", *self.notify])
            )

    def _note_notification(
        self, status: str, found: Any, verdicts: Sequence[ReceiverVerdict]
    ) -> None:
        if found is not None:
            self.result.notifications.append(
                {
                    "status": status,
                    "receiver": found.receiver,
                    "received_at": found.received_at.isoformat(),
                    "alerts": [
                        {"status": a.status, "labels": dict(a.labels)}
                        for a in found.about(scenario.DRIVEN_ALERT)
                    ],
                }
            )
        for verdict in verdicts:
            self.result.notifications.append({"status": status, **verdict.to_dict()})

    # ----------------------------------------------------------------------------- evidence

    def _evidence(self) -> None:
        self.observer.step("checking the metrics, one delivery's trace and its log lines")
        self.result.checked[checks.METRICS] = self._check_metrics()
        try:
            self._trace_and_logs()
        except HarborHookError as exc:
            self.result.checked.setdefault(
                checks.TRACES, checks.Check(checks.TRACES, False, str(exc))
            )
            self.result.checked.setdefault(checks.LOGS, checks.Check(checks.LOGS, False, str(exc)))

    def _check_metrics(self) -> checks.Check:
        """Every PromQL panel of the dashboards for the demo's tenant, and the catalogue and
        alert queries, against the stack's Prometheus while the traffic flows."""
        demo = rule_profile(Profile.demo, self.settings.alerting).windows.burn_windows[0]
        queries = checks.catalogue_queries(
            self.result.tenant_id or "",
            self.result.endpoints,
            short_window=demo.short,
            nsq=self.result.transport == "nsq",
            jobs=self.settings.alerting.jobs.expected(),
        )
        answers: list[tuple[checks.MetricQuery, Any]] = []
        dashboards = render_dashboards(
            self.settings.slo, self.settings.alerting, self.settings.grafana
        )
        window = Window(
            end=time.time(),
            range_seconds=DASHBOARD_MINUTES * 60,
            points=DASHBOARD_POINTS,
            scrape_seconds=duration_seconds(self.settings.prometheus_scrape_interval),
        )
        selections = {"tenant": [self.result.tenant_id or ""], "endpoint": []}
        with DashboardPrometheus(self.settings.prometheus_url) as prometheus:
            for query in queries:
                try:
                    found = prometheus.instant(query.promql, window.end)
                    answers.append((query, checks.samples_of(found.result_type, found.result)))
                except HarborHookError as exc:
                    answers.append((query, str(exc)))
            for dashboard in dashboards:
                answers += self._panel_answers(prometheus, dashboard, selections, window)
        return checks.check_metrics(answers, dashboards=len(dashboards))

    @staticmethod
    def _panel_answers(
        prometheus: DashboardPrometheus,
        dashboard: RenderedDashboard,
        selections: Mapping[str, Sequence[str]],
        window: Window,
    ) -> list[tuple[checks.MetricQuery, Any]]:
        name = dashboard.file.name
        try:
            reading = read_dashboard(prometheus, dashboard.model, selections, window)
        except HarborHookError as exc:
            return [(checks.MetricQuery(f"{name} dashboard", ""), str(exc))]
        return [
            (
                checks.MetricQuery(f"{name}: {panel.panel.title} [{target.ref_id}]", target.query),
                checks.samples_of(target.result_type, target.result),
            )
            for panel in reading.panels
            if panel.skipped is None
            for target in panel.targets
        ]

    def _chosen_delivery(self) -> tuple[str, str]:
        """(delivery id, trace id) of the first flaky delivery that failed first."""
        assert self.api is not None and self.publisher is not None
        tenant_id = self.result.tenant_id or ""
        flaky = scenario.endpoint(scenario.FLAKY)
        failed = [
            r
            for r in self.receivers.records(WEBHOOKS)
            if r["path"] == flaky.path and r["status"] and int(r["status"]) >= 400
        ]
        published = self.publisher.snapshot()
        for record in failed:
            event = published.get(record["webhook_id"] or "")
            if event is None or not event.trace_id:
                continue
            for delivery in self.api.event_deliveries(tenant_id, event.event_id)["deliveries"]:
                if delivery["endpoint_id"] == self.result.endpoints[scenario.FLAKY]:
                    return str(delivery["delivery_id"]), event.trace_id
        raise NotFound("flaky delivery", "that failed once (none was published)")

    def _trace_and_logs(self) -> None:
        assert self.api is not None
        tenant_id = self.result.tenant_id or ""
        delivery_id, trace_id = self._chosen_delivery()
        self.result.delivery_id, self.result.trace_id = delivery_id, trace_id
        deadline = _deadline(EVIDENCE_TIMEOUT)
        delivery: Mapping[str, Any] = {}
        while time.monotonic() < deadline:
            delivery = self.api.get_delivery(tenant_id, delivery_id)["delivery"]
            if delivery["status"] == "delivered":
                break
            time.sleep(POLL)
        attempts = int(delivery.get("attempts") or 0)
        nsq = self.result.transport == "nsq"
        spans: list[SpanView] = []
        trace_check = checks.Check(checks.TRACES, False, "no spans")
        with self.sources.traces() as traces:
            while True:
                with suppress(NotFound):
                    spans = traces.get(trace_id)
                trace_check = checks.check_trace(spans, delivery_id, attempts, nsq=nsq)
                if trace_check.ok or time.monotonic() >= deadline:
                    break
                time.sleep(POLL)
        self.result.checked[checks.TRACES] = trace_check
        entries: list[LogEntry] = []
        log_check = checks.Check(checks.LOGS, False, "no log lines")
        since = int((time.time() - 3600) * 1e9)
        with self.sources.logs() as logs:
            while True:
                found = logs.fetch(
                    LogQuery(), start_ns=since, end_ns=int(time.time() * 1e9) + 10**9, limit=100_000
                )
                mine = [e for e in found if e.record.get("delivery_id") == delivery_id]
                joined = [e for e in found if e.record.get("trace_id") == trace_id]
                log_check = checks.check_logs(
                    [e.record for e in mine], delivery_id, trace_id, attempts
                )
                entries = joined
                if log_check.ok or time.monotonic() >= deadline:
                    break
                time.sleep(POLL)
        self.result.checked[checks.LOGS] = log_check
        self.observer.evidence(spans, entries)

    # ----------------------------------------------------------------------------- heal

    def _heal(self) -> None:
        assert self.api is not None and self.publisher is not None
        tenant_id = self.result.tenant_id or ""
        dead = scenario.endpoint(scenario.DEAD)
        dead_id = self.result.endpoints[scenario.DEAD]
        self.observer.step("healing: the dead endpoint recovers, its DLQ is replayed")
        watch = _NotifyWatch(self.settings, self.notify, self.receivers)
        healed_at = datetime.now(UTC)
        self._switch(dead.path, scenario.HEALED_BEHAVIOUR)
        heal_started = time.monotonic()
        self._replay_dead(tenant_id, dead_id)
        self.result.replayed = len(self.replayed)
        resolved = None
        give_up = heal_started + self.options.alert_timeout
        if self.result.fired_after is None:  # nothing to resolve: heal and replay only
            give_up = heal_started
        while time.monotonic() < give_up:
            resolved = first_resolved(
                self._recorder_notifications(), scenario.DRIVEN_ALERT, after=healed_at
            )
            if resolved:
                self.result.resolved_after = time.monotonic() - heal_started
                break
            self._replay_dead(tenant_id, dead_id)  # deliveries that died as it healed
            self._show(
                heal_started, None, f"healed: waiting for {scenario.DRIVEN_ALERT} to resolve"
            )
            time.sleep(POLL)
        self._show(heal_started, None, "resolved" if resolved else "did not resolve")
        self.observer.traffic_done()
        self._stop_traffic()
        verdicts = watch.wait(VERDICT_MARGIN) if resolved else watch.verdicts(final=True)
        self._note_notification("resolved", resolved, verdicts)
        if self.result.fired_after is None:
            self.result.checked[checks.RESOLVED] = checks.not_run(
                checks.RESOLVED, f"{scenario.DRIVEN_ALERT} never fired"
            )
        else:
            self.result.checked[checks.RESOLVED] = checks.check_alert(
                checks.RESOLVED,
                self.result.resolved_after,
                verdicts,
                f"{scenario.DRIVEN_ALERT} resolved",
            )
        self._settle(SETTLE_TIMEOUT)
        self._replay_dead(tenant_id, dead_id)
        self._settle(SETTLE_TIMEOUT)
        self.result.replayed = len(self.replayed)
        self.result.checked[checks.REPLAY] = self._check_replay(tenant_id, dead_id)
        if resolved:
            self.observer.done(
                f"{scenario.DRIVEN_ALERT} resolved {self.result.resolved_after:.0f}s after the "
                f"endpoint healed; {len(self.replayed)} dead deliveries replayed"
            )
        self._summary()

    def _switch(self, path: str, behaviour: str | None) -> None:
        """The demo receiver answers ``path`` as ``behaviour`` from now on (None: as itself)."""
        try:
            answer = httpx.post(
                f"{self.urls[WEBHOOKS]}/_switch", json={"path": path, "to": behaviour}, timeout=10
            )
        except httpx.HTTPError as exc:
            raise ServiceError(f"the demo's receiver did not answer: {exc}") from exc
        if answer.status_code != 200:
            raise ServiceError(f"the demo's receiver refused to switch {path}: {answer.text}")

    def _replay_dead(self, tenant_id: str, endpoint_id: str) -> None:
        assert self.api is not None
        if not self.api.list_dlq(tenant_id, endpoint_id=endpoint_id, limit=1)["deliveries"]:
            return
        done = self.api.replay_dlq(tenant_id, endpoint_id=endpoint_id)
        self.replayed += [
            (str(d["delivery_id"]), str(d["replay_of"]))
            for d in done["deliveries"]
            if d.get("delivery_id")
        ]

    def _pending(self) -> int:
        if self.store is None or self.result.tenant_id is None:
            return 0
        return sum(
            count
            for (tenant, _, status), count in self.store.events.count_by_status().items()
            if tenant == self.result.tenant_id and status != "dead"
        )

    def _settle(self, timeout: float) -> bool:
        """Wait until none of the demo's deliveries is pending; False at the deadline."""
        deadline = _deadline(timeout)
        while self._pending():
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)
        return True

    def _check_replay(self, tenant_id: str, dead_id: str) -> checks.Check:
        assert self.api is not None
        landed = self.api.list_deliveries(tenant_id, endpoint_id=dead_id, limit=1000)
        by_id = {str(d["delivery_id"]): d for d in landed["deliveries"]}
        left = len(self.api.list_dlq(tenant_id, endpoint_id=dead_id, limit=1000)["deliveries"])
        return checks.check_replay(self.replayed, by_id, left)

    def _stop_traffic(self) -> None:
        if self.publisher is not None:
            self.publisher.stop()

    # ----------------------------------------------------------------------------- restore

    def _restore(self) -> None:
        self.observer.step("putting back what the demo changed")

        def report(name: str, error: BaseException | None) -> None:
            if error is not None:
                self.note(f"restoring {name} failed: {error}")

        self.changes.undo_all(report)
        self._note_failed_notifications()
        differences = [str(p) for p in self.snapshot.differences()]
        started = self.result.started_stack and not self.options.keep
        if started and NativeStack(self.settings.layout).running():
            differences.append("the stack the demo started is still running")
        if self.snapshot.files:
            self.result.checked[checks.RESTORED] = checks.check_restored(
                differences, ["rules (normal profile)", "alertmanager.yml", "receivers"]
            )
        if self.api is not None:
            self.api.close()
        if self.store is not None:
            self.store.dispose()
        if not differences:
            self.observer.done(
                "restored: normal rules, Alertmanager config and receivers as before"
            )

    def _failed_notifications(self) -> dict[str, float]:
        """Alertmanager's count of notifications it gave up on, per integration ({} when it
        cannot be read)."""
        with suppress(HarborHookError), AlertmanagerClient(self.settings.alertmanager_url) as am:
            counters = parse_counters(am.metrics_text())
            return {name: c.notifications_failed for name, c in counters.items()}
        return {}

    def _note_failed_notifications(self) -> None:
        if self.failed_before is None:
            return
        after = self._failed_notifications()
        grown = {k: v - self.failed_before.get(k, 0.0) for k, v in after.items()}
        failed = {k: v for k, v in grown.items() if v > 0}
        if failed:
            counted = ", ".join(f"{v:g} {k}" for k, v in sorted(failed.items()))
            self.note(
                f"Alertmanager gave up on notifications while the demo ran ({counted}): "
                "HarborHookNotificationsFailing will say so; `harborctl alerts send-test` "
                "shows each receiver's error"
            )

    def note(self, text: str) -> None:
        self.result.notes.append(text)
        self.observer.note(text)

    def _retire_tenant(self) -> None:
        """Once nothing of the demo is pending: its endpoints deleted and its series deleted
        from Prometheus, so no later delivery and no normal rule ever counts its errors."""
        assert self.api is not None
        tenant_id = self.result.tenant_id or ""
        if self.result.interrupted:
            for demo in scenario.ENDPOINTS:  # let whatever is pending land
                with suppress(HarborHookError):
                    self._switch(demo.path, scenario.HEALED_BEHAVIOUR)
            self._replay_dead_quietly(tenant_id)
        if not self._settle(INTERRUPTED_SETTLE if self.result.interrupted else SETTLE_TIMEOUT):
            self.note(
                f"{self._pending()} of the demo's deliveries are still pending: with its "
                "receiver gone they will fail and count against the error budget"
            )
        for endpoint_id in self.result.endpoints.values():
            with suppress(HarborHookError):
                self.api.delete_endpoint(tenant_id, endpoint_id)
        self._delete_series(tenant_id)

    def _replay_dead_quietly(self, tenant_id: str) -> None:
        dead_id = self.result.endpoints.get(scenario.DEAD)
        if dead_id:
            with suppress(HarborHookError):
                self._replay_dead(tenant_id, dead_id)

    def _delete_series(self, tenant_id: str) -> None:
        """The demo's own series out of Prometheus: its tenant's and endpoints', its alerts,
        the recordings only the demo profile makes, and what the normal-window recordings
        held while the demo profile computed them."""
        normal = RuleWindows().ratio_windows
        demo_only = [
            w for w in rule_profile(Profile.demo, self.settings.alerting).windows.ratio_windows
            if w not in normal
        ]  # fmt: skip
        ratio = "harborhook:delivery_error_ratio:rate"
        endpoints = "|".join(sorted(self.result.endpoints.values()))
        selectors = [
            f'{{tenant_id="{tenant_id}"}}',
            f'{{__name__=~"{ratio}({"|".join(demo_only)})"}}',
            f'{{__name__=~"ALERTS|ALERTS_FOR_STATE", {scenario.DEMO_PROFILE_MATCHER}}}',
        ]
        if endpoints:
            selectors.append(f'{{endpoint_id=~"{endpoints}"}}')
        with PrometheusAdminClient(self.settings.prometheus_url) as prometheus:
            deleted = prometheus.delete_series(selectors)
            if deleted and self.demo_rules_since is not None:
                prometheus.delete_series(
                    [f'{{__name__=~"{ratio}({"|".join(normal)})"}}'],
                    start=self.demo_rules_since,
                    end=time.time(),
                )
        if not deleted:
            self.note(
                "Prometheus runs without --web.enable-admin-api: the demo's deliberate "
                "errors stay in its data, and the normal burn-rate rules may alert on them "
                "for up to their longest window (restart the stack with a newer harborctl)"
            )

    def _restore_rules(self, rule_files: Sequence[Path]) -> None:
        self.snapshot.restore(list(rule_files))
        gen.reload_prometheus(self.settings.prometheus_url)
        self._resolve_demo_alerts()

    def _resolve_demo_alerts(self) -> None:
        """Alerts of the demo profile Alertmanager still holds (Prometheus would let them
        lapse only minutes later) resolved now, before the operator's config is back."""
        now = datetime.now(UTC)
        with AlertmanagerClient(self.settings.alertmanager_url) as client:
            held = client.alerts([scenario.DEMO_PROFILE_MATCHER])
            if held:
                client.post_alerts(
                    [
                        Alert(
                            labels=a.get("labels") or {},
                            annotations=a.get("annotations") or {},
                            starts_at=datetime.fromisoformat(
                                str(a.get("startsAt")).replace("Z", "+00:00")
                            ),
                            ends_at=now,
                        )
                        for a in held
                    ]
                )

    def _restore_alertmanager(self, files: Sequence[Path]) -> None:
        with suppress(NotFound):
            gen.remove_receiver(self.settings, scenario.DEMO_RECEIVER)
        if self.snapshot.restore(list(files)):
            with AlertmanagerClient(self.settings.alertmanager_url) as client:
                client.reload()


class _NotifyWatch:
    """Alertmanager's verdict on the --notify receivers for the notifications the recorder
    got since the watch began (they share its route: each got as many), from Alertmanager's
    counters and log (``harborctl.alerting.verdict``, as ``alerts send-test`` reads them)."""

    def __init__(self, settings: Settings, names: Sequence[str], receivers: ReceiverPair) -> None:
        self.settings = settings
        self.names = list(names)
        self.receivers = receivers
        self.start = len(receivers.records(RECORDER))
        self.expected: dict[str, list[str]] = {}
        self.before: dict[str, Counters] = {}
        self.events: list[NotifyEvent] = []
        self.follower: LogFollower | None = None
        if not self.names:
            return
        with AlertmanagerClient(settings.alertmanager_url) as client:
            kinds = integrations(client.running_config())
            self.before = parse_counters(client.metrics_text())
        self.expected = {name: kinds.get(name, []) for name in self.names}
        log = settings.layout.process_log("alertmanager")
        if log.exists():
            self.follower = LogFollower(log)
            self.follower.start()

    def verdicts(self, *, final: bool) -> list[ReceiverVerdict]:
        if not self.names:
            return []
        if self.follower:
            self.events += [e for line in self.follower.new_lines() for e in parse_log_line(line)]
        each = len(notifications(self.receivers.records(RECORDER, self.start)))
        with AlertmanagerClient(self.settings.alertmanager_url) as client:
            grown = increase(parse_counters(client.metrics_text()), self.before)
        return route_verdicts(self.expected, grown, self.events, each=each, final=final)

    def wait(self, seconds: float) -> list[ReceiverVerdict]:
        deadline = _deadline(seconds)
        while True:
            final = time.monotonic() >= deadline
            found = self.verdicts(final=final)
            if final or all(v.result != "pending" for v in found):
                return found
            time.sleep(POLL)
