"""The local stack: what runs (``plan``), the native stack that runs it under supervisord, and
the compose stack run through ``docker compose``.

- ``model``: ``Component``, ``StackOptions``, ``StackPlan`` and the start stages (data);
- ``components``: one builder per component (NSQ, PostgreSQL, HarborHook's processes,
  Prometheus, Alertmanager) and the catalog of them (pure);
- ``jaeger``: the native stack's Jaeger: its ports, config and component;
- ``plan``: the plan and the environment of the children, what the stack shares (pure);
- ``supervisor``: supervisord's config rendered from a plan, and its XML-RPC client;
- ``native``: ``NativeStack``: up (wait until healthy), status, down;
- ``data``: what the native stack stored in its state dir (``down --volumes`` deletes it);
- ``health``, ``processes``, ``status``: health probes, process helpers, what is reported;
- ``configs``, ``prometheus``: the files Prometheus, Alertmanager and Jaeger read at start;
- ``compose``: whether the compose stack is an option (Docker engine, compose file);
- ``compose_stack``: ``ComposeStack``: up, down, status through ``docker compose``;
- ``compose_file``, ``compose_overlay``, ``compose_check``: the compose stack's committed files
  (rendered from the defaults), your overlay on them (receivers, alerting config), and its
  checks without a Docker engine.
"""
