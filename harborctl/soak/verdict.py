"""Whether a soak passed: the problems its report shows, one line each (pure).

A soak fails on any lost delivery, a drain that did not finish by its deadline, a fault
that was not injected (or fewer faults than scheduled), a 5xx other than 503 from the API
(it promises 503 + Retry-After when it cannot store, never 500), a 429 or 503 without
``Retry-After``, a publish rejected or
abandoned, an expected delivery without a database row, and a 2xx for a delivery nobody
expected. Duplicates and dead deliveries are figures, not failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def problems(report: Mapping[str, Any]) -> list[str]:
    """The report's problems (empty: the soak passed). ``report``: ``run_soak``'s shape."""
    found: list[str] = []
    deliveries, drain, publish = report["deliveries"], report["drain"], report["publish"]
    if deliveries["lost"]:
        found.append(f"{deliveries['lost']} deliveries lost (neither delivered nor dead)")
    if not drain["drained"]:
        found.append(
            f"the pipeline did not drain within {report['run']['drain_deadline_seconds']:g} s "
            f"({drain['pending']} deliveries pending)"
        )
    faults = report["faults"]
    failed = [f"{f['kind']} {f['target']}: {f['error']}" for f in faults if f["error"]]
    found += [f"fault not injected: {text}" for text in failed]
    if len(faults) < report["run"]["faults_scheduled"]:
        found.append(f"{len(faults)} of {report['run']['faults_scheduled']} faults injected")
    server_errors = sum(publish["server_errors"].values())
    if server_errors:
        found.append(f"the API answered {server_errors} server errors (5xx other than 503)")
    if publish["refusals_without_retry_after"]:
        found.append(f"{publish['refusals_without_retry_after']} refusals without Retry-After")
    for figure in ("rejected", "abandoned"):
        if publish[figure]:
            found.append(f"{publish[figure]} publishes {figure}")
    if deliveries["missing_rows"]:
        found.append(f"{deliveries['missing_rows']} expected deliveries have no database row")
    if deliveries["unexpected"]:
        found.append(f"{deliveries['unexpected']} deliveries arrived that were never expected")
    return found
