"""Outbound HTTP: the adapter that POSTs signed events to endpoints.

Below the services: the delivery service is written against the domain's
``AttemptResult``, and this package is where the client's library and its exceptions stop.
"""
