"""``campaignrec ope``, ``campaignrec uplift`` and the ``campaignrec experiments`` group.

Plain command functions and one sub-app; ``cli/main.py`` attaches them::

    app.command("ope")(experiments.ope)
    app.command("uplift")(experiments.uplift)
    app.add_typer(experiments.experiments_app, name="experiments")

``experiments analyze`` reads a file of per-shopper rows (no store needed).

Both read files directly (no store needed). With ``--json`` each prints exactly one JSON object
on stdout and nothing else.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from campaignrec.errors import ConfigError, ValidationError

if TYPE_CHECKING:
    from datetime import datetime

    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray


console = Console()

__all__ = ["analyze", "experiments_app", "ope", "uplift"]

experiments_app = typer.Typer(
    help="Online experiments: analyse per-shopper rows, define experiments, assign shoppers.",
    no_args_is_help=True,
)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def ope(
    logs: Annotated[Path | None, typer.Option("--logs", help="log file (CSV or Parquet)")] = None,
    from_store: Annotated[
        bool,
        typer.Option(
            "--from-store",
            help="evaluate on the service's own decision log (campaign impressions with their "
            "propensities; reward: a --reward-event for the campaign within --window-hours)",
        ),
    ] = False,
    reward_event: Annotated[
        str, typer.Option("--reward-event", help="with --from-store: the reward's event type")
    ] = "campaign_click",
    window_hours: Annotated[
        float, typer.Option("--window-hours", min=0.0, help="with --from-store: reward window")
    ] = 24.0,
    logged_policy: Annotated[
        str | None,
        typer.Option("--logged-policy", help="with --from-store: only this policy's decisions"),
    ] = None,
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="uniform | model[:logistic|:lightgbm] (learned on the log, cross-fitted) | "
            "a CSV of action probabilities",
        ),
    ] = "uniform",
    preset: Annotated[
        str | None, typer.Option("--preset", help="log format preset: obd (Open Bandit CSV)")
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", help="JSON/TOML column mapping of a generic log"),
    ] = None,
    reward_model: Annotated[
        str, typer.Option("--reward-model", help="reward model of DM/DR: logistic | lightgbm")
    ] = "logistic",
    floor: Annotated[
        float, typer.Option("--floor", help="uniform share kept by a learned policy")
    ] = 0.1,
    temperature: Annotated[
        float, typer.Option("--temperature", help="softmax temperature of a learned policy")
    ] = 0.5,
    switch_tau: Annotated[
        str,
        typer.Option(
            "--switch-tau",
            help="Switch-DR weight threshold: a number >= 0, or auto (chosen by estimated MSE)",
        ),
    ] = "20",
    refit_reward_model: Annotated[
        bool,
        typer.Option(
            "--refit-reward-model",
            help="refit the reward model on every bootstrap resample (DM/DR/Switch-DR "
            "intervals include the model's error; n-boot x 2 model fits, slow)",
        ),
    ] = False,
    n_boot: Annotated[int, typer.Option("--n-boot", help="bootstrap replicates")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Estimate a policy's value from logged bandit feedback (IPS, SNIPS, DM, DR, Switch-DR).

    Intervals are percentile bootstrap 95% intervals over rounds; "ess" is the effective sample
    size of each estimator's importance weights. Without --refit-reward-model the reward model
    is fitted once and held fixed in the bootstrap (fast; DM's interval is then too narrow).
    """
    from campaignrec.experiments.logs_io import LogMapping, load_mapping, read_log, read_obd_csv
    from campaignrec.experiments.ope import (
        OPESettings,
        estimate_policy_value,
        fit_reward_model,
        learned_softmax_policy,
        uniform_policy,
    )

    if preset is not None and mapping is not None:
        raise ConfigError("use --preset or --mapping, not both")
    if preset is not None and preset != "obd":
        raise ConfigError(f"unknown preset {preset!r}", hint="the only preset is 'obd'")
    if reward_model not in ("logistic", "lightgbm"):
        raise ValidationError(
            "reward_model", "unknown", value=reward_model, hint="logistic | lightgbm"
        )
    tau = _switch_tau(switch_tau)
    if from_store:
        if logs is not None or preset is not None or mapping is not None:
            raise ConfigError("--from-store reads the store: drop --logs, --preset and --mapping")
        from campaignrec.cli.context import open_store
        from campaignrec.experiments.logs_io import decision_log, log_from_frame

        frame = decision_log(
            open_store().read_table("events"),
            reward_event=reward_event,
            window_hours=window_hours,
            policy=logged_policy,
        )
        loaded = log_from_frame(frame, LogMapping(position="position", context=[]))
        source = "the store's decision log"
    else:
        if logs is None or not logs.is_file():
            raise ConfigError(
                f"log file {str(logs)!r} does not exist",
                hint="pass --logs FILE, or --from-store for the service's own decisions",
            )
        loaded = (
            read_obd_csv(logs)
            if preset == "obd"
            else read_log(logs, load_mapping(mapping) if mapping else None)
        )
        source = logs.name
    log = loaded.log
    q = fit_reward_model(log, model=reward_model, seed=seed)  # type: ignore[arg-type]
    if policy == "uniform":
        pi = uniform_policy(log.n_rounds, log.n_actions)
    elif policy == "model" or policy.startswith("model:"):
        kind = policy.split(":", 1)[1] if ":" in policy else reward_model
        if kind not in ("logistic", "lightgbm"):
            raise ValidationError("policy", "unknown model", value=policy, hint="model:logistic")
        # a different fold assignment than the evaluation's reward model
        q_pol = q if kind == reward_model else fit_reward_model(log, model=kind, seed=seed)  # type: ignore[arg-type]
        pi = learned_softmax_policy(q_pol, temperature=temperature, floor=floor)
    else:
        from campaignrec.experiments.logs_io import read_policy_file

        pi = read_policy_file(Path(policy), loaded)
    settings = OPESettings(
        n_boot=n_boot,
        seed=seed,
        refit_reward_model=refit_reward_model,
        reward_model=reward_model,  # type: ignore[arg-type]
        switch_tau=tau,
    )
    results = estimate_policy_value(log, pi, estimated_rewards=q, settings=settings)
    if as_json:
        payload: dict[str, Any] = {
            "estimates": {
                name: {key: _finite(v) for key, v in r.as_dict().items()}
                for name, r in results.items()
            },
            "rounds": log.n_rounds,
            "n_actions": log.n_actions,
            "policy": policy,
            "logged_mean_reward": float(log.reward.mean()),
            "switch_tau": switch_tau,
            "refit_reward_model": refit_reward_model,
        }
        typer.echo(json.dumps(payload))
        return
    table = Table(title=f"policy {policy!r} on {source}: {log.n_rounds:,} rounds")
    for col in ("estimator", "value", "95% CI", "ESS"):
        table.add_column(col, justify="right" if col != "estimator" else "left")
    for name, r in results.items():
        table.add_row(name, f"{r.value:.5f}", f"[{r.ci_low:.5f}, {r.ci_high:.5f}]", f"{r.ess:,.0f}")
    console.print(table)
    for name, r in results.items():
        if "tau" in r.info:  # the estimators with a weight threshold (Switch-DR)
            console.print(
                f"{name} tau {r.info['tau']:g} ({switch_tau}): {r.info['switched_share']:.1%} "
                "of rounds use the reward model only"
            )
    if not refit_reward_model:
        console.print("dm/dr intervals hold the reward model fixed (--refit-reward-model to refit)")
    console.print(f"logged policy's mean reward: {log.reward.mean():.5f}")


