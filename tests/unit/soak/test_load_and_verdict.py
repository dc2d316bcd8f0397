"""How the soak's client waits before publishing again, and what fails a soak (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from harborctl.soak.load import MAX_WAIT_SECONDS, parse_retry_after, retry_wait
from harborctl.soak.verdict import problems


def test_retry_after_is_honoured_and_repeats_back_off() -> None:
    assert retry_wait(1, 1.0) == 1.0  # the server's Retry-After
    assert retry_wait(1, None) == 0.25  # none named: a short first wait
    assert [retry_wait(n, None) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]
    assert retry_wait(4, 1.0) == 2.0  # repeats back off beyond Retry-After
    assert retry_wait(60, None) == MAX_WAIT_SECONDS
    assert retry_wait(1, 3600.0) == MAX_WAIT_SECONDS
    with pytest.raises(ValueError):
        retry_wait(0, None)


def test_parse_retry_after() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") is None
    assert parse_retry_after("-1") is None


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "run": {"drain_deadline_seconds": 150.0, "faults_scheduled": 2},
        "publish": {
            "server_errors": {},
            "rejected": 0,
            "abandoned": 0,
            "refusals_without_retry_after": 0,
        },
        "faults": [
            {"kind": "worker_kill", "target": "worker-1", "error": None},
            {"kind": "postgres_restart", "target": "postgres", "error": None},
        ],
        "deliveries": {"lost": 0, "missing_rows": 0, "unexpected": 0, "duplicates": 7},
        "drain": {"drained": True, "pending": 0},
    }
    for path, value in changes.items():
        section, key = path.split("__")
        report[section][key] = value
    return report


def test_a_clean_soak_has_no_problems_even_with_duplicates() -> None:
    assert problems(_report()) == []


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"deliveries__lost": 3}, "3 deliveries lost"),
        ({"drain__drained": False, "drain__pending": 9}, "did not drain within 150 s"),
        ({"publish__server_errors": {"500": 2}}, "2 server errors"),
        ({"publish__abandoned": 1}, "1 publishes abandoned"),
        ({"publish__refusals_without_retry_after": 4}, "4 refusals without Retry-After"),
        ({"deliveries__missing_rows": 1}, "no database row"),
        ({"deliveries__unexpected": 1}, "never expected"),
        ({"run__faults_scheduled": 3}, "2 of 3 faults injected"),
    ],
)
def test_each_problem_fails_the_soak(change: dict[str, Any], says: str) -> None:
    found = problems(_report(**change))
    assert len(found) == 1 and says in found[0], found


def test_a_fault_not_injected_fails_the_soak() -> None:
    report = _report()
    report["faults"][1]["error"] = "PostgreSQL did not come back"
    assert problems(report) == [
        "fault not injected: postgres_restart postgres: PostgreSQL did not come back"
    ]
