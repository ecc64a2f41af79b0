"""``campaignrec ope`` and ``campaignrec uplift``: off-policy evaluation and uplift evaluation.

Plain command functions; ``cli/main.py`` attaches them::

    app.command("ope")(experiments.ope)
    app.command("uplift")(experiments.uplift)

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
    import numpy as np
    import pandas as pd
    from numpy.typing import NDArray

    from campaignrec.experiments.logs_io import LoadedLog

console = Console()

__all__ = ["ope", "read_policy_file", "uplift"]


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def read_policy_file(path: Path, loaded: LoadedLog) -> NDArray[np.float64]:
    """Action probabilities of every logged round from a CSV file.

    Two layouts: long, with columns ``round,action,prob`` (missing pairs have probability 0),
    or wide, one column per action id (optionally a ``round`` column), one row per round in log
    order.

    Parameters
    ----------
    path : Path
        The policy CSV.
    loaded : LoadedLog
        The log it applies to (its action ids name the columns / values).

    Returns
    -------
    ndarray of shape (n_rounds, n_actions)
    """
    import numpy as np
    import pandas as pd

    from campaignrec.experiments.ope import check_action_dist

    if not path.is_file():
        raise ConfigError(
            f"policy file {str(path)!r} does not exist",
            hint="use --policy uniform, --policy model or a CSV of action probabilities",
        )
    df = pd.read_csv(path)
    n, k = loaded.log.n_rounds, loaded.log.n_actions
    index = {a: i for i, a in enumerate(loaded.action_ids)}
    pi = np.zeros((n, k))
    if {"round", "action", "prob"} <= set(df.columns):
        rounds = df["round"].to_numpy(dtype=np.int64)
        if rounds.min() < 0 or rounds.max() >= n:
            raise ValidationError("round", f"must be in [0, {n})", value=int(rounds.max()))
        unknown = sorted({str(a) for a in df["action"]} - set(index))
        if unknown:
            raise ValidationError(
                "action", "unknown action ids in the policy file", value=unknown[:5]
            )
        acts = np.array([index[str(a)] for a in df["action"]], dtype=np.int64)
        np.add.at(pi, (rounds, acts), df["prob"].to_numpy(dtype=np.float64))
    else:
        cols = [c for c in df.columns if c != "round"]
        unknown = sorted(set(map(str, cols)) - set(index))
        if unknown:
            raise ValidationError(
                "policy columns",
                "are not action ids of the log",
                value=unknown[:5],
                hint="use columns round,action,prob or one column per action id",
            )
        if len(df) != n:
            raise ValidationError("policy rows", f"must be one per round ({n})", value=len(df))
        for c in cols:
            pi[:, index[str(c)]] = df[c].to_numpy(dtype=np.float64)
    return check_action_dist(loaded.log, pi)


def ope(
    logs: Annotated[
        Path | None, typer.Option("--logs", help="log file (CSV or Parquet)")
    ] = None,
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
    data: Annotated[Path, typer.Option("--data", help="CSV or Parquet with one row per user")],
    treatment: Annotated[str, typer.Option("--treatment", help="treatment column")],
    outcome: Annotated[str, typer.Option("--outcome", help="outcome column")],
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
    """Fit uplift learners on a random half and report Qini and uplift@k on the other half.

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
