"""``campaignrec generate``: write a synthetic shop (and optionally load it into the store)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from campaignrec.cli.context import console, open_store, settings
from campaignrec.errors import ValidationError

ENTITIES = ("users", "items", "campaigns", "events")


def generate(
    out: Annotated[Path, typer.Argument(help="folder to write the shop into")] = Path("shop"),
    users: Annotated[int, typer.Option("--users", help="number of users")] = 2_000,
    items: Annotated[int, typer.Option("--items", help="number of items")] = 500,
    events: Annotated[int, typer.Option("--events", help="number of events (exact)")] = 100_000,
    campaigns: Annotated[int, typer.Option("--campaigns", help="number of campaigns")] = 12,
    days: Annotated[int, typer.Option("--days", help="length of the observed window")] = 60,
    seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same shop)")] = 0,
    fmt: Annotated[str, typer.Option("--fmt", help="file format: csv or parquet")] = "csv",
    load: Annotated[
        bool, typer.Option("--load", help="import the files into the selected store")
    ] = False,
) -> None:
    """Generate a synthetic shop with planted shopper types, tastes, pairs and campaign uplift.

    Writes users, items, campaigns and events in the canonical layout plus the planted truth
    under ``truth/`` (see docs/synthetic.md); events are streamed in chunks, so memory stays
    bounded for millions of events.
    """
    import pandas as pd

    from campaignrec.data.synthetic import ShopConfig, write_shop

    if fmt not in ("csv", "parquet"):
        raise ValidationError("fmt", "must be 'csv' or 'parquet'", value=fmt, hint="--fmt parquet")
    cfg = ShopConfig(
        n_users=users,
        n_items=items,
        n_events=events,
        n_campaigns=campaigns,
        days=days,
        seed=seed,
    )
    started = time.perf_counter()
    with console.status("generating the shop..."):
        written = write_shop(cfg, out, fmt=fmt)
    seconds = time.perf_counter() - started
    table = Table(title=f"synthetic shop (seed {seed}) in {out}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    sizes = {"users": users, "items": items, "campaigns": campaigns, "events": events}
    for name in ENTITIES:
        table.add_row(name, f"{sizes[name]:,}", str(written[name]))
    table.add_row(
        "truth", f"{sum(k.startswith('truth/') for k in written)} tables", str(out / "truth")
    )
    console.print(table)
    types = pd.read_parquet(written["truth/user_type"])["user_type"].value_counts()
    planted = Table(title="planted shopper types (truth/user_type.parquet)")
    planted.add_column("type")
    planted.add_column("users", justify="right")
    for kind, count in types.items():
        planted.add_row(str(kind), f"{int(count):,}")
    console.print(planted)
    console.print(f"written in {seconds:.1f} s")
    if load:
        _load(written)


def _load(written: dict[str, Path]) -> None:
    """Import the written files into the store of the selected data directory."""
    from campaignrec.data.importer import import_file
    from campaignrec.privacy.edge import privacy_edge

    store = open_store()
    edge = privacy_edge(settings(), store)
    table = Table(title="loaded into the store")
    table.add_column("table")
    table.add_column("accepted", justify="right")
    table.add_column("duplicates", justify="right")
    table.add_column("quarantined", justify="right")
    for name in ENTITIES:
        summary = import_file(store, name, written[name], edge=edge)
        table.add_row(
            name, f"{summary.accepted:,}", f"{summary.duplicates:,}", f"{summary.quarantined:,}"
        )
    console.print(table)
