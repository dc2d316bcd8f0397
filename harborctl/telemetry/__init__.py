"""Reading telemetry back: traces and logs, whatever store they were written to.

- ``trace_model``: spans and trace summaries, one model behind every trace reader;
- ``span_file``, ``tempo``: trace readers (the local span file, Tempo's HTTP API);
- ``trace_tail``: ``traces tail``: each trace reported once, when it stopped growing;
- ``log_query``: what ``logs tail`` asks for, as a local filter and as LogQL;
- ``log_files``, ``loki``: log readers (the local JSON lines files, Loki's HTTP API);
- ``log_tail``: ``logs tail``: the last lines, then new ones.
"""
