"""Read logged bandit feedback from files into a :class:`~campaignrec.experiments.ope.BanditLog`.

Two formats:

* the **Open Bandit Dataset** CSV (``timestamp,item_id,position,click,propensity_score,
  user_feature_0..3,user-item_affinity_*``), read directly: the item is the action, the slot
  (``position``, 1-based in the file) is a feature, the click is the reward; hashed user features
  are one-hot encoded and the affinities kept as numbers; ``item_context.csv`` beside the file,
  when present, gives the action features (numbers kept, hashed categories one-hot encoded);
* a **generic CSV / Parquet** log whose columns are named by a :class:`LogMapping` (JSON or TOML
  file): action, reward, propensity, optional position, and context columns (every other numeric
  column by default).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from campaignrec.errors import ConfigError, ValidationError
from campaignrec.experiments.ope import BanditLog, check_action_dist

__all__ = [
    "LoadedLog",
    "LogMapping",
    "decision_log",
    "load_mapping",
    "log_from_frame",
    "read_log",
    "read_obd_csv",
    "read_policy_file",
]


@dataclass(frozen=True)
class LoadedLog:
    """A log plus the names that map its indices back to the file."""

    log: BanditLog
    action_ids: list[str]  # action index -> external action id
    context_columns: list[str]


class LogMapping(BaseModel):
    """Which columns of a generic log file hold what.

    Attributes
    ----------
    action, reward, pscore : str
        Column names of the shown action id, the observed reward and its propensity.
    position : str, optional
        Column of the slot (any values; encoded as 0..P-1).
    context : list of str, optional
        Context columns; by default every other numeric column.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: str = "action"
    reward: str = "reward"
    pscore: str = "pscore"
    position: str | None = None
    context: list[str] | None = None


