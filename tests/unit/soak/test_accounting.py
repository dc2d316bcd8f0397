"""The soak's accounting: delivered, dead, lost and duplicates by fault window (pure)."""

from __future__ import annotations

from harborctl.soak.accounting import (
    UNEXPLAINED,
    Arrival,
    FaultWindow,
    Row,
    account,
    attribute,
    expected_pairs,
)

WINDOWS = [FaultWindow("worker_kill worker-1", 100.0, 101.0), FaultWindow("pg", 200.0, 205.0)]


def _rows(*rows: tuple[str, str, str, str | None]) -> list[Row]:
    return [Row(*row) for row in rows]


def test_expected_pairs_follow_the_subscriptions() -> None:
    accepted = [("e1", "order"), ("e2", "invoice"), ("e3", "nobody")]
    subscribers = {"order": ("a",), "invoice": ("a", "b")}
    assert expected_pairs(accepted, subscribers) == {("e1", "a"), ("e2", "a"), ("e2", "b")}


def test_delivered_dead_and_lost() -> None:
    expected = {("e1", "a"), ("e2", "a"), ("e3", "hang"), ("e4", "a"), ("e5", "a")}
    arrivals = [
        Arrival("e1", "a", 10.0, 500),  # a failed try, then a success
        Arrival("e1", "a", 11.0, 200),
        Arrival("e3", "hang", 12.0, None),  # hung: never answered
        Arrival("e4", "a", 13.0, 503),  # only failures: not delivered
    ]
    rows = _rows(
        ("e1", "a", "delivered", None),
        ("e2", "a", "queued", None),
        ("e3", "hang", "dead", "timeout"),
        ("e4", "a", "failed", None),
        ("e5", "a", "delivered", None),  # the database says delivered, the receiver never did
    )
    figures = account(expected, arrivals, rows, WINDOWS, before=5, after=10)
    assert (figures.expected, figures.delivered, figures.dead) == (5, 1, 1)
    assert figures.dead_reasons == {"hang: timeout": 1}
    assert figures.lost == 3
    assert sorted(figures.lost_pairs) == [("e2", "a"), ("e4", "a"), ("e5", "a")]
    assert figures.lost_but_delivered_in_db == 1
    assert figures.duplicates == 0 and figures.missing_rows == 0


def test_a_receipt_beats_a_dead_row_and_a_missing_row_is_counted() -> None:
    expected = {("e1", "slow"), ("e2", "a")}
    arrivals = [Arrival("e1", "slow", 1.0, 200)]  # answered after the worker had timed out
    figures = account(
        expected, arrivals, _rows(("e1", "slow", "dead", "timeout")), [], before=5, after=10
    )
    assert (figures.delivered, figures.dead, figures.dead_but_received) == (1, 0, 1)
    assert (figures.lost, figures.missing_rows) == (1, 1)


def test_duplicates_are_attributed_to_the_fault_window_of_the_first_arrival() -> None:
    expected = {("e1", "a"), ("e2", "a"), ("e3", "a"), ("e4", "a")}
    arrivals = [
        # first arrival 3 s before the kill (a POST under way), again after the lease ran out
        Arrival("e1", "a", 97.0, 200),
        Arrival("e1", "a", 115.0, 200),
        # three times around the database restart: two duplicates
        Arrival("e2", "a", 203.0, 200),
        Arrival("e2", "a", 210.0, 200),
        Arrival("e2", "a", 211.0, 200),
        # first arrival in no window, the repeat in one: that window explains it
        Arrival("e3", "a", 150.0, 200),
        Arrival("e3", "a", 199.0, 200),
        # far from any fault
        Arrival("e4", "a", 400.0, 200),
        Arrival("e4", "a", 401.0, 200),
    ]
    rows = _rows(*((e, "a", "delivered", None) for e in ("e1", "e2", "e3", "e4")))
    figures = account(expected, arrivals, rows, WINDOWS, before=5, after=10)
    assert figures.delivered == 4 and figures.lost == 0
    assert figures.duplicates == 5
    assert figures.duplicates_by_fault == {
        "worker_kill worker-1": 1,
        "pg": 3,
        UNEXPLAINED: 1,
    }


def test_unexpected_arrivals_are_counted() -> None:
    arrivals = [Arrival("stranger", "a", 1.0, 200), Arrival("e1", "a", 1.0, 200)]
    figures = account(
        {("e1", "a")}, arrivals, _rows(("e1", "a", "delivered", None)), [], before=0, after=0
    )
    assert figures.unexpected == 1 and figures.delivered == 1


def test_attribute_uses_the_margins() -> None:
    window = [FaultWindow("f", 100.0, 110.0)]
    assert attribute(95.0, window, before=5, after=2) == "f"
    assert attribute(94.9, window, before=5, after=2) is None
    assert attribute(112.0, window, before=5, after=2) == "f"
    assert attribute(112.1, window, before=5, after=2) is None
