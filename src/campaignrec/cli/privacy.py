"""Privacy commands: erase shoppers, apply the retention period."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from campaignrec.cli.context import console, err_console, open_store, settings


def erase(
    user_ids: Annotated[list[str], typer.Argument(help="external user ids to erase")],
    actor: Annotated[
        str | None, typer.Option("--actor", help="who asks, for the audit log (default: cli:LOGIN)")
    ] = None,
    no_vacuum: Annotated[
        bool,
        typer.Option("--no-vacuum", help="skip rebuilding the database file (faster; see docs)"),
    ] = False,
    no_verify: Annotated[
        bool, typer.Option("--no-verify", help="skip searching every table and file afterwards")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Erase shoppers everywhere: store, quarantine, online state, profiles, exports, models.

    从所有位置删除顾客数据：存储、隔离区、在线状态、画像、导出文件与模型。
    """
    from campaignrec.privacy.erasure import erase_users

    store = open_store()
    try:
        report = erase_users(
            settings(),
            store,
            list(user_ids),
            actor=actor,
            vacuum=not no_vacuum,
            verify=not no_verify,
        )
    finally:
        store.close()
    if json_out:
        print(json.dumps(report.to_dict(), default=str))
    else:
        table = Table(title=f"erased {len(user_ids)} shopper(s) / 已删除 {len(user_ids)} 位顾客")
        table.add_column("where / 位置")
        table.add_column("removed / 删除", justify="right")
        for name, n in report.store.items():
            table.add_row(f"store: {name}", f"{n:,}")
        table.add_row(
            "online state keys / 在线状态",
            "-" if report.online_keys is None else f"{report.online_keys:,}",
        )
        table.add_row("model artifacts / 模型文件", f"{len(report.artifacts):,}")
        rewritten = report.files.get("rewritten", {})
        table.add_row("data files / 数据文件", f"{len(rewritten):,}")
        console.print(table)
        if report.online_note:
            console.print(f"[yellow]note:[/] {report.online_note}", highlight=False)
        for path in report.retrain_required:
            console.print(
                f"[yellow]retrain required / 需重新训练:[/] {path} (campaignrec train)",
                highlight=False,
            )
        console.print(
            f"database scrubbed / 数据库已清理: vacuum={report.scrub.get('vacuumed')}, "
            f"wal truncated={report.scrub.get('wal_truncated')}; "
            f"audit records / 审计记录 {report.audit_ids}",
            highlight=False,
        )
        if not no_verify:
            if report.verified:
                console.print("verified / 已验证: no trace left in any table or file")
            else:
                console.print(
                    f"[yellow]still found / 仍发现:[/] tables {report.remaining_tables}, "
                    f"files {report.remaining_files}",
                    highlight=False,
                )
    if not no_verify and not report.verified:
        err_console.print(
            "[bold red]error:[/] traces of the erased shopper remain (listed above)",
            highlight=False,
        )
        raise typer.Exit(1)


def retention(
    days: Annotated[
        float | None,
        typer.Option("--days", min=0.0001, help="delete events older than this (default: setting)"),
    ] = None,
    no_vacuum: Annotated[
        bool, typer.Option("--no-vacuum", help="skip rebuilding the database file")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Delete events older than the retention period (setting retention_days).

    删除超过保留期限（retention_days）的行为事件。
    """
    from campaignrec.privacy.retention import apply_retention

    store = open_store()
    try:
        result = apply_retention(settings(), store, days=days, vacuum=not no_vacuum)
    finally:
        store.close()
    if json_out:
        print(json.dumps(result.to_dict(), default=str))
        return
    console.print(
        f"deleted {result.events_deleted:,} events before {result.cutoff.isoformat()} "
        f"(retention {result.days:g} days) / 已删除 {result.events_deleted:,} 条早于保留期限的事件",
        highlight=False,
    )


def dp_release(
    table: Annotated[
        str, typer.Argument(help="segments, rfm_segments, funnel, heatmap or campaigns")
    ],
    epsilon: Annotated[float, typer.Option("--epsilon", "-e", help="privacy loss of this release")],
    max_events: Annotated[
        int, typer.Option("--max-events", min=1, help="per-shopper clip of event tables (Δ)")
    ] = 50,
    dataset: Annotated[str, typer.Option("--dataset", help="whose budget it is charged to")] = (
        "shop"
    ),
    actor: Annotated[str | None, typer.Option("--actor", help="who asks (audit log)")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="CSV file for the noisy counts")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Release a table of counts with ε-differential privacy (OpenDP), charged to the budget.

    以差分隐私（OpenDP）发布计数表，并计入隐私预算。
    """
    from campaignrec.privacy.dp import exact_table, release_counts
    from campaignrec.privacy.erasure import default_actor

    s = settings()
    store = open_store()
    try:
        counts, sensitivity = exact_table(
            store, table, max_events=max_events, profiles_dir=Path(s.home) / "profiles"
        )
        release = release_counts(
            store,
            s,
            counts,
            epsilon=epsilon,
            sensitivity=sensitivity,
            query=f"{table} (max_events={max_events})" if sensitivity > 1 else table,
            actor=actor or default_actor(),
            dataset=dataset,
        )
    finally:
        store.close()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        release.to_frame().to_csv(out, index=False)
    if json_out:
        print(json.dumps(release.to_dict(), default=str))
        return
    grid = Table(title=f"{table}: epsilon={release.epsilon:g}, sensitivity={release.sensitivity}")
    grid.add_column("key / 键")
    grid.add_column("noisy count / 加噪计数", justify="right")
    for key, value in list(release.values.items())[:50]:
        grid.add_row(key, f"{value:,}")
    console.print(grid)
    console.print(
        f"budget of '{release.dataset}' / 隐私预算: spent {release.spent_epsilon:g} of "
        f"{release.budget_epsilon:g}" + (f"; wrote {out}" if out else ""),
        highlight=False,
    )


def audit(
    since: Annotated[
        str | None,
        typer.Option("--since", help="only records at or after: ISO 8601 (UTC) or 7d / 12h / 30m"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="the newest N records")] = 1000,
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Read the audit log: API and console actions, erasures, retention runs, DP releases.

    读取审计日志：API 与控制台操作、删除、保留期清理、差分隐私发布。
    """
    from campaignrec.privacy.audit import parse_since, read_audit

    store = open_store()
    try:
        records = read_audit(store, since=parse_since(since), limit=limit)
    finally:
        store.close()
    if json_out:
        for r in records:
            print(json.dumps(r, ensure_ascii=False, default=str))
        return
    table = Table(title=f"audit log / 审计日志 ({len(records)})")
    for col in ("at / 时间", "actor / 操作者", "action / 操作", "status / 状态", "target / 对象"):
        table.add_column(col)
    for r in records:
        detail = r.get("detail") or {}
        targets = detail.get("targets") or {}
        shown = ", ".join(f"{k}={v}" for k, v in targets.items()) or (r.get("subject") or "")
        table.add_row(
            r["at"][:19].replace("T", " "),
            r["actor"],
            r["action"],
            str(detail.get("status", "")),
            shown,
        )
    console.print(table)
