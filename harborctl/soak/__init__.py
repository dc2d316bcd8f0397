"""``harborctl soak`` (``scripts/soak``): the real stack under steady load and scheduled
faults, then an accounting of every delivery.

::

    plan.py        the soak's shape and its fault schedule (pure)
    topology.py    the receiver's endpoints, the event types, who subscribes to what (pure)
    load.py        the steady publisher: retries 429/503 after Retry-After, same idempotency key
    receiver.py    the recording receiver as a child process, stopped and started by a fault
    faults.py      injecting each fault into the running stack, with its evidence
    observe.py     the database's deliveries, nsqd's on-disk depth, a process's RSS
    accounting.py  expected, delivered, dead, lost, duplicates by fault window (pure)
    verdict.py     the problems that fail a soak (pure)
    run.py         one soak, start to report

It sits above the processes in the layer table: it drives a throwaway stack
(``harborctl.bench.target``), the receiver, the API client and the stack's supervisor.
"""
