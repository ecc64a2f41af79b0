"""Core commands: init, stats, train, recommend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from campaignrec.cli.context import (
    EngineOpt,
    SparkConfOpt,
    SparkInputOpt,
    SparkMappingOpt,
    SparkMasterOpt,
    console,
    open_store,
    print_init,
    print_stats,
    selection_progress,
    selection_table,
    settings,
    spark_options,
)
from campaignrec.errors import ConfigError


def init() -> None:
    """Create the data directory, its settings file and the store (idempotent)."""
    from campaignrec.pipeline.shop import init_shop

    print_init(init_shop(settings()))


def stats(
    json_out: Annotated[bool, typer.Option("--json", help="one JSON object")] = False,
) -> None:
    """Counts of what the store holds."""
    from campaignrec.pipeline.shop import store_stats

    result = store_stats(open_store())
    if json_out:
        print(json.dumps(result.to_dict()))
        return
    print_stats(result, settings().home)


def _parse_params(pairs: list[str] | None) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(f"--param '{pair}' must look like name=value")
        key, raw = pair.split("=", 1)
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def train(
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="model name; default: chosen on a validation split"),
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value (repeatable)")
    ] = None,
    trials: Annotated[
        int | None, typer.Option("--trials", help="tuning trials for the default")
    ] = None,
    validation: Annotated[
        str,
        typer.Option(
            "--validation",
            help="split the default is chosen on: user_temporal (each shopper's last 20 %), "
            "global_temporal (the last days for everyone) or leave_one_out",
        ),
    ] = "user_temporal",
    validation_days: Annotated[
        float | None,
        typer.Option(
            "--validation-days", help="with --validation global_temporal: days held out", min=0.01
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    time_budget: Annotated[
        float | None,
        typer.Option(
            "--time-budget",
            help="seconds the default's selection may take, snapshot included; candidates "
            "predicted not to fit are skipped (default: 20 s + 4 min per million events, "
            "at most 20 min)",
            min=0.01,
        ),
    ] = None,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = "local[*]",
    spark_conf: SparkConfOpt = None,
    spark_input: SparkInputOpt = None,
    mapping: SparkMappingOpt = None,
) -> None:
    """Train a model on the store's events and make it the active version."""
    from campaignrec.pipeline import train as run_train

    spark = spark_options(engine, spark_master, spark_conf, spark_input, mapping)
    if spark is not None:
        from campaignrec.engines.spark.jobs import spark_trainer

        with console.status("training on Spark..."):
            result = spark_trainer(spark)(open_store(), settings(), model, _parse_params(param))
    elif model is not None:
        with console.status("training..."):
            result = run_train(open_store(), settings(), model, _parse_params(param), seed=seed)
    else:
        with selection_progress() as progress:
            result = run_train(
                open_store(),
                settings(),
                None,
                _parse_params(param),
                tune_trials=trials,
                validation=validation,
                validation_days=validation_days,
                seed=seed,
                time_budget=time_budget,
                progress=progress,
            )
    selection = result.metrics.get("selection")
    chosen = selection.get("chosen") if isinstance(selection, dict) else None
    label = f"{chosen} ({result.name})" if chosen and chosen != result.name else result.name
    console.print(
        f"trained [bold]{label}[/] version {result.version} on snapshot {result.snapshot_id} "
        f"in {result.seconds:.1f}s -> {result.path}"
    )
    if isinstance(selection, dict) and selection.get("leaderboard"):
        console.print(
            selection_table(
                selection, "validation leaderboard (chosen on a split carved from your data)"
            )
        )
        decision = selection.get("decision")
        if isinstance(decision, dict) and decision.get("chosen") not in (
            None,
            decision.get("best"),
        ):
            console.print(
                f"chose {decision['chosen']} over {decision['best']}: simpler, and within one "
                f"standard error of the best over {decision.get('windows', 1)} validation "
                "window(s) (更简单，且与最佳模型相差不超过一个标准误差)"
            )