def _switch_tau(text: str) -> float | Literal["auto"]:
    """``--switch-tau``: ``auto`` or a number >= 0."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        tau = float(text)
    except ValueError:
        raise ValidationError(
            "switch_tau", "must be a number >= 0 or 'auto'", value=text, hint="--switch-tau auto"
        ) from None
    if not tau >= 0:
        raise ValidationError("switch_tau", "must be >= 0", value=text, hint="--switch-tau 20")
    return tau


def _features(
    df: pd.DataFrame, features: list[str] | None, exclude: set[str]
) -> tuple[NDArray[np.float64], list[str]]:
    import numpy as np
    import pandas as pd

    if features:
        missing = [c for c in features if c not in df.columns]
        if missing:
            raise ValidationError("features", "columns not in the data", value=missing)
        cols = features
    else:
        cols = [c for c in df.columns if c not in exclude]
    if not cols:
        raise ValidationError("features", "no feature columns left", hint="pass --features")
    frame = df[cols]
    numeric = [c for c in cols if pd.api.types.is_numeric_dtype(frame[c])]
    cats = [c for c in cols if c not in numeric]
    parts = [frame[numeric].astype(np.float64)]
    if cats:
        parts.append(pd.get_dummies(frame[cats].astype(str), dtype=np.float64))
    X = pd.concat(parts, axis=1)
    if X.isna().any().any():
        raise ValidationError("features", "contain missing values", hint="impute them first")
    return X.to_numpy(dtype=np.float64), list(X.columns)


def uplift(
    data: Annotated[
        Path | None, typer.Option("--data", help="CSV or Parquet with one row per user")
    ] = None,
    treatment: Annotated[str | None, typer.Option("--treatment", help="treatment column")] = None,
    outcome: Annotated[str | None, typer.Option("--outcome", help="outcome column")] = None,
    from_store: Annotated[
        bool,
        typer.Option(
            "--from-store",
            help="fit the campaign response and uplift models on the store's logged exposures "
            "(impressions, holdouts, purchases) and save them for campaigns plan and the service",
        ),
    ] = False,
    learner: Annotated[
        list[str] | None,
        typer.Option("--learner", help="t | x | to | s (repeat; default t, x and to)"),
    ] = None,
    control: Annotated[
        str | None,
        typer.Option("--control", help="treatment value of the control group (default 0)"),
    ] = None,
    features: Annotated[
        str | None, typer.Option("--features", help="comma-separated feature columns")
    ] = None,
    exclude: Annotated[
        str | None,
        typer.Option("--exclude", help="comma-separated columns never used as features"),
    ] = None,
    base_model: Annotated[
        str, typer.Option("--base-model", help="lightgbm | logistic")
    ] = "lightgbm",
    k: Annotated[float, typer.Option("--k", help="targeted fraction of uplift@k")] = 0.3,
    n_boot: Annotated[int, typer.Option("--n-boot", help="bootstrap replicates")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="random seed")] = 0,
    scores_out: Annotated[
        Path | None,
        typer.Option("--scores-out", help="write held-out rows' scores to this CSV"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Fit uplift learners on a random half and report Qini and uplift@k on the other half
    (or, with --from-store, fit and save the campaign models on the store's exposures).

    Treated rows are those whose treatment value differs from the control value (several
    treatment values are pooled into one "treated" group). Random targeting is reported as the
    baseline.
    """
    import numpy as np
    import pandas as pd

    from campaignrec.campaigns.uplift import LEARNERS, make_uplift_learner
    from campaignrec.campaigns.uplift_metrics import (
        bootstrap_uplift_metric,
        qini_coefficient,
        uplift_at_k,
    )

    if from_store:
        from campaignrec.cli.context import open_store, print_campaign_models, settings
        from campaignrec.pipeline.uplift import campaign_models_dir, fit_campaign_models

        if data is not None:
            raise ConfigError("--from-store reads the store: drop --data")
        with console.status("fitting the campaign models on the logged exposures..."):
            fitted = fit_campaign_models(
                open_store(), campaign_models_dir(settings().home), seed=seed
            )
        print_campaign_models(fitted.summary(), as_json=as_json)
        return
    if data is None or treatment is None or outcome is None:
        raise ConfigError(
            "pass --data FILE --treatment COL --outcome COL, or --from-store",
            hint="campaignrec uplift --from-store fits on the store's own exposures",
        )
    if not data.is_file():
        raise ConfigError(f"data file {str(data)!r} does not exist", hint="pass --data FILE")
    df = pd.read_parquet(data) if data.suffix.lower() == ".parquet" else pd.read_csv(data)
    for col, what in ((treatment, "treatment"), (outcome, "outcome")):
        if col not in df.columns:
            raise ValidationError(
                what, f"column {col!r} not in the data", hint=f"columns: {list(df.columns)[:12]}"
            )
    names = learner or ["t", "x", "to"]
    bad = [n for n in names if n not in LEARNERS]
    if bad:
        raise ValidationError("learner", "unknown", value=bad, hint=f"use {sorted(LEARNERS)}")
    if base_model not in ("lightgbm", "logistic"):
        raise ValidationError("base_model", "unknown", value=base_model, hint="lightgbm | logistic")
    tcol = df[treatment].astype(str)
    ctrl = control if control is not None else "0"
    if not (tcol == ctrl).any():
        raise ValidationError(
            "control", f"no row has {treatment} == {ctrl!r}", hint="pass --control VALUE"
        )
    t = (tcol != ctrl).to_numpy(dtype=np.int64)
    y = pd.to_numeric(df[outcome], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(y)):
        raise ValidationError("outcome", f"column {outcome!r} has non-numeric or missing values")
    excluded = {treatment, outcome} | set(filter(None, (exclude or "").split(",")))
    X, _ = _features(df, features.split(",") if features else None, excluded)
    rng = np.random.default_rng(seed)
    test_mask = np.zeros(len(df), dtype=bool)
    for g in (0, 1):  # half-split stratified by treatment
        idx = rng.permutation(np.flatnonzero(t == g))
        test_mask[idx[len(idx) // 2 :]] = True
    tr, te = ~test_mask, test_mask
    scores: dict[str, NDArray[np.float64]] = {}
    for name in names:
        model = make_uplift_learner(name, base_model=base_model, random_state=seed)
        model.fit(X[tr], t[tr], y[tr])
        scores[name] = model.predict_uplift(X[te])
    scores["random"] = rng.random(int(te.sum()))
    report: dict[str, Any] = {}
    for name, s in scores.items():
        ci = bootstrap_uplift_metric(qini_coefficient, s, t[te], y[te], n_boot=n_boot, seed=seed)
        report[name] = {
            "qini": {k2: _finite(v) for k2, v in ci.as_dict().items()},
            "qini_normalised": _finite(qini_coefficient(s, t[te], y[te], normalize=True)),
            "uplift_at_k": _finite(uplift_at_k(s, t[te], y[te], k=k)),
        }
    if scores_out is not None:
        out = pd.DataFrame({"row": np.flatnonzero(te)})
        for name in names:
            out[f"uplift_{name}"] = scores[name]
        out.to_csv(scores_out, index=False)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "rows": len(df),
                    "test_rows": int(te.sum()),
                    "treated_share": float(t.mean()),
                    "k": k,
                    "learners": {n: report[n] for n in names},
                    "random": report["random"],
                }
            )
        )
        return
    table = Table(title=f"uplift of {treatment} != {ctrl!r} on {outcome} (held-out half)")
    for col in ("targeting", "Qini coef.", "95% CI", "normalised", f"uplift@{k:g}"):
        table.add_column(col, justify="left" if col == "targeting" else "right")
    for name, r in report.items():
        q = r["qini"]
        table.add_row(
            name,
            f"{q['value']:.5f}",
            f"[{q['ci_low']:.5f}, {q['ci_high']:.5f}]",
            f"{r['qini_normalised']:.3f}" if r["qini_normalised"] is not None else "-",
            f"{r['uplift_at_k']:.4f}" if r["uplift_at_k"] is not None else "-",
        )
    console.print(table)
    if scores_out is not None:
        console.print(f"scores written to {scores_out}")


