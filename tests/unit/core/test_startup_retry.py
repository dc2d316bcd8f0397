"""How long a starting process waits between attempts to reach its database."""

from __future__ import annotations

from itertools import islice

from harborctl.store.database import startup_retry_delays


def test_a_database_server_is_waited_for_with_doubling_delays_capped_at_five_seconds() -> None:
    delays = startup_retry_delays("postgresql://postgres@127.0.0.1:5432/harborhook")
    assert list(islice(delays, 7)) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_a_sqlite_file_is_not_waited_for() -> None:
    assert list(startup_retry_delays("sqlite:////tmp/harborhook.db")) == []