def recommend(
    user_ids: Annotated[list[str] | None, typer.Argument(help="user ids")] = None,
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="items per user")] = 10,
    all_users: Annotated[bool, typer.Option("--all", help="every known user")] = False,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="CSV or Parquet file")] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="model name (active version)")
    ] = None,
    explain: Annotated[bool, typer.Option("--explain", help="show the evidence per item")] = False,
    lang: Annotated[str, typer.Option("--lang", help="explanations: en or zh")] = "en",
    json_out: Annotated[bool, typer.Option("--json", help="one JSON line per user")] = False,
    fair_strength: Annotated[
        float | None,
        typer.Option(
            "--fair-strength",
            min=0.0,
            max=0.999,
            help="FA*IR strength for the protected item group (0 = off; default: the setting)",
        ),
    ] = None,
    engine: EngineOpt = "local",
    spark_master: SparkMasterOpt = "local[*]",
    spark_conf: SparkConfOpt = None,
) -> None:
    """Top-k products per user through the ranking path the API serves (rules, re-ranking,
    explanations); a batch export with --all --out."""
    from campaignrec.ranking import Ranker, recommend_frame
    from campaignrec.store.online import online_for

    if not all_users and not user_ids:
        raise ConfigError(
            "name one or more USER_IDS, or use --all",
            hint="campaignrec recommend --all --k 10 --out recs.csv",
        )
    spark = spark_options(engine, spark_master, spark_conf, None)
    if spark is not None:
        from campaignrec.engines.spark.jobs import recommend_all_spark

        rows, path = recommend_all_spark(open_store(), model, out, k, spark, all_users=all_users)
        console.print(f"wrote {rows:,} rows (Parquet dataset) from {path} to {out}")
        return
    from campaignrec.privacy import pseudonymise_user_id

    s = settings()
    online = online_for(s)
    try:
        ranker = Ranker.from_store(open_store(), s, online, model_name=model)
        m = ranker.model
        ids = (
            [str(u) for u in m.users_.ids]
            if all_users
            else [pseudonymise_user_id(s, u) for u in user_ids or []]  # as the store knows them
        )
        frame = recommend_frame(
            ranker, ids, k, lang=lang, with_text=explain or json_out, fair_strength=fair_strength
        )
    finally:
        online.close()
    if out is not None:
        suffix = out.suffix.lower()
        out.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            frame.to_parquet(out, index=False)
        elif suffix == ".csv":
            frame.to_csv(out, index=False)
        else:
            raise ConfigError(f"--out {out}: use a .csv or .parquet file")
        console.print(f"wrote {len(frame):,} rows for {len(ids):,} users to {out}")
        return
    if json_out:
        for uid, part in frame.groupby("user_id", sort=False):
            items = [
                {"item_id": i, "score": float(sc), "rank": int(r), "reason": why, "text": t}
                for i, sc, r, why, t in zip(
                    part["item_id"],
                    part["score"],
                    part["rank"],
                    part["reason"],
                    part["text"],
                    strict=True,
                )
            ]
            doc = {"user_id": uid, "items": items, "model_version": ranker.model_version}
            typer.echo(json.dumps(doc, ensure_ascii=False))
        return
    table = Table(title=f"top-{k} from {m.name}")
    for col in ("user_id", "rank", "item_id", "score", "reason"):
        table.add_column(col)
    if explain:
        table.add_column("why")
    for row in frame.itertuples(index=False):
        cells = [
            str(row.user_id),
            str(row.rank),
            str(row.item_id),
            f"{row.score:.4f}",
            str(row.reason),
        ]
        if explain:
            cells.append(str(row.text))
        table.add_row(*cells)
    console.print(table)


def search(
    query: Annotated[str, typer.Argument(help='a shopper\'s search terms, e.g. "跑步鞋"')],
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="items to show")] = 10,
    model: Annotated[
        str, typer.Option("--model", "-m", help="content model to search with (active version)")
    ] = "content",
    json_out: Annotated[bool, typer.Option("--json", help="print the items as JSON")] = False,
) -> None:
    """Items whose text best matches search terms (multilingual with the 'text' extra)."""
    from campaignrec.pipeline.search import search_items

    frame = search_items(open_store(), query, k, model_name=model)
    if json_out:
        typer.echo(json.dumps(frame.to_dict("records"), ensure_ascii=False, default=str))
        return
    if frame.empty:
        console.print(f"no item matches {query!r} (没有匹配的商品)")
        return
    table = Table(title=f"search (搜索): {query}")
    for col in ("rank", "item_id", "score", "title"):
        table.add_column(col)
    for rank, row in enumerate(frame.itertuples(index=False), start=1):
        table.add_row(str(rank), str(row.item_id), f"{row.score:.4f}", str(row.title or ""))
    console.print(table)


def models(
    activate: Annotated[
        str | None, typer.Option("--activate", help="NAME:VERSION to make the active version")
    ] = None,
) -> None:
    """The model names you can train, and the trained versions in this shop (active marked)."""
    from campaignrec.models.registry import available_models

    store = open_store()
    if activate:
        if ":" not in activate:
            raise ConfigError("--activate takes NAME:VERSION", hint="see the versions listed below")
        name, version = activate.split(":", 1)
        store.activate_model(name, version)
        console.print(f"activated {name} version {version}")
    console.print("models: " + ", ".join(available_models()))
    trained = store.list_models()
    if trained.empty:
        console.print("no trained versions yet (campaignrec train)")
        return
    table = Table(title="trained versions")
    for col in ("name", "version", "active", "path"):
        table.add_column(col)
    for row in trained.itertuples(index=False):
        table.add_row(str(row.name), str(row.version), "yes" if row.active else "", str(row.path))
    console.print(table)
