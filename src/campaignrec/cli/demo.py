"""``campaignrec demo``: the whole offline pipeline on a generated shop, narrated step by step.

1. a synthetic shop (seeded) written as canonical CSV files; 2. validated import into the store,
plus a file of deliberately bad rows to show the quarantine; 3. profiles and K-Means segments;
4. the default model chosen and tuned on a validation split; 5. recommendations with
explanations and a batch export; 6. uplift models fitted on the shop's logged exposures and a
campaign plan (reach, cost, incremental conversions, ROI of uplift, response and random targeting
with the same budget);
7. a push plan for one campaign (send time, channel, caps, holdout; docs/push.md).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from campaignrec.cli.context import (
    console,
    open_store,
    print_campaign_models,
    print_init,
    print_plan,
    print_push_plan,
    print_stats,
    selection_table,
    settings,
)
from campaignrec.errors import CampaignrecError

BAD_ROWS = """event_id,user_id,event_type,item_id,timestamp,price
,u0001,view,i0001,2025-02-01T10:00:00Z,
,,view,i0002,2025-02-01T10:01:00Z,
,u0002,view,i0003,not-a-time,
,u0003,purchase,i0004,2025-02-01T10:03:00Z,-5
,u0004,teleport,i0005,2025-02-01T10:04:00Z,
,u0001,view,i0001,2025-02-01T10:00:00Z,
"""


def _step(n: int, text: str) -> None:
    console.rule(f"[bold]{n}. {text}")


def demo(
    users: Annotated[int, typer.Option("--users", help="shoppers in the generated shop")] = 3_000,
    items: Annotated[int, typer.Option("--items", help="items in the catalogue")] = 600,
    events: Annotated[int, typer.Option("--events", help="behaviour events")] = 150_000,
    trials: Annotated[int, typer.Option("--trials", help="tuning trials per candidate")] = 3,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve/--no-serve",
            help="end by serving the demo shop over HTTP (make demo does); Ctrl-C stops it",
        ),
    ] = False,
    host: Annotated[str, typer.Option(help="with --serve: address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="with --serve: port")] = 8000,
) -> None:
    """Run the pipeline end to end on a synthetic shop and say what it did (then serve it)."""
    from campaignrec.data.importer import import_file
    from campaignrec.data.synthetic import ShopConfig, write_shop
    from campaignrec.pipeline import train
    from campaignrec.pipeline.campaigns import plan_for
    from campaignrec.pipeline.profiles import ensure_profiles, profiles_dir
    from campaignrec.pipeline.shop import init_shop, store_stats
    from campaignrec.pipeline.uplift import campaign_models_dir, fit_campaign_models
    from campaignrec.ranking import Ranker, recommend_frame
    from campaignrec.store.online import online_for

    started = time.perf_counter()
    s = settings()
    done: list[str] = []

    _step(1, "a synthetic shop")
    print_init(init_shop(s))
    shop_dir = s.home / "shop"
    cfg = ShopConfig(
        n_users=users, n_items=items, n_events=events, n_campaigns=12, days=60, seed=seed
    )
    with console.status("generating..."):
        files = write_shop(cfg, shop_dir, fmt="csv")
    console.print(
        f"wrote {users:,} users, {items:,} items, 12 campaigns and {events:,} events to {shop_dir}"
    )
    done.append(f"generated a seeded shop in {shop_dir}")

    _step(2, "validated import (and the quarantine)")
    store = open_store()
    table = Table("file", "accepted", "duplicates", "quarantined")
    for entity in ("users", "items", "campaigns", "events"):
        summary = import_file(store, entity, files[entity], reject_threshold=s.reject_threshold)
        table.add_row(
            Path(files[entity]).name,
            f"{summary.accepted:,}",
            f"{summary.duplicates:,}",
            f"{summary.quarantined:,}",
        )
    bad = s.home / "bad_rows.csv"
    bad.write_text(BAD_ROWS, encoding="utf-8")
    summary = import_file(store, "events", bad, reject_threshold=1.0)
    table.add_row(
        bad.name, f"{summary.accepted:,}", f"{summary.duplicates:,}", f"{summary.quarantined:,}"
    )
    console.print(table)
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(summary.by_reason.items()))
    console.print(f"bad_rows.csv: quarantined by reason -> {reasons} (see: campaignrec quarantine)")
    print_stats(store_stats(store), s.home)
    done.append("imported the shop; bad rows were quarantined with their reasons")

    _step(3, "profiles and segments")
    result = ensure_profiles(
        open_store,
        profiles_dir(s.home),
        refresh=True,
        progress=lambda: console.status("computing profiles..."),
    )
    prof = result.profiles
    if "segment_name" in prof.columns:
        seg = prof.groupby(["segment_name", "segment_name_zh"]).size().sort_values(ascending=False)
        t = Table("segment", "细分", "shoppers")
        for key, n in seg.items():
            en, zh = key if isinstance(key, tuple) else (key, key)
            t.add_row(str(en), str(zh), f"{n:,}")
        console.print(t)
    if "lifecycle" in prof.columns:
        console.print(
            "lifecycle: "
            + ", ".join(f"{k} {v:,}" for k, v in prof["lifecycle"].value_counts().items())
        )
    done.append(f"profiled {len(prof):,} shoppers (RFM, behaviour, interests, lifecycle, segments)")

    _step(4, "the default model, chosen on a validation split of this shop")
    trained = train(store, s, None, tune_trials=trials, seed=seed)
    console.print(selection_table(trained.metrics.get("selection", {})))
    console.print(f"active model: [bold]{trained.name}[/] ({trained.path})")
    chosen = trained.metrics.get("selection", {}).get("chosen", trained.name)
    done.append(f"trained and activated '{chosen}' (chosen by validation NDCG@10)")

    _step(5, "recommendations with explanations (the ranking path the API serves)")
    online = online_for(s)
    ranker = Ranker.from_store(store, s, online)
    active = [str(u) for u in ranker.model.users_.ids[:3]]
    frame = recommend_frame(ranker, active, 3, with_text=True)
    t = Table("user", "rank", "item", "why")
    for row in frame.itertuples(index=False):
        t.add_row(str(row.user_id), str(row.rank), str(row.item_id), str(row.text))
    console.print(t)
    out = s.home / "recommendations.csv"
    everyone = recommend_frame(ranker, [str(u) for u in ranker.model.users_.ids], 10)
    online.close()
    everyone.to_csv(out, index=False)
    console.print(
        f"batch export: {len(everyone):,} rows for {everyone['user_id'].nunique():,} users -> {out}"
    )
    done.append(f"exported top-10 for every shopper to {out}")

    _step(6, "campaign uplift models from the logged exposures, and a plan before launch")
    rows = 0
    try:
        with console.status("fitting the campaign models on the logged exposures..."):
            fitted = fit_campaign_models(store, campaign_models_dir(s.home), seed=seed)
    except CampaignrecError as exc:  # a tiny shop may log too few exposures: plan on the fallback
        console.print(f"no campaign models / 未训练活动模型: {exc.message}", highlight=False)
    else:
        rows = int(fitted.meta["rows"])
        print_campaign_models(fitted.summary())
    campaigns = store.read_table("campaigns")
    coupons = campaigns[campaigns["type"] == "coupon"] if "type" in campaigns else campaigns
    chosen = str((coupons if len(coupons) else campaigns)["campaign_id"].iloc[0])
    planned = plan_for(
        store,
        chosen,
        now=datetime.now(UTC),
        models_dir=campaign_models_dir(s.home),
        objective="conversions",
    )
    print_plan(planned)
    console.print(
        "the same budget three ways: uplift targets those the offer changes most per unit of "
        "cost; response, those most likely to buy; random, anyone / 同一预算的三种投放：增益定向"
        "选择单位成本下受优惠影响最大的顾客，响应定向选择最可能购买的顾客，随机则任意选择"
    )
    done.append(
        f"fitted uplift models on {rows:,} logged exposures; planned campaign "
        f"{chosen}: reach, cost, incremental conversions and ROI"
    )

    _step(7, "a push plan for one campaign")
    from campaignrec.push.ledger import ledger_path, write_plan
    from campaignrec.push.run import demo_push

    # a synthetic shop knows each shopper's true uplift: it stands in for an uplift model here
    planted = shop_dir / "truth" / "campaign_effect.parquet"
    pushed = demo_push(
        store, s.push, ledger_path(s.home), uplift=planted if planted.is_file() else None
    )
    if pushed is None:
        console.print("no campaign of this shop has a push worth sending / 没有值得推送的活动")
    else:
        push_result, at = pushed
        push_out = write_plan(push_result.plan.table, s.home / "push_plan.csv")
        push_summary = {**push_result.summary(), "out": str(push_out)}
        console.print(f"planned as of {at:%Y-%m-%d %H:%M} UTC (inside the campaign's window)")
        print_push_plan(push_summary)
        head = push_result.plan.table.head(3)
        t = Table("user", "channel", "send at (local)", "content")
        for row in head.itertuples(index=False):
            t.add_row(str(row.user_id), str(row.channel), str(row.send_at), str(row.content))
        console.print(t)
        done.append(
            f"planned {push_summary['pushes']:,} pushes of {push_result.plan.campaign_id} -> {push_out}"
        )
        # the next day's pushes of the same campaign wait for review on the console's Push page
        import pandas as pd

        from campaignrec.push.reviews import create_review

        effects = pd.read_parquet(planted) if planted.is_file() else None
        kept = create_review(
            store,
            s.home,
            push_result.plan.campaign_id,
            settings=s.push,
            now=at + timedelta(days=1),
            uplift=effects,
        )
        console.print(
            f"kept the next day's plan {kept['plan_id']} ({kept['summary']['pushes']:,} pushes) "
            "for review on the console's Push page / 次日的推送计划已保存，可在控制台审核"
        )

    console.rule("[bold]done")
    for line in done:
        console.print(f"- {line}")
    console.print(f"finished in {time.perf_counter() - started:.0f}s; data directory: {s.home}")
    console.print("next: campaignrec --data-dir " + str(s.home) + " profile " + active[0])
    if serve:
        _serve(s.home, active[0], host, port)


def _serve(home: Path, user_id: str, host: str, port: int) -> None:
    """Create an API key for the demo shop, say how to call it, and serve until Ctrl-C."""
    from campaignrec.service.auth import KeyStore
    from campaignrec.service.runner import run

    key, rec = KeyStore(open_store()).create("read,ingest,admin")
    base = f"http://{host}:{port}"
    console.rule("[bold]8. the service")
    console.print(f"API:      {base}/v1   (health: {base}/healthz)", highlight=False)
    console.print(f"docs:     {base}/docs (OpenAPI: {base}/openapi.json)", highlight=False)
    console.print(
        f"console:  {base}/console   (log in with the key below; ?lang=zh for 简体中文)",
        highlight=False,
    )
    console.print(f"API key:  {key}   (scopes {','.join(rec.scopes)}; shown once)", highlight=False)
    console.print("try:", highlight=False)
    console.print(
        f'  curl -s -H "Authorization: Bearer {key}" '
        f'"{base}/v1/users/{user_id}/recommendations?k=5&lang=zh"',
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"data directory: {home}; Ctrl-C stops the service", highlight=False)
    run(settings(), host=host, port=port, workers=1)
