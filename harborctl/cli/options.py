"""Options shared by several commands, as ``Annotated`` aliases: one definition, one help text.

Use them as the parameter's type, the default as its value::

    def list_(tenant: TenantId = None, api_url: ApiUrl = None, as_json: JsonFlag = False): ...

Each command's ``--help`` shows them in full (flag, environment variable, help text).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

JsonFlag = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")
]

# connection to the ingest HTTP API
ApiUrl = Annotated[
    str | None,
    typer.Option(
        "--api-url",
        envvar="HARBORHOOK_API_URL",
        show_envvar=True,
        help="Base URL of the ingest API (default http://127.0.0.1:8080, or api_url in the "
        "config).",
    ),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="HARBORHOOK_API_KEY",
        show_envvar=True,
        help="The tenant's API key (falls back to the admin key).",
    ),
]
AdminKey = Annotated[
    str | None,
    typer.Option(
        "--admin-key",
        envvar="HARBORHOOK_ADMIN_KEY",
        show_envvar=True,
        help="The admin key (default: the admin key file in the state dir).",
    ),
]
TenantId = Annotated[
    str | None,
    typer.Option(
        "--tenant",
        envvar="HARBORHOOK_TENANT_ID",
        show_envvar=True,
        help="Tenant id (from `harborctl tenants create`). Required.",
    ),
]

# the local stack
StateDir = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        help="State dir of the stack (default: settings state_dir, HARBORHOOK_STATE_DIR).",
    ),
]
