"""``campaignrec push plan``: who gets a campaign's push, when, and through which channel.

The planning step lives in :func:`campaignrec.push.run.plan_push`; this module parses the
options, calls it, writes the plan file and prints a summary (English and 简体中文).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from campaignrec.cli import context
from campaignrec.errors import ValidationError

app = typer.Typer(help="Push planning: recipients, send time, channel, caps, holdout.")


def _moment(at: str | None) -> datetime:
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


def plan_cmd(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    out: Annotated[Path, typer.Option("--out", help="plan file (.csv or .parquet)")],
    uplift: Annotated[
        Path | None,
        typer.Option("--uplift", help="CSV/Parquet of user_id, p_control, p_treated"),
    ] = None,
    at: Annotated[str | None, typer.Option("--at", help="planning moment (UTC)")] = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="do not record the plan in the push ledger"),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Plan CAMPAIGN_ID's pushes and write them to --out (one row per push).

    Quiet hours, caps, consent, quotas and the holdout share come from the ``[push]`` settings
    (defaults: quiet 22:00-08:00 local, 1 push a day and 3 a week per shopper, no push without
    consent). The plan and its holdout are recorded in the push ledger unless --dry-run.
    """
    from campaignrec.push.ledger import ledger_path, write_plan
    from campaignrec.push.run import plan_push
    from campaignrec.store.online import online_for

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ValidationError(
            "--out", "must end in .csv or .parquet", value=str(out), hint="e.g. plan.csv"
        )
    cfg = context.settings()
    store = context.open_store()
    result = plan_push(
        store,
        campaign_id,
        now=_moment(at),
        settings=cfg.push,
        ledger=ledger_path(cfg.home),
        uplift=uplift,
        state=online_for(cfg),
        record=not dry_run,
    )
    write_plan(result.plan.table, out)
    summary = result.summary()
    summary["out"] = str(out)
    if json_out:
        print(json.dumps(summary, ensure_ascii=False))
        return
    context.print_push_plan(summary)


app.command("plan")(plan_cmd)
