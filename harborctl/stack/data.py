"""What the native stack stored in its state dir, and removing it (``harborctl down --volumes``).

The data is what the compose stack keeps in its named volumes: the SQLite database (with its
journal files), the nsqd data dirs, the stack's PostgreSQL cluster, Prometheus' TSDB,
Alertmanager's silences and notification log, and the span file. The config, the admin key,
the alert receivers and their secrets, the generated configs and the logs stay.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harborctl.layout import StateLayout
from harborctl.stack.postgres import remove_stack_cluster

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def stack_data_paths(layout: StateLayout) -> list[Path]:
    """The data paths of ``layout`` that exist now (files and directories), sorted."""
    sqlite = layout.sqlite_file
    candidates = [
        sqlite,
        *(sqlite.with_name(sqlite.name + suffix) for suffix in SQLITE_SIDE_FILES),
        layout.nsqd_data_dir,
        *layout.root.glob("nsqd-*"),
        layout.postgres_dir,
        layout.prometheus_data_dir,
        layout.alertmanager_data_dir,
        layout.spans_file.parent,
    ]
    return sorted(path for path in candidates if path.exists() or path.is_symlink())


def remove_stack_data(layout: StateLayout) -> list[Path]:
    """Delete every path of ``stack_data_paths`` (the stack must be down); returns them."""
    removed = stack_data_paths(layout)
    for path in removed:
        if path == layout.postgres_dir:
            remove_stack_cluster(layout)  # the cluster may live outside, behind a link
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return removed
