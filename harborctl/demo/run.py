"""One demo run, phase by phase (``DemoRun(options, observer, sources).run()``).

::

    stack      brought up when it is not running (and down again at the end unless --keep);
               Prometheus and Alertmanager are required (``harborctl.demo.preflight``)
    setup      the webhook receiver and the alert recorder start; Alertmanager gets the demo
               receiver (`alerts set-webhook`'s logic, name ``harborhook-demo``) and a config
               sending only the driven alert, to it and the --notify receivers; the rules
               switch to the demo profile; a demo tenant gets the scenario's endpoints
    burn       mixed traffic for --duration; the dead endpoint burns the error budget until
               the fast burn-rate alert fires and the notifications are out
    evidence   the metric queries; one flaky delivery's trace and log lines
               (``harborctl.demo.evidence``)
    heal       the dead endpoint's receiver path switches to ok, its DLQ is replayed, the
               replays land; traffic goes on until the alert resolves and says so
    restore    (always, Ctrl-C included) the tenant's endpoints deleted and its series
               removed from Prometheus once nothing is pending; the normal rules back;
               the demo's alerts resolved in Alertmanager; the demo receiver removed and
               Alertmanager's files byte for byte as before; receivers stopped; the stack
               down if the demo started it (``harborctl.demo.cleanup``)

The check table comes from ``harborctl.demo.checks``. Timing: every wait polls with a
deadline; the whole run takes about two minutes on two cores (``timings`` in the result).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from harborctl.alerting.profiles import Profile, rule_profile
from harborctl.alerting.verdict import ReceiverVerdict
from harborctl.demo import alerting_setup, checks, cleanup, evidence, scenario
from harborctl.demo.live import LiveTraffic
from harborctl.demo.model import DemoObserver, DemoOptions, DemoResult, Sources
from harborctl.demo.notifications import (
    Notification,
    notification_entries,
)
from harborctl.demo.notify_watch import NotifyWatch
from harborctl.demo.preflight import check_stack, notify_names
from harborctl.demo.receivers import RECORDER, WEBHOOKS, ReceiverPair
from harborctl.demo.restore import Changes, FileSnapshot, interrupts_deferred
from harborctl.demo.tenant import DemoTenant, create_tenant
from harborctl.demo.traffic import Publisher
from harborctl.demo.waiting import deadline
from harborctl.domain.signing import generate_secret
from harborctl.errors import HarborHookError
from harborctl.settings import Settings, ensure_admin_key, load_settings
from harborctl.stack.model import StackPlan
from harborctl.stack.native import NativeStack
from harborctl.stack.status import StackStatus

VERDICT_MARGIN = 20.0  # seconds after the recorder got it for Alertmanager's other receivers
EVIDENCE_TIMEOUT = 30.0  # for the chosen delivery, its spans and its log lines


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
        self.snapshot = FileSnapshot()
        self.tenant: DemoTenant | None = None
        self.publisher: Publisher | None = None
        self.live: LiveTraffic | None = None
        self.notify: list[str] = []
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

    def note(self, text: str) -> None:
        self.result.notes.append(text)
        self.observer.note(text)

    # ----------------------------------------------------------------------------- stack

    def preflight(self) -> None:
        """What must hold before anything changes, else the error (one line for the CLI):
        every --notify name a receiver; Prometheus and Alertmanager installed; a running
        stack healthy and running both. ``run`` calls it when the caller did not."""
        self.notify = notify_names(self.settings, self.options.notify, self.note)
        self.result.notify = self.notify
        self.plan, self.running = check_stack(self.settings, self.options.stack)
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

    # ----------------------------------------------------------------------------- setup

    def _setup(self) -> None:
        settings = self.settings
        urls = self.receivers.start()
        self.changes.add("receivers", self.receivers.stop)
        alerting_setup.remove_leftover_receiver(settings, self.note)
        self.failed_before = cleanup.failed_notifications(settings.alertmanager_url)

        self.observer.step("switching alerting to the demo profile")
        self.snapshot = alerting_setup.take_snapshot(settings)
        recorder_url = urls[RECORDER] + scenario.RECORDER_PATH
        self.demo_rules_since = alerting_setup.switch_to_demo(
            settings, self.snapshot, self.changes, recorder_url, self.notify
        )
        windows = rule_profile(Profile.demo, settings.alerting).windows.burn_windows[0]
        self.observer.done(
            f"demo profile: {scenario.DRIVEN_ALERT} fires over {windows.long} and "
            f"{windows.short}; Alertmanager sends it to "
            + ", ".join(["the demo's recorder", *self.notify])
        )

        self.observer.step("creating the demo tenant and its endpoints")
        tenant_id, api_key = create_tenant(settings)
        self.result.tenant_id = tenant_id
        self.tenant = tenant = DemoTenant.open(settings, tenant_id, api_key)
        self.changes.add("tenant", self._retire_tenant)
        self.result.endpoints = tenant.endpoints  # the same dict: filled as each is made
        tenant.add_endpoints(urls[WEBHOOKS], self.receivers.secret)
        self.observer.done(
            f"tenant {tenant_id}: " + ", ".join(f"{e.key} ({e.what})" for e in scenario.ENDPOINTS)
        )

    # ----------------------------------------------------------------------------- burn

    def _burn(self) -> None:
        assert self.tenant is not None
        self.observer.step(
            f"publishing for {self.options.duration:g}s at {self.options.rate:g} events/s"
        )
        watch = NotifyWatch(self.settings, self.notify, self.receivers)
        self.publisher = Publisher(
            self.tenant.api, self.tenant.tenant_id, self.options.rate, self.options.seed
        )
        self.live = LiveTraffic(
            self.observer, self.receivers, self.tenant, self.publisher, self.result
        )
        started = time.monotonic()
        self.publisher.start()
        fired = self.live.until_fired(started, self.options.duration, self.options.alert_timeout)
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
        self, status: str, found: Notification | None, verdicts: Sequence[ReceiverVerdict]
    ) -> None:
        self.result.notifications += notification_entries(
            status, found, verdicts, scenario.DRIVEN_ALERT
        )

    # ----------------------------------------------------------------------------- evidence

    def _evidence(self) -> None:
        assert self.tenant is not None
        self.observer.step("checking the metrics, one delivery's trace and its log lines")
        self.result.checked[checks.METRICS] = evidence.check_metrics(
            self.settings,
            self.tenant.tenant_id,
            self.tenant.endpoints,
            nsq=self.result.transport == "nsq",
        )
        try:
            self._trace_and_logs(self.tenant)
        except HarborHookError as exc:
            self.result.checked.setdefault(
                checks.TRACES, checks.Check(checks.TRACES, False, str(exc))
            )
            self.result.checked.setdefault(checks.LOGS, checks.Check(checks.LOGS, False, str(exc)))

    def _trace_and_logs(self, tenant: DemoTenant) -> None:
        assert self.publisher is not None
        delivery_id, trace_id = evidence.chosen_delivery(
            tenant.api,
            tenant.tenant_id,
            tenant.endpoints[scenario.FLAKY],
            self.receivers.records(WEBHOOKS),
            self.publisher.snapshot(),
        )
        self.result.delivery_id, self.result.trace_id = delivery_id, trace_id
        until = deadline(EVIDENCE_TIMEOUT)
        attempts = evidence.attempts_once_delivered(
            tenant.api, tenant.tenant_id, delivery_id, until
        )
        trace_check, spans = evidence.trace_evidence(
            self.sources.traces,
            trace_id,
            delivery_id,
            attempts,
            nsq=self.result.transport == "nsq",
            until=until,
        )
        self.result.checked[checks.TRACES] = trace_check
        log_check, entries = evidence.log_evidence(
            self.sources.logs, delivery_id, trace_id, attempts, until=until
        )
        self.result.checked[checks.LOGS] = log_check
        self.observer.evidence(spans, entries)

    # ----------------------------------------------------------------------------- heal

    def _heal(self) -> None:
        assert self.tenant is not None and self.live is not None
        tenant = self.tenant
        dead = scenario.endpoint(scenario.DEAD)
        self.observer.step("healing: the dead endpoint recovers, its DLQ is replayed")
        watch = NotifyWatch(self.settings, self.notify, self.receivers)
        healed_at = datetime.now(UTC)
        self.receivers.switch(dead.path, scenario.HEALED_BEHAVIOUR)
        heal_started = time.monotonic()
        tenant.replay_dead()
        self.result.replayed = len(tenant.replayed)
        # nothing to resolve when it never fired: heal and replay only
        timeout = self.options.alert_timeout if self.result.fired_after is not None else 0.0
        resolved = self.live.until_resolved(  # replaying what died as it healed between looks
            healed_at, heal_started, timeout, between=tenant.replay_dead
        )
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
        tenant.settle(cleanup.SETTLE_TIMEOUT)
        tenant.replay_dead()
        tenant.settle(cleanup.SETTLE_TIMEOUT)
        self.result.replayed = len(tenant.replayed)
        self.result.checked[checks.REPLAY] = tenant.check_replay()
        if resolved:
            self.observer.done(
                f"{scenario.DRIVEN_ALERT} resolved {self.result.resolved_after:.0f}s after the "
                f"endpoint healed; {len(tenant.replayed)} dead deliveries replayed"
            )
        self.live.summary()

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
        if self.failed_before is not None:
            after = cleanup.failed_notifications(self.settings.alertmanager_url)
            failed = cleanup.failed_notifications_note(self.failed_before, after)
            if failed:
                self.note(failed)
        differences = [str(p) for p in self.snapshot.differences()]
        started = self.result.started_stack and not self.options.keep
        if started and NativeStack(self.settings.layout).running():
            differences.append("the stack the demo started is still running")
        if self.snapshot.files:
            self.result.checked[checks.RESTORED] = checks.check_restored(
                differences, ["rules (normal profile)", "alertmanager.yml", "receivers"]
            )
        if self.tenant is not None:
            self.tenant.close()
        if not differences:
            self.observer.done(
                "restored: normal rules, Alertmanager config and receivers as before"
            )

    def _retire_tenant(self) -> None:
        """Once nothing of the demo is pending: its endpoints deleted and its series deleted
        from Prometheus, so no later delivery and no normal rule ever counts its errors."""
        assert self.tenant is not None
        cleanup.retire_tenant(
            self.tenant, self.receivers, interrupted=self.result.interrupted, note=self.note
        )
        cleanup.delete_series(
            self.settings,
            self.tenant.tenant_id,
            self.tenant.endpoints.values(),
            self.demo_rules_since,
            self.note,
        )
