"""``campaignrec push plan|send|report``: who gets a campaign's push, when, through which
channel; delivering it; what it did against the holdout.

The steps live in :mod:`campaignrec.push.run` (``plan_push``, ``send_push``) and
:func:`campaignrec.push.report.push_report`; this module parses the options, calls them and
prints a summary (English and 简体中文).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from campaignrec.cli import context
from campaignrec.errors import ValidationError

app = typer.Typer(help="Push: plan (recipients, send time, channel, caps, holdout), send, report.")


def _moment(at: str | None, flag: str = "--at") -> datetime:
    import pandas as pd

    if at is None:
        return datetime.now(UTC)
    try:
        ts = pd.Timestamp(at)
    except ValueError as exc:
        raise ValidationError(
            flag, "not a timestamp", value=at, hint="e.g. 2025-01-15T10:00Z"
        ) from exc
    if pd.isna(ts):
        raise ValidationError(flag, "not a timestamp", value=at)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def plan_cmd(
    out: Annotated[Path, typer.Option("--out", help="plan file (.csv or .parquet)")],
    campaign_id: Annotated[
        str | None, typer.Argument(help="campaign id (or --products)", show_default=False)
    ] = None,
    products: Annotated[
        bool,
        typer.Option("--products", help="a product-recommendation push: each shopper's top items"),
    ] = False,
    k: Annotated[int, typer.Option("--k", help="items per shopper (--products)")] = 3,
    day: Annotated[
        str | None,
        typer.Option("--day", help="the push's day, YYYY-MM-DD (--products; default: today)"),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", help="at most this many recipients, by value (--products)"),
    ] = None,
    margin_rate: Annotated[
        float, typer.Option("--margin-rate", help="gross margin share of a sale (--products)")
    ] = 0.3,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="model to rank with (--products)")
    ] = None,
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
    """Plan CAMPAIGN_ID's pushes (or, with --products, a product-recommendation push for one
    day, campaign id products-<day>) and write them to --out (one row per push).

    Quiet hours, caps, consent, quotas and the holdout share come from the ``[push]`` settings
    (defaults: quiet 22:00-08:00 local, 1 push a day and 3 a week per shopper, no push without
    consent). The plan and its holdout are recorded in the push ledger unless --dry-run.
    """
    from campaignrec.push.ledger import ledger_path, write_plan
    from campaignrec.push.run import plan_product_push, plan_push
    from campaignrec.store.online import online_for

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ValidationError(
            "--out", "must end in .csv or .parquet", value=str(out), hint="e.g. plan.csv"
        )
    if products == (campaign_id is not None):
        raise ValidationError(
            "CAMPAIGN_ID",
            "name a campaign or pass --products, not both / 请指定活动或使用 --products（二选一）"
            if products
            else "name a campaign or pass --products / 请指定活动 ID 或使用 --products",
            hint="campaignrec push plan c003 --out plan.csv, or push plan --products --out p.csv",
        )
    if not products:
        used = [f for f, v in (("--day", day), ("--limit", limit)) if v is not None]
        if used:
            raise ValidationError(used[0], "only with --products / 仅用于 --products")
    cfg = context.settings()
    store = context.open_store()
    online = online_for(cfg)
    if products:
        from campaignrec.push.products import check_k, parse_day
        from campaignrec.ranking import Ranker

        if uplift is not None:
            raise ValidationError("--uplift", "only for a campaign / 仅用于活动推送")
        now = _moment(at)
        check_k(k)
        parse_day(day, now, cfg.push)  # a bad day is refused before the model is loaded
        if limit is not None and limit < 1:
            raise ValidationError("--limit", "must be at least 1 / 至少为 1", value=limit)
        ranker = Ranker.from_store(store, cfg, online, model_name=model)
        result = plan_product_push(
            store,
            ranker,
            now=now,
            settings=cfg.push,
            ledger=ledger_path(cfg.home),
            k=k,
            day=day,
            limit=limit,
            margin_rate=margin_rate,
            state=online,
            record=not dry_run,
        )
    else:
        result = plan_push(
            store,
            str(campaign_id),
            now=_moment(at),
            settings=cfg.push,
            ledger=ledger_path(cfg.home),
            uplift=uplift,
            state=online,
            record=not dry_run,
        )
    write_plan(result.plan.table, out)
    summary = result.summary()
    summary["out"] = str(out)
    if json_out:
        print(json.dumps(summary, ensure_ascii=False))
        return
    context.print_push_plan(summary)


def send_cmd(
    plan_file: Annotated[Path, typer.Argument(help="plan file of 'push plan' (.csv / .parquet)")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="amqp://user:pass@host:5672/vhost or https://webhook"),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="a configured target's name ([push.targets.NAME])"),
    ] = None,
    exchange: Annotated[
        str, typer.Option("--exchange", help="RabbitMQ exchange (default: the default one)")
    ] = "",
    queue: Annotated[
        str | None, typer.Option("--queue", help="RabbitMQ queue (declared durable)")
    ] = None,
    now: Annotated[
        str | None, typer.Option("--now", help="treat this moment as now (UTC if no offset)")
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", min=0, help="keep running up to this many seconds for rows coming due"
        ),
    ] = 0.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what is due; send and record nothing")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Send the rows of PLAN_FILE that are due (send_at <= now), one message per recipient.

    Each message carries an idempotency key (a hash of campaign, shopper and send time) and is
    recorded in <data dir>/push/sent.jsonl once the broker confirmed it (RabbitMQ publisher
    confirms; a webhook's 2xx, with retries on 5xx), so a rerun never sends it again.
    """
    from campaignrec.push.run import send_push
    from campaignrec.push.send import read_plan

    plan = read_plan(plan_file)
    cfg = context.settings()
    if target is not None:
        from campaignrec.push.targets import named_target

        if to:
            raise ValidationError("--target", "give --to or --target, not both")
        named = named_target(target, cfg.push)
        to, exchange, queue = named.url, exchange or named.exchange, queue or named.queue
    if not dry_run and not to:
        raise ValidationError(
            "--to", "name the broker or webhook", hint="or --target NAME, or pass --dry-run"
        )
    result = send_push(
        cfg.home,
        plan,
        to,
        exchange=exchange,
        queue=queue,
        now=_moment(now, "--now"),
        wait_seconds=wait,
        dry_run=dry_run,
    )
    summary = result.summary()
    summary["plan"] = str(plan_file)
    if json_out:
        print(json.dumps(summary, ensure_ascii=False))
        return
    context.console.print(_send_line(summary), highlight=False)


