"""harborctl tenants: create and list tenants (needs the admin key)."""

from __future__ import annotations

import typer

from harborctl.cli.options import AdminKey, ApiUrl, JsonFlag
from harborctl.cli.output import (
    console,
    emit,
    print_fields,
    print_table,
)

app = typer.Typer(
    help="Create and list tenants. Uses the admin key (HARBORHOOK_ADMIN_KEY or the key file "
    "in the state dir), never a tenant's HARBORHOOK_API_KEY.",
    no_args_is_help=True,
)


@app.command("create")
def create(
    name: str = typer.Argument(..., metavar="NAME", help="A human name for the tenant, e.g. acme."),
    api_url: ApiUrl = None,
    admin_key: AdminKey = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a tenant and print its id and API key (the key is shown only here)."""
    from harborctl.client import open_client

    with open_client(api_url, admin_key, admin=True) as client:
        data = client.create_tenant(name)

    def human() -> None:
        print_fields(
            {
                "tenant_id": data.get("tenant_id"),
                "name": data.get("name"),
                "api_key": data.get("api_key"),
                "created_at": data.get("created_at"),
            }
        )
        console.print(
            "\nThe API key is shown only now. To use this tenant from the CLI:\n"
            f"  export HARBORHOOK_TENANT_ID={data.get('tenant_id')} "
            f"HARBORHOOK_API_KEY={data.get('api_key')}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )

    emit(data, as_json, human)


@app.command("list")
def list_(
    api_url: ApiUrl = None,
    admin_key: AdminKey = None,
    as_json: JsonFlag = False,
) -> None:
    """List every tenant (never their keys)."""
    from harborctl.client import open_client

    with open_client(api_url, admin_key, admin=True) as client:
        data = client.list_tenants()
    tenants = data.get("tenants", [])
    emit(
        data,
        as_json,
        lambda: print_table(tenants, ["tenant_id", "name", "created_at"], title="tenants"),
    )