def _parse_weights(text: str | None) -> dict[str, float] | None:
    """``--weights control=0.5,B=0.5`` as a mapping (None when not given)."""
    if not text:
        return None
    out: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = float("nan")
        if not sep or not name.strip() or not math.isfinite(share) or share <= 0:
            raise ValidationError(
                "weights", "must be NAME=SHARE pairs with shares > 0", value=part,
                hint="--weights control=0.5,B=0.5",
            )  # fmt: skip
        out[name.strip()] = share
    return out


def _fmt(x: float | None, spec: str = ".4g") -> str:
    return "-" if x is None else format(x, spec)


@experiments_app.command("analyze")
def analyze(
    file: Annotated[Path, typer.Argument(help="per-shopper rows (CSV or Parquet)")],
    variant: Annotated[str, typer.Option("--variant", help="column of the variant name")],
    metric: Annotated[str, typer.Option("--metric", help="column of the metric")],
    pre: Annotated[
        str | None,
        typer.Option("--pre", help="column of the pre-period covariate (CUPED adjustment)"),
    ] = None,
    control: Annotated[
        str | None,
        typer.Option("--control", help="name of the control variant (default control or A)"),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="column to group by (a segment, a country)")
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="intended split for the SRM check: control=0.5,B=0.5"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON line")] = False,
) -> None:
    """Lift of each treatment over the control (treatment mean minus control mean).

    Welch's 95% interval and p-value, CUPED-adjusted with --pre (the variance reduction it
    achieved is reported), and the sample-ratio-mismatch p-value of each group (below 0.001:
    the split is broken, do not trust the numbers).
    """
    from campaignrec.experiments.analysis import analyse_rows, read_rows

    df = read_rows(file)
    results = analyse_rows(
        df,
        variant=variant,
        metric=metric,
        pre=pre,
        control=control,
        by=by,
        weights=_parse_weights(weights),
    )
    if as_json:
        typer.echo(json.dumps({"results": [r.as_dict() for r in results]}))
        return
    title = f"{metric} by {variant} on {file.name}" + (" (CUPED on " + pre + ")" if pre else "")
    table = Table(title=title)
    cols = [*(["by"] if by else []), "treatment", "control", "n (t / c)", "lift", "95% CI",
            "p", "var. cut", "SRM p"]  # fmt: skip
    for col in cols:
        table.add_column(col, justify="left" if col in ("by", "treatment", "control") else "right")
    for r in results:
        table.add_row(
            *([str(r.by)] if by else []),
            r.treatment,
            r.control,
            f"{r.n_treatment:,} / {r.n_control:,}",
            _fmt(r.lift),
            "-" if r.ci_low is None else f"[{r.ci_low:.4g}, {r.ci_high:.4g}]",
            _fmt(r.p_value, ".3g"),
            "-" if r.variance_reduction is None else f"{r.variance_reduction:.1%}",
            _fmt(r.srm_p_value, ".3g"),
        )
    console.print(table)
    warned: set[str | None] = set()
    for r in results:
        if r.note:
            console.print(f"{r.by or 'all'} / {r.treatment}: {r.note}")
        if r.srm_p_value is not None and r.srm_p_value < 0.001 and r.by not in warned:
            warned.add(r.by)
            console.print(
                f"[bold red]{r.by or 'all'}: traffic split is broken (SRM p={r.srm_p_value:.2g}): "
                "do not trust these numbers / 流量分配异常，结果不可信[/]"
            )


