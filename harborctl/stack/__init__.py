"""The local stack: what runs (``plan``), and the native stack that runs it under supervisord.

- ``plan``: components, options, the plan and the environment of the children (pure);
- ``supervisor``: supervisord's config rendered from a plan, and its XML-RPC client;
- ``native``: ``NativeStack``: up (wait until healthy), status, down;
- ``health``, ``processes``, ``status``: health probes, process helpers, what is reported;
- ``configs``, ``prometheus``: the files Prometheus and Alertmanager read at start;
- ``compose``: whether the compose stack is an option (Docker engine, compose file);
- ``compose_file``, ``compose_overlay``, ``compose_check``: the compose stack's committed files
  (rendered from the defaults), your overlay on them (receivers, alerting config), and its
  checks without a Docker engine.
"""
