"""``harborctl demo``: one run that proves the whole loop on the operator's machine.

A published event becomes deliveries, traces, log lines and metrics; an endpoint that fails
burns the error budget, the burn-rate alert fires and reaches the operator's inbox through
Alertmanager; the endpoint recovers, the dead-letter queue is replayed, the alert resolves and
says so. Every pillar is checked, and everything the run changed is put back.

::

    scenario.py       the demo tenant's endpoints, their receiver behaviours, the event mix (pure)
    notifications.py  Alertmanager's webhook notifications as the demo's recorder got them (pure)
    checks.py         the check table: one verdict per pillar from what was seen (pure)
    summary.py        the live summary: counts from the database, p99 from the receiver
    traffic.py        the publisher thread
    restore.py        what the run changed, and how each change is undone
    run.py            the run itself, phase by phase (``DemoRun``)
"""