def _read_spec(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"file {str(path)!r} does not exist", hint="a JSON or TOML definition")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib

            return dict(tomllib.loads(text))
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {str(path)!r}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{str(path)!r} must hold one object (the experiment definition)")
    return data


def _experiment_row(exp: Any) -> list[str]:
    shares = ", ".join(f"{v.name} {v.share:g}" for v in exp.variants)
    window = f"{exp.start_time or '-'} .. {exp.end_time or '-'}"
    return [
        exp.experiment_id,
        exp.layer,
        f"{exp.range_low:.2f}-{exp.range_high:.2f}",
        shares + (f" (holdout {exp.holdout_share:g})" if exp.holdout_share else ""),
        exp.primary_metric,
        window,
    ]


def _experiments_table(experiments: list[Any], title: str) -> Table:
    table = Table(title=title)
    for col in ("id", "layer", "range", "variants", "primary", "window"):
        table.add_column(col)
    for exp in experiments:
        table.add_row(*_experiment_row(exp))
    return table


def _moment(at: str | None) -> datetime | None:
    """``--at``: an ISO 8601 moment with a zone (None when not given)."""
    from datetime import datetime

    if at is None:
        return None
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise ValidationError("at", "not an ISO 8601 moment", value=at) from None
    if moment.tzinfo is None:
        raise ValidationError("at", "needs a timezone", value=at, hint="2026-01-01T00:00Z")
    return moment


