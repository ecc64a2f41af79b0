"""``campaignrec evaluate``: offline evaluation of named models on the store's events.

The lead wires :func:`evaluate` as a plain command (``app.command("evaluate")(evaluate)``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from campaignrec.cli.context import console, open_store, settings
from campaignrec.errors import ConfigError

PROTOCOLS = ("user_temporal", "global_temporal", "leave_one_out", "random")
#: "all" evaluates these (the core models that need no extra or side features to make sense).
ALL_MODELS = ("most_popular", "item_knn", "user_knn", "als", "bpr", "ease", "content")


def _parse_params(pairs: list[str] | None) -> dict[str, dict[str, Any]]:
    """``model.name=value`` pairs -> {model: {name: value}} (values parsed as JSON when they can)."""
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs or []:
        if "=" not in pair or "." not in pair.split("=", 1)[0]:
            raise ConfigError(
                f"--param '{pair}' must look like model.name=value", hint="e.g. ease.l2=300"
            )
        key, raw = pair.split("=", 1)
        model, name = key.split(".", 1)
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(model, {})[name] = value
    return out


def _split_args(
    protocol: str, test_fraction: float, test_days: float | None, seed: int
) -> dict[str, Any]:
    if protocol == "user_temporal":
        return {"test_fraction": test_fraction}
    if protocol == "global_temporal":
        return (
            {"test_days": test_days} if test_days is not None else {"test_fraction": test_fraction}
        )
    if protocol == "random":
        return {"test_fraction": test_fraction, "seed": seed}
    if protocol == "leave_one_out":
        return {}
    raise ConfigError(f"unknown protocol {protocol!r}", hint=f"one of {', '.join(PROTOCOLS)}")


def evaluate(
    models: Annotated[
        list[str] | None,
        typer.Argument(help='model names (see `campaignrec models`), or "all"; default: all'),
    ] = None,
    protocol: Annotated[
        str, typer.Option("--protocol", help=f"split: {', '.join(PROTOCOLS)}")
    ] = "user_temporal",
    test_fraction: Annotated[
        float,
        typer.Option("--test-fraction", help="share held out (user_temporal, random, global)"),
    ] = 0.2,
    test_days: Annotated[
        float | None, typer.Option("--test-days", help="global_temporal: the last N days are test")
    ] = None,
    k: Annotated[list[int] | None, typer.Option("--k", "-k", help="cutoffs (repeatable)")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="model.name=value (repeatable)")
    ] = None,
    tune_trials: Annotated[
        int, typer.Option("--tune", help="Optuna trials per model on a validation split (0 = none)")
    ] = 0,
    targets: Annotated[
        list[str] | None,
        typer.Option("--target", help="only these test event types are targets (repeatable)"),
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option("--group", help="user feature column to break results down by (repeatable)"),
    ] = None,
    max_users: Annotated[
        int | None, typer.Option("--max-users", help="evaluate a seeded sample of test users")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="report directory (default: under reports/)")
    ] = None,
    split_dir: Annotated[
        Path | None,
        typer.Option("--split", help="load this saved split (or save the new one there if absent)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="print the results as JSON")] = False,
) -> None:
    """Fit models on a train split of the store's events, rank the full catalogue for every test
    user, and write a Markdown + JSON report with a leaderboard and plots."""
    from campaignrec.evaluation.runner import run_evaluation
    from campaignrec.evaluation.splits import Split, make_split, validation_split
    from campaignrec.evaluation.tuning import make_validation, space_for, tune
    from campaignrec.models.registry import create, get_class
    from campaignrec.pipeline import build_snapshot

    ks = tuple(k or (10, 20))
    names = list(models or ["all"])
    if names == ["all"]:
        names = list(ALL_MODELS)
    params = _parse_params(param)
    unknown = set(params) - set(names)
    if unknown:
        raise ConfigError(f"--param names model(s) not evaluated: {sorted(unknown)}")
    for name in names:
        get_class(name)  # fails early with the list of known models

    s = settings()
    inter = build_snapshot(open_store(), s)
    if split_dir is not None and (split_dir / "split.json").exists():
        split = Split.load(split_dir)
    else:
        split = make_split(inter, protocol, **_split_args(protocol, test_fraction, test_days, seed))
        if split_dir is not None:
            split.save(split_dir)

    specs: dict[str, Any] = {}
    tuning: dict[str, Any] = {}
    train = split.train(inter) if tune_trials > 0 else None
    for name in names:
        chosen = dict(params.get(name, {}))
        if tune_trials > 0 and train is not None:
            space = {
                n: v
                for n, v in space_for(name, get_class(name).params_class).items()
                if n not in chosen
            }
            if space:
                val = make_validation(train, validation_split(train, split), k=ks[0], seed=seed)

                def factory(q: dict[str, Any], _n: str = name, _c: dict[str, Any] = chosen) -> Any:
                    return create(_n, **(_c | q))

                res = tune(
                    factory,
                    space,
                    val,
                    n_trials=tune_trials,
                    seed=seed,
                )
                chosen |= res.best_params
                tuning[name] = {"best_params": res.best_params, "validation_ndcg": res.best_value}
                console.print(
                    f"tuned {name}: validation ndcg@{ks[0]}={res.best_value:.4f} {res.best_params}"
                )
        specs[name] = lambda _n=name, _c=chosen: create(_n, **_c)

    with console.status("evaluating...") as status:
        results = run_evaluation(
            inter,
            split,
            specs,
            ks,
            target_event_types=targets,
            group_columns=tuple(group or ()),
            max_users=max_users,
            seed=seed,
            progress=lambda n: status.update(f"evaluating {n}..."),
        )
    results.protocol["tuning"] = tuning
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report_dir = out or (s.reports_dir / f"evaluate-{stamp}")
    report = results.write_report(report_dir)
    if json_out:
        print(json.dumps(results.to_dict(), default=str))
        return
    board = results.leaderboard(f"ndcg@{ks[0]}")
    table = Table(title=f"{protocol} split: {len(results.user_idx)} test users, full ranking")
    cols = [
        "model",
        f"ndcg@{ks[0]}",
        "95% CI",
        *[f"recall@{x}" for x in ks],
        f"coverage@{ks[0]}",
        f"new items exposure@{ks[0]} (wanted)",
        f"long tail exposure@{ks[0]} (wanted)",
        "fit s",
        "recommend s",
    ]
    for c in cols:
        table.add_column(c, justify="left" if c == "model" else "right")
    for _, row in board.iterrows():
        table.add_row(
            str(row["model"]),
            f"{row[f'ndcg@{ks[0]}']:.4f}",
            f"[{row['ci_low']:.4f}, {row['ci_high']:.4f}]",
            *[f"{row[f'recall@{x}']:.4f}" for x in ks],
            f"{row[f'coverage@{ks[0]}']:.3f}",
            _exposure(row, "new_items", ks[0]),
            _exposure(row, "long_tail", ks[0]),
            f"{row['fit_s']:.2f}",
            f"{row['recommend_s']:.2f}",
        )
    console.print(table)
    rated = board[board["rmse"].notna()] if "rmse" in board.columns else board.iloc[:0]
    if len(rated):
        errors = Table(title="rating prediction on the test split's ratings")
        for c in ("model", "RMSE", "MAE", "ratings"):
            errors.add_column(c, justify="left" if c == "model" else "right")
        for _, row in rated.sort_values("rmse").iterrows():
            errors.add_row(
                str(row["model"]),
                f"{row['rmse']:.4f}",
                f"{row['mae']:.4f}",
                f"{int(row['n_ratings'])}",
            )
        console.print(errors)
    console.print(f"report: {report}")


def _exposure(row: Any, group: str, k: int) -> str:
    """``exposure share (relevance share)`` of an item group, or ``-`` when not measured."""
    exposure, wanted = row.get(f"exposure_{group}@{k}"), row.get(f"relevance_{group}")
    if exposure is None or wanted is None or exposure != exposure:
        return "-"
    return f"{exposure:.1%} ({wanted:.1%})"
