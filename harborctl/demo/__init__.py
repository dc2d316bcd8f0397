"""``harborctl demo``: one run that proves the whole loop on the operator's machine.

A published event becomes deliveries, traces, log lines and metrics; an endpoint that fails
burns the error budget, the burn-rate alert fires and reaches the operator's inbox through
Alertmanager; the endpoint recovers, the dead-letter queue is replayed, the alert resolves and
says so. Every pillar is checked, and everything the run changed is put back.

::

    scenario.py        the demo tenant's endpoints, their receiver behaviours, the event mix
                       (pure)
    notifications.py   Alertmanager's webhook notifications as the demo's recorder got them
                       (pure)
    checks.py          the check table: one verdict per pillar from what was seen (pure)
    summary.py         the live summary: counts from the database, p99 from the receiver (pure)
    model.py           the run's options, observer and sources, and its result
    waiting.py         the poll interval and deadlines of every wait
    receivers.py       the webhook receiver and the alert recorder, in one background loop
    traffic.py         the publisher thread
    tenant.py          the demo tenant: its endpoints, DLQ replays, pending deliveries
    preflight.py       what must hold before anything changes (--notify names, the stack)
    alerting_setup.py  Alertmanager and the rules switched to the demo, each change with its undo
    notify_watch.py    Alertmanager's verdict on the --notify receivers while the run waits
    live.py            the traffic shown live while waiting for the alert to fire and resolve
    evidence.py        the metrics, one delivery's trace and its log lines, gathered and checked
    restore.py         what the run changed, and how each change is undone
    cleanup.py         the undo steps: rules, Alertmanager, the tenant retired, its series
                       deleted; the notifications Alertmanager gave up on
    run.py             the run itself, phase by phase (``DemoRun``)
"""