@experiments_app.command("create")
def create(
    spec: Annotated[Path, typer.Argument(help="experiment definition (JSON or TOML)")],
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Store an experiment definition; it gets a free range of its layer's shoppers."""
    from campaignrec.cli.context import open_store
    from campaignrec.experiments.registry import create_experiment

    store = open_store()
    try:
        exp = create_experiment(store, _read_spec(spec))
    finally:
        store.close()
    if as_json:
        typer.echo(exp.model_dump_json())
        return
    console.print(_experiments_table([exp], "created"))


@experiments_app.command("list")
def list_cmd(
    layer: Annotated[str | None, typer.Option("--layer", help="only this layer")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """The stored experiments, in creation order."""
    from campaignrec.cli.context import open_store
    from campaignrec.experiments.registry import list_experiments

    store = open_store()
    try:
        found = list_experiments(store, layer=layer)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"experiments": [e.model_dump(mode="json") for e in found]}))
        return
    console.print(_experiments_table(found, f"{len(found)} experiment(s)"))


@experiments_app.command("assign")
def assign(
    user: Annotated[str, typer.Argument(help="external user id")],
    at: Annotated[
        str | None, typer.Option("--at", help="moment (ISO 8601 with a zone; default now)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """The variants USER gets in the running experiments (at most one per layer), as the service
    assigns them (on the id the store knows: its pseudonym when a pseudonymisation key is set)."""
    from campaignrec.cli.context import open_store, settings
    from campaignrec.experiments.registry import assign_user, list_experiments
    from campaignrec.privacy import pseudonymise_user_id

    moment = _moment(at)
    store = open_store()
    try:
        stored = pseudonymise_user_id(settings(), user)
        found = assign_user(stored, list_experiments(store), at=moment)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"user_id": user, "assignments": [a.as_dict() for a in found]}))
        return
    if not found:
        console.print(f"{user}: in no running experiment / 未参与正在运行的实验")
    for a in found:
        console.print(f"{user}: {a.experiment_id} (layer {a.layer}) -> [bold]{a.variant}[/]")


@experiments_app.command("results")
def results_cmd(
    experiment_id: Annotated[str, typer.Argument(help="experiment id")],
    at: Annotated[
        str | None, typer.Option("--at", help="moment (ISO 8601 with a zone; default now)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Per-variant metrics with 95% intervals, the sequential test and the decision."""
    from campaignrec.cli.context import open_store
    from campaignrec.experiments.results import experiment_results

    moment = _moment(at)
    store = open_store()
    try:
        out = experiment_results(store, experiment_id, at=moment)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False))
        return
    if out.get("kind") == "interleaving":
        _print_interleaving(experiment_id, out)
        return
    table = Table(title=f"{experiment_id}: {out['days']:.1f} days")
    for col in ("variant", "users", "CTR", "conversion", "revenue/user"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for name, v in out["variants"].items():
        cells = []
        for m in ("ctr", "conversion", "revenue_per_user"):
            x = v[m]
            cells.append(
                "-" if x["value"] is None or x["ci_low"] is None
                else f"{x['value']:.4g} [{x['ci_low']:.4g}, {x['ci_high']:.4g}]"
            )  # fmt: skip
        table.add_row(name, f"{v['users']:,}", *cells)
    console.print(table)
    srm = out["srm"]["p_value"]
    console.print(f"SRM p-value: {'-' if srm is None else format(srm, '.3g')}")
    console.print(f"[bold]{out['decision']['en']}[/]")
    console.print(f"[bold]{out['decision']['zh']}[/]")


def _print_interleaving(experiment_id: str, out: dict[str, Any]) -> None:
    table = Table(title=f"{experiment_id}: interleaving, {out['shoppers']:,} shoppers / 位顾客")
    for col in ("variant", "positions", "clicks", "CTR", "shoppers preferring"):
        table.add_column(col, justify="left" if col == "variant" else "right")
    for name, v in out["variants"].items():
        ctr = "-" if v["ctr"] is None else f"{v['ctr']:.4g}"
        table.add_row(name, f"{v['positions']:,}", f"{v['clicks']:,.0f}", ctr,
                      f"{v.get('wins', 0):,}")  # fmt: skip
    console.print(table)
    console.print(f"[bold]{out['decision']['en']}[/]")
    console.print(f"[bold]{out['decision']['zh']}[/]")


@experiments_app.command("size")
def size(
    baseline: Annotated[
        float,
        typer.Option("--baseline", help="control's value: a conversion rate, or a mean with --sd"),
    ],
    mde: Annotated[
        float, typer.Option("--mde", help="smallest relative change worth detecting (0.05 = 5%)")
    ],
    sd: Annotated[
        float | None,
        typer.Option("--sd", help="standard deviation per shopper (a mean metric such as revenue)"),
    ] = None,
    variants: Annotated[int, typer.Option("--variants", help="arms, control included")] = 2,
    daily: Annotated[
        float | None,
        typer.Option("--daily", help="shoppers entering the experiment per day (all arms)"),
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="significance level")] = 0.05,
    power: Annotated[float, typer.Option("--power", help="power")] = 0.8,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Shoppers per arm (and days, with --daily) a fixed-horizon test needs before launch."""
    from campaignrec.experiments.ab import sample_size_per_variant
    from campaignrec.experiments.sequential import sample_size_for_mean

    if variants < 2:
        raise ValidationError("variants", "an experiment needs at least 2 arms", value=variants)
    if sd is None:
        per_arm = sample_size_per_variant(baseline, mde, relative=True, alpha=alpha, power=power)
    else:
        per_arm = sample_size_for_mean(sd, mde * baseline, alpha=alpha, power=power)
    days = None
    if daily is not None:
        if not daily > 0:
            raise ValidationError("daily", "must be > 0", value=daily)
        days = math.ceil(per_arm * variants / daily)
    if as_json:
        typer.echo(json.dumps({"per_variant": per_arm, "total": per_arm * variants, "days": days}))
        return
    console.print(f"{per_arm:,} shoppers per arm, {per_arm * variants:,} in all")
    if days is not None:
        console.print(
            f"about {days} days at {daily:,.0f} shoppers a day / 按每天 {daily:,.0f} 人约需 {days} 天"
        )
    console.print(
        "[dim]fixed-horizon sizes; the always-valid sequential test may need more (docs/experiments.md)[/]"
    )
