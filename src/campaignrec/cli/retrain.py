"""``campaignrec retrain`` (retraining behind a quality gate) and ``campaignrec health`` (drift and
health figures): thin faces over :mod:`campaignrec.pipeline.retrain` and
:mod:`campaignrec.pipeline.health`. With ``--json`` each prints exactly one JSON object."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from campaignrec.cli.context import console, open_store, print_campaign_models, settings
from campaignrec.errors import ValidationError


def retrain(
    min_new_events: Annotated[
        int,
        typer.Option(
            "--min-new-events",
            help="retrain only when at least this many item events arrived after the end of "
            "the active model's data",
        ),
    ] = 1_000,
    tolerance: Annotated[
        float,
        typer.Option(
            "--tolerance",
            help="how much worse the new version may be, as a share of the active version's "
            "NDCG@10 (0.02: 2 %%)",
        ),
    ] = 0.02,
    eval_days: Annotated[
        float,
        typer.Option(
            "--eval-days",
            help="judge on the most recent days (never on data the active version learned from)",
        ),
    ] = 7.0,
    force: Annotated[
        bool, typer.Option("--force", help="retrain even with fewer new events (the gate holds)")
    ] = False,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Retrain the active model family on fresh data and activate it only if it is not worse
    than the active version beyond --tolerance on the most recent days (a paired test).

    Also refreshes profiles and segments incrementally and refits the campaign uplift models.
    Exit code 0 whether it activated, kept the active version or had nothing to do.
    """
    from campaignrec.pipeline.retrain import retrain as run

    with console.status("retraining / 重新训练..."):
        report = run(
            open_store(),
            settings(),
            min_new_events=min_new_events,
            tolerance=tolerance,
            eval_days=eval_days,
            force=force,
            seed=seed,
        )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), default=str, ensure_ascii=False))
        return
    s = report.sentence
    console.print(f"[bold]{report.outcome}[/]: {s['en']}", highlight=False)
    console.print(f"[bold]{_OUTCOME_ZH[report.outcome]}[/]：{s['zh']}", highlight=False)
    j = (report.decision or {}).get("judgement")
    if j:
        t = Table(title="quality gate / 质量门 (per-user NDCG@10 / 每位顾客的 NDCG@10)")
        for col in ("window / 窗口", "shoppers / 顾客", "new / 新", "active / 当前", "diff / 差值",
                    "95% CI", "p (worse / 更差)"):  # fmt: skip
            t.add_column(col, justify="right")
        t.add_row(
            f"{j['window_start'][:16]} -> {j['window_end'][:16]}",
            f"{j['n_users']:,}",
            f"{j['mean_candidate']:.4f}",
            f"{j['mean_active']:.4f}",
            f"{j['diff']:+.4f}",
            f"[{j['ci_low']:+.4f}, {j['ci_high']:+.4f}]",
            f"{j['p_worse_beyond_margin']:.3g}",
        )
        console.print(t)
        if j.get("active_saw_window"):
            console.print(
                "[yellow]no new events: the active version learned from this window, so its "
                "configuration was refitted on the days before it and judged instead / "
                "没有新事件：当前版本见过该窗口的数据，因此用其配置在窗口之前的数据上重新训练后参与比较[/]"
            )
    if report.candidate_version:
        console.print(
            f"new version / 新版本: {report.model}:{report.candidate_version} "
            f"(served before / 此前: {report.active_version or '-'})",
            highlight=False,
        )
    if report.profiles:
        p = report.profiles
        console.print(
            f"profiles / 画像: {p.get('mode')} refresh, {p.get('new_events', 0):,} new events "
            f"folded in, {p.get('n_users', 0):,} shoppers",
            highlight=False,
        )
    cm = report.campaign_models
    if cm and cm.get("fitted"):
        print_campaign_models(cm)
    elif cm:
        console.print(f"campaign models not refitted / 活动模型未重训: {cm.get('reason')}")


_OUTCOME_ZH = {"activated": "已启用", "kept": "已保留", "skipped": "已跳过"}


def _fmt(x: Any, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def health(
    days: Annotated[float, typer.Option("--days", help="length of a 'week' in days")] = 7.0,
    at: Annotated[
        str | None, typer.Option("--at", help="as of this UTC time (default: now)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Drift and health: event volume and mix against last week, cold shoppers in recent
    traffic, served CTR by model version, the active model's age, the last retrain decision."""
    from campaignrec.pipeline.health import health_report

    if not days > 0:
        raise ValidationError("--days", "must be > 0", value=days)
    as_of = None
    if at is not None:
        try:
            as_of = datetime.fromisoformat(at)
        except ValueError:
            raise ValidationError("--at", "not an ISO time", value=at) from None
        as_of = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of
    r = health_report(open_store(), as_of=as_of, days=days)
    if as_json:
        typer.echo(json.dumps(r.to_dict(), default=str, ensure_ascii=False))
        return
    console.print(
        f"health as of / 截至 {r.as_of[:19]} UTC ({r.as_of_source}); a week / 一周 = {days:g} days",
        highlight=False,
    )
    t = Table(title="event mix / 事件构成")
    for col in ("event type / 类型", "this week / 本周", "last week / 上周", "change / 变化"):
        t.add_column(col, justify="left" if "type" in col else "right")
    for k in sorted(set(r.mix_this_week) | set(r.mix_last_week)):
        a, b = r.mix_this_week.get(k, 0), r.mix_last_week.get(k, 0)
        t.add_row(k, f"{a:,}", f"{b:,}", f"{a / b - 1:+.1%}" if b else "-")
    t.add_row("[bold]all / 合计", f"{r.events_this_week:,}", f"{r.events_last_week:,}",
              "-" if r.events_last_week == 0 else f"{r.volume_change:+.1%}")  # fmt: skip
    console.print(t)
    console.print(
        f"mix shift / 构成变化 PSI {_fmt(_finite(r.mix_psi), '.3f')} "
        "(< 0.1 stable / 稳定, > 0.25 large / 大幅变化)",
        highlight=False,
    )
    console.print(
        f"cold shoppers / 冷启动顾客: {r.cold_users:,} of {r.active_users:,} active "
        f"({_fmt(_finite(r.cold_user_share), '.1%')}), "
        f"{_fmt(_finite(r.cold_event_share), '.1%')} of this week's events ({r.cold_reference})",
        highlight=False,
    )
    if r.ctr_by_version:
        c = Table(title="served CTR by model version / 各模型版本的点击率")
        for col in ("version / 版本", "decisions / 决策", "clicks / 点击", "CTR"):
            c.add_column(col, justify="left" if "version" in col else "right")
        for row in r.ctr_by_version:
            c.add_row(row["version"], f"{row['decisions']:,}", f"{row['clicks']:,}",
                      f"{row['ctr']:.2%}")  # fmt: skip
        console.print(c)
    m = r.active_model
    if m:
        console.print(
            f"active model / 当前模型 {m['name']}:{m['version']}: age / 模型年龄 "
            f"{_fmt(m['age_days'], '.1f')} days, data age / 数据年龄 "
            f"{_fmt(m['data_age_days'], '.1f')} days",
            highlight=False,
        )
    else:
        console.print("no active model / 没有启用的模型 (campaignrec train)")
    if r.last_retrain:
        lr = r.last_retrain
        s = lr.get("sentence") or {}
        console.print(
            f"last retrain / 最近一次重训 ({lr['at'][:16]}): {s.get('en')}", highlight=False
        )
        console.print(f"  {s.get('zh')}", highlight=False)


def _finite(x: float) -> float | None:
    return x if x == x and abs(x) != float("inf") else None
