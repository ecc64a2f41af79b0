"""``campaignrec serve``, ``campaignrec keys ...`` and ``campaignrec campaigns for USER``.

The service (FastAPI, uvicorn) is imported inside the commands so that ``--help`` stays fast.

Imports only :mod:`campaignrec.cli.context` from the CLI.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated

import typer

from campaignrec.cli.context import console, open_store, settings

keys_app = typer.Typer(help="API keys: create (shown once), list, revoke.", no_args_is_help=True)


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
) -> None:
    """Serve the HTTP API (docs at /docs) with uvicorn."""
    from campaignrec.service.runner import run

    console.print(f"serving on http://{host}:{port} (OpenAPI docs: http://{host}:{port}/docs)")
    run(settings(), host=host, port=port, workers=workers)


@keys_app.command("create")
def keys_create(
    scopes: Annotated[str, typer.Option(help="comma-separated: ingest, read, admin")] = "read",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON line")] = False,
) -> None:
    """Create an API key and print it once (only its salted hash is stored)."""
    from campaignrec.service.auth import KeyStore

    key, rec = KeyStore(open_store()).create(scopes)
    if as_json:
        typer.echo(json.dumps({"key": key, "id": rec.id, "scopes": list(rec.scopes)}))
    else:
        console.print(f"key {rec.id} ({','.join(rec.scopes)}): {key}", highlight=False)
        console.print("[dim]store it now: it is not shown again[/]")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids and scopes; never the keys)."""
    from campaignrec.service.auth import KeyStore

    for rec in KeyStore(open_store()).list():
        state = "revoked" if rec.revoked else "active"
        console.print(f"{rec.id}\t{','.join(rec.scopes)}\t{state}", highlight=False)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[int, typer.Argument(help="key id (see keys list)")]) -> None:
    """Revoke a key."""
    from campaignrec.service.auth import KeyStore

    KeyStore(open_store()).revoke(key_id)
    console.print(f"revoked key {key_id}")


def campaigns_for(
    user_id: Annotated[str, typer.Argument(help="the shopper's id")],
    k: Annotated[int, typer.Option("-k", min=1, help="campaigns at most")] = 3,
) -> None:
    """Serve the best eligible campaigns to USER (spends caps, inventory, budget; logged)."""
    from campaignrec.service.campaigns import serve_user_campaigns
    from campaignrec.store.online import online_for

    store = open_store()
    online = online_for(settings())
    from campaignrec.privacy import pseudonymise_user_id

    stored_id = pseudonymise_user_id(settings(), user_id)  # as the store knows the shopper
    out = serve_user_campaigns(
        store, online, stored_id, k, datetime.now(UTC), policy=settings().campaign_policy
    )
    typer.echo(json.dumps(out, default=str))