def load_mapping(path: str | Path) -> LogMapping:
    """Read a :class:`LogMapping` from a JSON or TOML file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"mapping file {str(p)!r} does not exist", hint="pass --mapping FILE")
    text = p.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text) if p.suffix.lower() == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"mapping file {str(p)!r} is not valid: {exc}") from None
    try:
        return LogMapping.model_validate(raw)
    except Exception as exc:  # pydantic's ValidationError: one clear line
        raise ConfigError(
            f"mapping file {str(p)!r}: {exc}".splitlines()[0],
            hint="keys: action, reward, pscore, position, context",
        ) from None


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise ConfigError(f"log file {str(path)!r} does not exist", hint="pass --logs FILE")
    if path.suffix.lower() == ".parquet":
        return pd.read_parquet(path)
    return pd.read_csv(path)


def _one_hot(df: pd.DataFrame, columns: list[str]) -> tuple[NDArray[np.float64], list[str]]:
    if not columns:
        return np.zeros((len(df), 0)), []
    dummies = pd.get_dummies(df[columns].astype(str), prefix=columns, dtype=np.float64)
    return dummies.to_numpy(dtype=np.float64), list(dummies.columns)


def _require(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValidationError(
            what, "missing columns", value=missing, hint=f"file has {list(df.columns)[:12]}"
        )


def read_obd_csv(path: str | Path, *, item_context: str | Path | None = None) -> LoadedLog:
    """Read an Open Bandit Dataset CSV (one campaign: ``all``, ``men`` or ``women``).

    Parameters
    ----------
    path : str or Path
        The campaign's CSV.
    item_context : str or Path, optional
        ``item_context.csv``; by default the one beside ``path`` when it exists.

    Returns
    -------
    LoadedLog
        ``n_actions`` covers every item id up to the largest seen (in the log or item file).
    """
    p = Path(path)
    df = _read_table(p)
    df = df.drop(columns=[c for c in df.columns if c.startswith("Unnamed")])
    _require(df, ["item_id", "position", "click", "propensity_score"], "obd log")
    user_cols = sorted(c for c in df.columns if c.startswith("user_feature_"))
    aff_cols = [c for c in df.columns if c.startswith("user-item_affinity_")]
    onehot, names = _one_hot(df, user_cols)
    aff = df[aff_cols].to_numpy(dtype=np.float64)
    context = np.hstack([onehot, aff])
    items = df["item_id"].to_numpy(dtype=np.int64)
    ic_path = Path(item_context) if item_context is not None else p.parent / "item_context.csv"
    action_context = None
    n_actions = int(items.max()) + 1
    if ic_path.is_file():
        ic = pd.read_csv(ic_path)
        ic = ic.drop(columns=[c for c in ic.columns if c.startswith("Unnamed")])
        _require(ic, ["item_id"], "item_context")
        ic = ic.sort_values("item_id")
        n_actions = max(n_actions, int(ic["item_id"].max()) + 1)
        feats = [c for c in ic.columns if c != "item_id"]
        numeric = [c for c in feats if pd.api.types.is_numeric_dtype(ic[c])]
        cats = [c for c in feats if c not in numeric]
        num = ic[numeric].to_numpy(dtype=np.float64)
        if num.size:
            num = (num - num.mean(axis=0)) / np.where(num.std(axis=0) > 0, num.std(axis=0), 1.0)
        oh, _ = _one_hot(ic, cats)
        full = np.zeros((n_actions, num.shape[1] + oh.shape[1]))
        full[ic["item_id"].to_numpy(dtype=np.int64)] = np.hstack([num, oh])
        action_context = full
    positions = df["position"].to_numpy(dtype=np.int64)
    log = BanditLog(
        context=context,
        action=items,
        reward=df["click"].to_numpy(dtype=np.float64),
        pscore=df["propensity_score"].to_numpy(dtype=np.float64),
        n_actions=n_actions,
        position=positions - positions.min(),
        action_context=action_context,
    )
    return LoadedLog(
        log=log, action_ids=[str(i) for i in range(n_actions)], context_columns=names + aff_cols
    )


def read_log(path: str | Path, mapping: LogMapping | None = None) -> LoadedLog:
    """Read a generic log file (CSV or Parquet) described by ``mapping``.

    Parameters
    ----------
    path : str or Path
    mapping : LogMapping, optional
        Column names (defaults: ``action``, ``reward``, ``pscore``, every other numeric column
        as context).

    Returns
    -------
    LoadedLog
        Actions are indexed in sorted order of their ids.
    """
    return log_from_frame(_read_table(Path(path)), mapping)


def log_from_frame(df: pd.DataFrame, mapping: LogMapping | None = None) -> LoadedLog:
    """:func:`read_log` of a table already in memory (the store's decision log, a notebook)."""
    m = mapping or LogMapping()
    needed = [m.action, m.reward, m.pscore] + ([m.position] if m.position else [])
    _require(df, needed, "log")
    if m.context is None:
        ctx_cols = [
            c
            for c in df.columns
            if c not in needed and pd.api.types.is_numeric_dtype(df[c]) and c != "round"
        ]
    else:
        _require(df, m.context, "context")
        ctx_cols = list(m.context)
    action_ids = sorted({str(a) for a in df[m.action]})
    index = {a: i for i, a in enumerate(action_ids)}
    action = np.array([index[str(a)] for a in df[m.action]], dtype=np.int64)
    context = df[ctx_cols].to_numpy(dtype=np.float64) if ctx_cols else np.zeros((len(df), 1))
    position = None
    if m.position:
        _, position = np.unique(df[m.position].astype(str).to_numpy(), return_inverse=True)
        position = position.astype(np.int64)
    log = BanditLog(
        context=context,
        action=action,
        reward=df[m.reward].to_numpy(dtype=np.float64),
        pscore=df[m.pscore].to_numpy(dtype=np.float64),
        n_actions=len(action_ids),
        position=position,
    )
    return LoadedLog(log=log, action_ids=action_ids, context_columns=ctx_cols)


def decision_log(
    events: pd.DataFrame,
    *,
    reward_event: str = "campaign_click",
    window_hours: float = 24.0,
    policy: str | None = None,
) -> pd.DataFrame:
    """The service's own campaign decisions as a bandit log: one row per logged
    ``campaign_impression`` with a propensity (``action`` = campaign id, ``pscore``,
    ``position``, ``policy``), ``reward`` = 1 when the same shopper sent a ``reward_event`` for
    that campaign within ``window_hours`` after it, else 0.

    Parameters
    ----------
    events : the store's events table (``user_id, event_type, timestamp, campaign_id,
        position, policy, propensity``)
    policy : keep only the decisions of this logging policy (default: all)

    Raises
    ------
    ValidationError
        No logged decision with a propensity (nothing to evaluate on).
    """
    need = ["user_id", "event_type", "timestamp", "campaign_id", "propensity"]
    _require(events, need, "events")
    imp = events[
        (events["event_type"] == "campaign_impression")
        & events["campaign_id"].notna()
        & events["propensity"].notna()
    ]
    if policy is not None and "policy" in imp.columns:
        imp = imp[imp["policy"] == policy]
    if imp.empty:
        raise ValidationError(
            "events",
            "no logged campaign decisions with a propensity"
            + (f" by policy {policy!r}" if policy else ""),
            hint="serve campaigns through the API or `campaignrec campaigns for USER` first",
        )
    imp = imp.reset_index(drop=True)
    rewards = events[(events["event_type"] == reward_event) & events["campaign_id"].notna()]

    def epoch_ns(values: pd.Series) -> NDArray[np.int64]:
        t = pd.to_datetime(values, utc=True).dt.tz_convert(None)
        return t.to_numpy(dtype="datetime64[ns]").astype(np.int64)

    ts = epoch_ns(imp["timestamp"])
    window = int(window_hours * 3600 * 1e9)
    got = np.zeros(len(imp), dtype=np.float64)
    if len(rewards):
        rw = rewards.assign(_t=epoch_ns(rewards["timestamp"]))
        by_key = {k: np.sort(g["_t"].to_numpy()) for k, g in rw.groupby(["user_id", "campaign_id"])}
        for i, (u, c, t) in enumerate(zip(imp["user_id"], imp["campaign_id"], ts, strict=True)):
            times = by_key.get((u, c))
            if times is None:
                continue
            lo = np.searchsorted(times, t, side="right")  # the first reward after the decision
            if lo < len(times) and times[lo] <= t + window:
                got[i] = 1.0
    return pd.DataFrame(
        {
            "action": imp["campaign_id"].astype(str).to_numpy(),
            "reward": got,
            "pscore": imp["propensity"].astype(float).to_numpy(),
            "position": (imp["position"] if "position" in imp else pd.Series(0, index=imp.index))
            .fillna(0)
            .astype(int)
            .to_numpy(),
            "policy": (imp["policy"] if "policy" in imp else pd.Series("", index=imp.index))
            .fillna("")
            .astype(str)
            .to_numpy(),
        }
    )


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
