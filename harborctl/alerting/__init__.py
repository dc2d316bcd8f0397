"""Alerting as code: SLO burn-rate rules and Alertmanager receivers.

- ``spec``: the ``slo:`` and ``alerting:`` sections of the config (pure models, defaults work);
- ``rules``: the alert catalogue and the Prometheus rule files rendered from the spec (pure);
- ``receivers``: Slack/email/webhook receivers, validated, secrets kept apart (pure);
- ``alertmanager``: alertmanager.yml rendered from the spec and the receivers (pure);
- ``store``: where receivers and their secrets live under the state dir (file I/O);
- ``tools``: the promtool/amtool adapter (subprocess);
- ``generate``: writes the files, each validated before it replaces the live one.
"""
