"""``campaignrec campaigns``: list, show, check eligibility, plan a campaign.

Every command reads the store of the selected data directory (``--data-dir``); ``check`` also
reads the online state (``online_url``) for budgets, inventory, caps and exclusivity.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.table import Table

from campaignrec.cli import context
from campaignrec.errors import ValidationError

if TYPE_CHECKING:
    from campaignrec.campaigns.catalog import Catalog

app = typer.Typer(help="Campaigns: list, show, check a user's eligibility, plan before launch.")


def _now(at: str | None) -> datetime:
    import pandas as pd

    if at is None:
        return datetime.now(UTC)
    try:
        ts = pd.Timestamp(at)
    except ValueError as exc:
        raise ValidationError(
            "--at", "not a timestamp", value=at, hint="e.g. 2025-01-15T10:00Z"
        ) from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def _catalog(store: Any) -> Catalog:
    from campaignrec.pipeline.campaigns import load_catalog

    return load_catalog(store)


def list_cmd(
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    at: Annotated[str | None, typer.Option("--at", help="moment for window states (UTC)")] = None,
) -> None:
    """Every campaign with its type, status, window state, budget and inventory."""
    from campaignrec.campaigns.catalog import window_state

    store = context.open_store()
    cat = _catalog(store)
    now = _now(at)
    rows: list[dict[str, Any]] = [
        {
            "campaign_id": c.campaign_id,
            "name": c.name,
            "type": c.type,
            "status": c.status,
            "state": window_state(c, now),
            "start_time": c.start_time.isoformat() if c.start_time else None,
            "end_time": c.end_time.isoformat() if c.end_time else None,
            "budget": c.budget,
            "inventory": c.inventory,
            "priority": c.priority,
            "exclusivity_group": c.exclusivity_group,
        }
        for c in cat
    ]
    if json_out:
        print(json.dumps({"campaigns": rows, "at": now.isoformat()}, ensure_ascii=False))
        return
    table = Table(title=f"campaigns ({len(rows)}) at {now:%Y-%m-%d %H:%M} UTC")
    for col in ("id", "name", "type", "state", "window", "budget", "inventory", "prio", "group"):
        table.add_column(col, justify="right" if col in ("budget", "inventory", "prio") else "left")
    for r in rows:
        window = f"{(r['start_time'] or '')[:10]} .. {(r['end_time'] or '')[:10]}"
        table.add_row(
            r["campaign_id"],
            r["name"],
            r["type"],
            r["state"],
            window,
            context.money(r["budget"]),
            "-" if r["inventory"] is None else f"{r['inventory']:,}",
            str(r["priority"]),
            r["exclusivity_group"] or "-",
        )
    context.console.print(table)


def _state() -> Any:
    from campaignrec.store.online import online_for

    return online_for(context.settings())


def show_cmd(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    at: Annotated[
        str | None, typer.Option("--at", help="moment for the window state (UTC)")
    ] = None,
) -> None:
    """One campaign in full, with its remaining budget and inventory in the online state."""
    from campaignrec.campaigns.catalog import window_state
    from campaignrec.campaigns.eligibility import DEFAULT_KEYS

    store = context.open_store()
    c = _catalog(store).get(campaign_id)
    now = _now(at)
    state = _state()
    rec = c.model_dump(mode="json")
    rec["state"] = window_state(c, now)
    rec["budget_left"] = state.get_budget(DEFAULT_KEYS.budget(c.campaign_id))
    rec["inventory_left"] = state.get_budget(DEFAULT_KEYS.inventory(c.campaign_id))
    if json_out:
        print(json.dumps(rec, ensure_ascii=False))
        return
    table = Table(title=f"campaign {c.campaign_id}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for k, v in rec.items():
        if v in (None, [], {}):
            continue
        table.add_row(
            k, json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)
        )
    context.console.print(table)


def check_cmd(
    user_id: Annotated[str, typer.Argument(help="user id")],
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    at: Annotated[str | None, typer.Option("--at", help="moment of the check (UTC)")] = None,
    lang: Annotated[str, typer.Option("--lang", help="en or zh")] = "en",
) -> None:
    """Is USER_ID eligible for CAMPAIGN_ID now, and if not, which conditions fail."""
    from campaignrec.pipeline.campaigns import check_eligibility

    store = context.open_store()
    now = _now(at)
    res = check_eligibility(store, campaign_id, user_id, now, _state)
    if json_out:
        print(
            json.dumps(
                {"user_id": user_id, "at": now.isoformat(), **res.to_dict()}, ensure_ascii=False
            )
        )
        return
    style = "green" if res.eligible else "red"
    context.console.print(
        f"[{style}]{user_id} / {campaign_id}: {res.text(lang)}[/]", highlight=False
    )


def plan_cmd(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    uplift: Annotated[
        Path | None,
        typer.Option(
            "--uplift", help="CSV/Parquet of user_id, p_control, p_treated (model output)"
        ),
    ] = None,
    segment_field: Annotated[
        str, typer.Option("--segment-field", help="attribute that groups users in the fallback")
    ] = "segment",
    order_value: Annotated[
        float, typer.Option("--order-value", help="value of a conversion")
    ] = 50.0,
    margin_rate: Annotated[float, typer.Option("--margin-rate", help="gross margin share")] = 0.3,
    objective: Annotated[str, typer.Option("--objective", help="profit or conversions")] = "profit",
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
    at: Annotated[str | None, typer.Option("--at", help="planning moment (UTC)")] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="directory for plan.json and recipients.parquet (+ scores/ on Spark)"
        ),
    ] = None,
    engine: context.EngineOpt = "local",
    spark_master: context.SparkMasterOpt = "local[*]",
    spark_conf: context.SparkConfOpt = None,
    spark_input: context.SparkInputOpt = None,
    mapping: context.SparkMappingOpt = None,
) -> None:
    """Audience size, expected cost, incremental conversions and ROI before launch.

    Uses uplift estimates from ``--uplift`` when given; else the uplift model fitted on the
    store's logged exposures (``campaignrec uplift --from-store`` or ``campaignrec retrain``);
    otherwise the *fallback*: the logged response rates with and without the offer, per segment
    (``--segment-field``), shrunk towards the campaign's overall rates (all campaigns' when this
    one has no logged exposures). ``--engine spark`` plans every shopper as a Spark job and needs
    ``--out``.
    """
    from campaignrec.pipeline.campaigns import plan_for, save_plan
    from campaignrec.pipeline.uplift import campaign_models_dir

    if objective not in ("profit", "conversions"):
        raise ValidationError("--objective", "must be profit or conversions", value=objective)
    obj: Literal["profit", "conversions"] = "profit" if objective == "profit" else "conversions"
    spark = context.spark_options(engine, spark_master, spark_conf, spark_input, mapping)
    kw: dict[str, Any] = dict(
        now=_now(at),
        uplift=uplift,
        segment_field=segment_field,
        order_value=order_value,
        margin_rate=margin_rate,
        objective=obj,
    )
    if spark is not None:
        if out is None:
            raise ValidationError(
                "--out",
                "--engine spark writes the plan as Parquet: give a directory",
                hint="e.g. --out plans/spring",
            )
        from campaignrec.engines.spark.jobs import plan_campaign_all_spark

        with context.console.status("planning on Spark..."):
            result = plan_campaign_all_spark(
                context.open_store(), context.settings().home, campaign_id, out, spark, **kw
            )
    else:
        # the uplift model fitted on the store's own exposures (uplift --from-store, retrain);
        # FALLBACK: the Spark plan does not read it yet (--uplift FILE or the per-segment rates)
        models = campaign_models_dir(context.settings().home)
        result = plan_for(context.open_store(), campaign_id, models_dir=models, **kw)
        if out is not None:
            save_plan(result, out)
    if json_out:
        print(json.dumps(result.plan, ensure_ascii=False))
        return
    context.print_plan(result)


app.command("list")(list_cmd)
app.command("show")(show_cmd)
app.command("check")(check_cmd)
app.command("plan")(plan_cmd)
