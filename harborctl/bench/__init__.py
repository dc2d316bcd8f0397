"""``harborctl bench``: measuring the stack's throughput, latency and CPU per delivery.

::

    run.py          one run: stack, receiver, tenant, load, drain, figures (the report's shape)
    target.py       the stack measured: a throwaway native stack of the run's own, or the
                    running one
    load.py         the load generator (aiohttp): closed loop, open loop at a rate
    sink.py         the bench's receiver, a separate process recording first arrivals
    procstat.py     CPU and memory of process trees from /proc
    report.py       the figures and their definitions (pure)
    stats.py        percentiles and rates (pure)
    nsq_to_http.py  the reference: NSQ's own nsq_to_http to the same receiver

It sits with the processes in the layer table (it is one: the load generator) and imports
the stack, the API client and the settings below it.
"""
