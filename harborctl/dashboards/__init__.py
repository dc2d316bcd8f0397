"""Dashboards as code: Grafana dashboards rendered from ``templates/grafana/``, checked, written,
pushed to a Grafana, and drawn in the terminal.

- ``inputs``: the catalogue of dashboards and the template context (from the SLO/alerting
  spec the rules use, and the ``grafana:`` spec);
- ``model``: a typed reading of Grafana's dashboard JSON model and its checks;
- ``variables``: Grafana's variable substitution (``$tenant``, ``$__rate_interval``, ...);
- ``logql``, ``traceql``: strict syntax checkers; ``queries``: every query as a datasource
  receives it, checked;
- ``generate``: render, check and write the dashboards and the provisioning provider file;
- ``prometheus``: the PromQL HTTP API client; ``readings``: a dashboard's panels read from it;
  ``view``: those readings drawn with rich;
- ``grafana``: Grafana's HTTP API client and ``push``.
"""
