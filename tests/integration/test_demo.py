"""`harborctl demo` for real, through scripts/observability/demo.sh as CI runs it: the native
stack (nsqd, ingest, worker, monitor, Prometheus, Alertmanager) on free ports in a fresh state
dir, the demo's notifications reaching a strict webhook recorder (Alertmanager's JSON) firing
and resolved through the real Alertmanager, and everything put back: after a full run, and
after Ctrl-C in the middle of one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.integration.test_stack import Stack, stack
from tests.support.alertmanager import alertmanager_binary
from tests.support.notify_receivers import WebhookRecorder, webhook_recorder
from tests.support.prometheus import PROMETHEUS_INSTALL_HINT
from tests.support.services import require_binary
from tests.support.wait import wait_until

__all__ = ["stack", "webhook_recorder"]  # fixtures, for pytest

pytestmark = pytest.mark.slow

DEMO_SH = Path(__file__).resolve().parents[2] / "scripts" / "observability" / "demo.sh"
BURN = "HarborHookErrorBudgetBurnFast"
DEMO_TIMEOUT = 400.0


def _require_stack_binaries() -> None:
    require_binary("prometheus", PROMETHEUS_INSTALL_HINT)  # skipped outside CI, failed in CI
    alertmanager_binary()


def _nsq_args(stack: Stack) -> list[str]:
    return stack.up_args()[1:-2]  # the --nsqd-*/--nsqlookupd-* ports, without `up`/--timeout


def _alerting_files(state_dir: Path) -> dict[str, bytes | None]:
    names = [
        "alertmanager/alertmanager.yml",
        "alerting/receivers.yaml",
        "alerting/secrets/oncall",
        "prometheus/rules/harborhook-slo.yml",
        "prometheus/rules/harborhook-operations.yml",
    ]
    return {
        name: (state_dir / name).read_bytes() if (state_dir / name).exists() else None
        for name in names
    }


def test_the_demo_proves_the_loop_and_notifies_a_webhook_firing_and_resolved(
    stack: Stack, webhook_recorder: WebhookRecorder
) -> None:
    _require_stack_binaries()
    made = stack.run(
        "alerts", "set-webhook", "--url", webhook_recorder.url, "--name", "oncall",
        "--severity", "ticket",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    receivers_before = _alerting_files(stack.state_dir)

    done = subprocess.run(
        [str(DEMO_SH), "--json", "--notify", "oncall", "--duration", "20", *_nsq_args(stack)],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{stack.logs()}"
    result: dict[str, Any] = json.loads(done.stdout)
    print(f"harborctl demo took {result['duration_seconds']}s: {result['timings']}")
    assert result["ok"] is True and result["failed"] == []
    assert [c["name"] for c in result["checks"] if c["ok"]] == [
        "metrics", "traces", "logs", "alert fired + notified", "alert resolved + notified",
        "DLQ replay", "restored",
    ]  # fmt: skip
    assert result["stack"] == {"started": True, "kept": False, "transport": "nsq"}
    assert result["replayed"] > 0
    assert "PublishEvent → FanOut → publish → 2 x process" in result["checks"][1]["detail"]

    # the strict recorder got the driven alert, firing then resolved, and nothing else
    fired = webhook_recorder.alert("firing", alertname=BURN, profile="demo")
    assert fired is not None, webhook_recorder.describe()
    assert fired["labels"]["severity"] == "page"
    assert fired["annotations"]["runbook"].endswith("/HarborHookErrorBudgetBurnFast.md")
    assert webhook_recorder.alert("resolved", alertname=BURN, profile="demo")
    assert {a["labels"]["alertname"] for a in webhook_recorder.alerts()} == {BURN}
    assert webhook_recorder.refusals() == []
    verdicts = [n for n in result["alert"]["notifications"] if n.get("receiver") == "oncall"]
    assert [(v["status"], v["result"]) for v in verdicts] == [
        ("firing", "delivered"),
        ("resolved", "delivered"),
    ]

    # left as found: the stack stopped again, the operator's receivers untouched, the
    # normal rules (the stack wrote them when the demo started it)
    assert stack.run("status").returncode == 3
    after = _alerting_files(stack.state_dir)
    for name in ("alerting/receivers.yaml", "alerting/secrets/oncall"):
        assert after[name] == receivers_before[name], name
    assert after["alertmanager/alertmanager.yml"] == receivers_before[
        "alertmanager/alertmanager.yml"
    ]
    rules = (after["prometheus/rules/harborhook-slo.yml"] or b"").decode()
    assert "rate1h > 0.144" in rules and "profile: demo" not in rules
    assert not (stack.state_dir / "alerting" / "secrets" / "harborhook-demo").exists()


def _demo_alerts(stack: Stack) -> list[dict[str, Any]]:
    answer = httpx.get(
        f"http://127.0.0.1:{stack.ports['alertmanager']}/api/v2/alerts",
        params={"filter": 'profile="demo"'},
        timeout=5,
    )
    answer.raise_for_status()
    found: list[dict[str, Any]] = answer.json()
    return found


def test_ctrl_c_in_the_middle_puts_everything_back(stack: Stack, tmp_path: Path) -> None:
    _require_stack_binaries()
    stack.remember(stack.run_json(*stack.up_args()))
    before = _alerting_files(stack.state_dir)
    output = tmp_path / "demo.out"
    with output.open("w") as sink:
        demo = subprocess.Popen(
            [str(DEMO_SH), "--duration", "60"],
            env={**stack.env, "COLUMNS": "200"},
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_until(
                lambda: "publishing for 60s" in output.read_text(),
                60,
                interval=0.2,
                describe=lambda: f"the traffic to start: {output.read_text()}",
            )
            profile = (stack.state_dir / "prometheus/rules/harborhook-slo.yml").read_text()
            assert "profile: demo" in profile  # the demo profile is live
            demo.send_signal(signal.SIGINT)
            code = demo.wait(timeout=120)
        finally:
            if demo.poll() is None:
                os.kill(demo.pid, signal.SIGKILL)
    shown = output.read_text()
    assert code == 130, shown
    assert "restored: normal rules, Alertmanager config and receivers as before" in shown
    assert "demo interrupted" in shown

    assert _alerting_files(stack.state_dir) == before
    assert stack.run("status").returncode == 0  # it was running: it still is
    status = httpx.get(
        f"http://127.0.0.1:{stack.ports['alertmanager']}/api/v2/status", timeout=5
    ).json()
    config = yaml.safe_load(status["config"]["original"])
    assert "harborhook-demo" not in [r["name"] for r in config["receivers"]]
    assert _demo_alerts(stack) == []
    rules = httpx.get(
        f"http://127.0.0.1:{stack.ports['prometheus']}/api/v1/rules", timeout=5
    ).json()
    intervals = {group["interval"] for group in rules["data"]["groups"]}
    assert intervals == {30}  # the normal profile's, not the demo's 5 s
