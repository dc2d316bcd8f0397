"""The native stack watches itself: its Prometheus scrapes ingest, worker, monitor, itself and
its Alertmanager, so the alerts on missing data can see; with everything up nothing fires,
and with the backlog monitor gone HarborHookMonitorDown fires and reaches Alertmanager (never
silence); `alerts send-test` on the stack reads the stack's Alertmanager log.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import yaml

from harborctl.stack.supervisor import SupervisorClient
from tests.integration.test_stack import Stack, stack
from tests.support.alertmanager import alertmanager_binary
from tests.support.notify_receivers import WebhookRecorder, webhook_recorder
from tests.support.prometheus import PROMETHEUS_INSTALL_HINT
from tests.support.services import require_binary
from tests.support.wait import wait_until

__all__ = ["stack", "webhook_recorder"]  # fixtures, for pytest

pytestmark = pytest.mark.slow
JOBS = {"ingest", "worker", "monitor", "prometheus", "alertmanager"}
FAST = {
    "alerting": {
        "rule_interval": "1s",
        "for": {"monitor_down": "1s", "target_missing": "1s", "worker_down": "1s",
                "ingest_down": "1s"},
        "notify": {"group_wait": "1s", "group_interval": "1s"},
    }
}  # fmt: skip


def query(stack: Stack, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"http://127.0.0.1:{stack.ports['prometheus']}/api/v1/query",
        params={"query": promql},
        timeout=5,
    )
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def last_rule_evaluation(stack: Stack) -> float:
    found = query(
        stack,
        'min(prometheus_rule_group_last_evaluation_timestamp_seconds{rule_group=~".*harborhook-operations"})',
    )
    return float(found[0]["value"][1]) if found else 0.0


def test_the_native_stack_scrapes_itself_and_missing_data_is_never_silent(
    stack: Stack, webhook_recorder: WebhookRecorder
) -> None:
    require_binary("prometheus", PROMETHEUS_INSTALL_HINT)  # skipped outside CI, failed in CI
    alertmanager_binary()
    config = stack.state_dir.parent / "harborhook.yaml"
    config.write_text(yaml.safe_dump(FAST))
    stack.env.update(HARBORHOOK_CONFIG=str(config), HARBORHOOK_PROMETHEUS_SCRAPE_INTERVAL="1s")
    started = stack.run_json(*stack.up_args("--no-nsq"))
    stack.remember(started)

    def every_job_up() -> set[str] | None:
        up = {s["metric"]["job"]: s["value"][1] for s in query(stack, "up")}
        return set(up) if set(up) == JOBS and all(v == "1" for v in up.values()) else None

    wait_until(every_job_up, 60, interval=0.5, describe=lambda: f"up: {query(stack, 'up')}")
    assert query(stack, 'up{job="prometheus"}')[0]["value"][1] == "1"
    assert query(stack, 'up{job="alertmanager"}')[0]["value"][1] == "1"
    assert query(stack, "alertmanager_notifications_total")  # Alertmanager's own metrics
    # a full rule evaluation after every target was up: nothing about missing data fires
    seen = float(query(stack, "vector(time())")[0]["value"][1])
    wait_until(lambda: last_rule_evaluation(stack) > seen + 1, 30, interval=0.2)
    missing = 'ALERTS{alertname=~"HarborHookTargetMissing|HarborHook.*Down"}'
    assert query(stack, missing) == []

    # `alerts ...` talk to the stack's Alertmanager, and send-test reads its log
    result = stack.run("alerts", "set-webhook", "--url", webhook_recorder.url)
    assert result.returncode == 0, result.stderr
    sent = stack.run_json("alerts", "send-test", "--severity", "ticket")
    assert sent["alertmanager_url"] == f"http://127.0.0.1:{stack.ports['alertmanager']}"
    assert sent["log_file"] == str(stack.state_dir / "logs" / "alertmanager.log")
    assert sent["delivered"] is True, sent
    assert webhook_recorder.alert("firing", test_id=sent["test_id"])
    wrong = webhook_recorder.base_url + "/nowhere"
    assert stack.run("alerts", "set-webhook", "--url", wrong, "--name", "bad").returncode == 0
    failed = stack.run_json("alerts", "send-test", "--severity", "ticket", expect=1)
    [bad] = [r for r in failed["results"] if r["receiver"] == "bad"]
    assert bad["result"] == "failed" and bad["evidence"] == "log" and "404" in bad["detail"]
    assert stack.run("alerts", "remove", "bad").returncode == 0

    # the backlog monitor gone: its alert fires and reaches Alertmanager and the receiver
    SupervisorClient(stack.state_dir / "run" / "supervisord.sock").call(
        "supervisor.stopProcess", "monitor"
    )

    def monitor_down_notified() -> dict[str, Any] | None:
        return webhook_recorder.alert("firing", alertname="HarborHookMonitorDown")

    alert = wait_until(
        monitor_down_notified, 60, interval=0.5,
        describe=lambda: f"MonitorDown at the receiver; ALERTS: {query(stack, 'ALERTS')}",
    )  # fmt: skip
    assert alert["labels"]["severity"] == "page"
    assert alert["annotations"]["runbook"].endswith("/HarborHookMonitorDown.md")
    status = stack.run_json("alerts", "status")
    [row] = [a for a in status["alerts"] if a["alertname"] == "HarborHookMonitorDown"]
    assert row["receivers"] == ["webhook"] and row["state"] == "active"
    # the backlog is unknown now, not an empty queue
    assert query(stack, "harborhook:backlog:database") == []