def _send_line(s: dict[str, object]) -> str:
    nxt = s["next_due"] or "-"
    if s["dry_run"]:
        return (
            f"dry run / 试运行: {s['due']:,} due now / 条到期, {s['already_sent']:,} already "
            f"sent / 条已发送, {s['not_due']:,} later / 条未到期 (next / 下一条 {nxt})"
        )
    rejected = s["rejected"]
    assert isinstance(rejected, list)
    line = (
        f"sent / 已发送 {s['sent']:,} -> {s['to']}; {s['already_sent']:,} already sent / 条此前"
        f"已发送, {s['not_due']:,} not yet due / 条未到期 (next / 下一条 {nxt})"
    )
    if rejected:
        line += f"; {len(rejected):,} rejected by the receiver / 条被接收方拒绝"
    return line


def report_cmd(
    campaign_id: Annotated[str, typer.Argument(help="campaign id")],
    window_days: Annotated[
        float, typer.Option("--window-days", help="days after send_at that count")
    ] = 7.0,
    at: Annotated[str | None, typer.Option("--at", help="report as of (UTC)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Opens, clicks, conversions, revenue and opt-outs of CAMPAIGN_ID's pushed shoppers against
    its holdout, with the incremental effect and its 95 % interval."""
    from campaignrec.push.ledger import ledger_path
    from campaignrec.push.report import push_report

    cfg = context.settings()
    report = push_report(
        context.open_store(),
        ledger_path(cfg.home),
        campaign_id,
        window_days=window_days,
        now=_moment(at),
    )
    if json_out:
        print(json.dumps(report, ensure_ascii=False))
        return
    _print_report(report)


def _num(x: object, metric: str) -> str:
    if x is None:
        return "-"
    assert isinstance(x, float | int)
    return f"{x:,.2f}" if metric == "revenue" else f"{100 * x:.2f}%"


def _pts(x: object, metric: str) -> str:
    if x is None:
        return "-"
    assert isinstance(x, float | int)
    return f"{x:+,.2f}" if metric == "revenue" else f"{100 * x:+.2f} pt"


def _print_report(r: dict[str, object]) -> None:
    from rich.table import Table

    basis = {
        "sent": "sent / 已发送",
        "partly_sent": f"{r['sent']:,} sent / 已发送",
        "planned": "planned, nothing sent yet / 仅计划，尚未发送",
    }[str(r["basis"])]
    context.console.print(
        f"push report for / 推送报告 [bold]{r['campaign_id']}[/]: treatment / 推送组 "
        f"{r['treatment']:,} ({r['pushed']:,} pushed / 推送, {basis}; {r['left_out']:,} left out "
        f"by the rules / 因规则未推送), holdout / 对照组 {r['holdout']:,}, window / 窗口 "
        f"{r['window_days']:g} days / 天"
        + ("" if r["window_complete"] else " (still open / 尚未结束)"),
        highlight=False,
    )
    table = Table()
    for col in (
        "metric / 指标",
        "treatment / 推送组",
        "holdout / 对照组",
        "effect / 增量",
        "95% interval / 区间",
    ):
        table.add_column(col, justify="left" if col.startswith("metric") else "right")
    metrics = r["metrics"]
    assert isinstance(metrics, list)
    for m in metrics:
        k = m["metric"]
        ci = (
            f"{_pts(m['ci_low'], k)} .. {_pts(m['ci_high'], k)}" if m["ci_low"] is not None else "-"
        )
        table.add_row(
            f"{m['label_en']} / {m['label_zh']}",
            _num(m["treatment"], k),
            _num(m["holdout"], k),
            _pts(m["difference"], k),
            ci,
        )
    context.console.print(table)
    sentences = r["sentences"]
    assert isinstance(sentences, dict)
    context.console.print(sentences["en"], highlight=False)
    context.console.print(sentences["zh"], highlight=False)


app.command("plan")(plan_cmd)
app.command("send")(send_cmd)
app.command("report")(report_cmd)
