"""Alerting as code: SLO burn-rate rules, Alertmanager's config and its HTTP client.

The spec they are built from (the ``slo:`` and ``alerting:`` sections of the config) is
``harborctl.alerting_spec``, beside the settings.

- ``rules``: the alert catalogue and the Prometheus rule files rendered from the spec (pure);
- ``receivers``: Slack/email/webhook receivers, validated, secrets kept apart (pure);
- ``alertmanager``: alertmanager.yml built from the spec and the receivers (pure);
- ``store``: the receivers and their secrets read back from the state dir (file I/O);
- ``tools``: the promtool/amtool adapter (subprocess);
- ``client``: Alertmanager's HTTP API (post alerts, list them, reload, readiness);
- ``testalert``: the synthetic alert of ``alerts send-test`` (pure);
- ``ruletests``: ``alerts test``: promtool unit tests of the rules;
- ``generate``: writes the files, each validated before it replaces the live one.
"""
