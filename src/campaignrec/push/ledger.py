"""The push ledger: every push planned or sent and every holdout, across campaigns.

One Parquet file in the data directory (``<home>/push/ledger.parquet``). It is the record the
caps and the channel quotas count against: a plan of one campaign sees the pushes that plans of
other campaigns already scheduled. Re-planning a campaign replaces its ``planned`` rows (and its
holdout rows), so a plan reviewed and discarded never counts twice; rows of any other status
(``sent`` ...) are kept. Eligible shoppers outside the holdout whom the rules left without a
push are kept too (``group = left_out``), so that ``push report`` compares the whole treatment
arm with the holdout, not only the shoppers the rules picked.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from campaignrec.errors import ValidationError
from campaignrec.push.plan import PLAN_COLUMNS, PushPlan

LEDGER_COLUMNS = (
    "user_id",
    "campaign_id",
    "channel",
    "send_at_utc",
    "group",
    "status",
    "planned_at",
    "expected_value",
)
HOLDOUT_CHANNEL = "(holdout)"
LEFT_OUT_CHANNEL = "(left out)"


def ledger_path(home: Path) -> Path:
    """``<home>/push/ledger.parquet``."""
    return home / "push" / "ledger.parquet"


def read_ledger(path: Path) -> pd.DataFrame:
    """The ledger's rows (empty with the ledger columns when the file does not exist)."""
    if not path.is_file():
        return pd.DataFrame(columns=list(LEDGER_COLUMNS))
    df = pd.read_parquet(path)
    missing = [c for c in LEDGER_COLUMNS if c not in df.columns]
    if missing:
        raise ValidationError(
            missing[0],
            "the push ledger lacks this column",
            value=str(path),
            hint="move the file away to start a new ledger",
        )
    return df


def pushes_counted(ledger: pd.DataFrame, campaign_id: str) -> pd.DataFrame:
    """The pushes that count against caps and quotas when ``campaign_id`` is (re)planned: every
    push of the ledger except this campaign's ``planned`` ones."""
    if ledger.empty:
        return ledger
    pushes = ledger[ledger["group"] == "push"]
    replaced = (pushes["campaign_id"].astype(str) == campaign_id) & (pushes["status"] == "planned")
    return pushes[~replaced]


def record_plan(path: Path, plan: PushPlan, planned_at: datetime) -> int:
    """Write ``plan`` (pushes and holdout) into the ledger at ``path``, replacing the campaign's
    earlier planned rows; returns the ledger's row count."""
    ledger = read_ledger(path)
    cid = plan.campaign_id
    if not ledger.empty:
        same = ledger["campaign_id"].astype(str) == cid
        drop = same & (
            (ledger["status"] == "planned") | ledger["group"].isin(("holdout", "left_out"))
        )
        ledger = ledger[~drop]
    t = plan.table
    pushes = pd.DataFrame(
        {
            "user_id": t["user_id"].astype(str),
            "campaign_id": cid,
            "channel": t["channel"].astype(str),
            "send_at_utc": pd.to_datetime(t["send_at_utc"], utc=True),
            "group": "push",
            "status": "planned",
            "planned_at": pd.Timestamp(planned_at),
            "expected_value": t["expected_value"].astype(float),
        }
    )
    held = pd.DataFrame(
        {
            "user_id": list(plan.holdout),
            "campaign_id": cid,
            "channel": HOLDOUT_CHANNEL,
            "send_at_utc": pd.NaT,
            "group": "holdout",
            "status": "planned",
            "planned_at": pd.Timestamp(planned_at),
            "expected_value": 0.0,
        }
    )
    left = pd.DataFrame(
        {
            "user_id": list(plan.left_out),
            "campaign_id": cid,
            "channel": LEFT_OUT_CHANNEL,
            "send_at_utc": pd.NaT,
            "group": "left_out",
            "status": "planned",
            "planned_at": pd.Timestamp(planned_at),
            "expected_value": 0.0,
        }
    )
    parts = [p for p in (ledger, pushes, held, left) if len(p)]
    out = (
        pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(LEDGER_COLUMNS))
    )
    _write_ledger(path, out)
    return len(out)


def mark_sent(path: Path, sent: list[dict[str, object]]) -> int:
    """Mark the pushes of ``sent`` (send-log records: ``campaign_id``, ``user_id``, ``channel``,
    ``send_at_utc``) as ``sent`` in the ledger; a send the ledger does not hold (a plan written
    with ``--dry-run``) is added as a sent push. Returns how many rows changed or were added."""
    if not sent:
        return 0
    ledger = read_ledger(path)
    recs = pd.DataFrame(sent)
    recs["send_at_utc"] = pd.to_datetime(recs["send_at_utc"], utc=True)
    recs = recs.drop_duplicates(["campaign_id", "user_id", "send_at_utc"])

    def keys(df: pd.DataFrame) -> pd.Series:
        at = pd.to_datetime(df["send_at_utc"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%S")
        return df["campaign_id"].astype(str) + "|" + df["user_id"].astype(str) + "|" + at

    changed = 0
    if not ledger.empty:
        lk = keys(ledger)
        hit = lk.isin(set(keys(recs))) & (ledger["group"] == "push") & (ledger["status"] != "sent")
        changed = int(hit.sum())
        ledger.loc[hit, "status"] = "sent"
        known = set(lk[ledger["group"] == "push"])
    else:
        known = set()
    new = recs[~keys(recs).isin(known)]
    added = pd.DataFrame(
        {
            "user_id": new["user_id"].astype(str),
            "campaign_id": new["campaign_id"].astype(str),
            "channel": new["channel"].astype(str),
            "send_at_utc": new["send_at_utc"],
            "group": "push",
            "status": "sent",
            "planned_at": pd.NaT,
            "expected_value": float("nan"),
        }
    )
    if not changed and added.empty:
        return 0
    parts = [p for p in (ledger, added) if len(p)]
    _write_ledger(path, pd.concat(parts, ignore_index=True))
    return changed + len(added)


def _write_ledger(path: Path, out: pd.DataFrame) -> None:
    out = out.copy()
    out["send_at_utc"] = pd.to_datetime(out["send_at_utc"], utc=True)
    out["planned_at"] = pd.to_datetime(out["planned_at"], utc=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".parquet.tmp")
    out.loc[:, list(LEDGER_COLUMNS)].to_parquet(tmp, index=False)
    tmp.replace(path)  # atomic: a crash leaves the old ledger or the new one


def write_plan(table: pd.DataFrame, path: Path) -> Path:
    """Write a plan table as CSV (``.csv``) or Parquet (``.parquet``); ``send_at`` stays an ISO
    string with its UTC offset in both (Parquet holds one time zone per column)."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValidationError(
            "--out", "must end in .csv or .parquet", value=str(path), hint="e.g. plan.csv"
        )
    for col in PLAN_COLUMNS:
        if col not in table.columns:
            raise ValidationError(col, "the plan table lacks this column")
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_parquet(path, index=False)
    return path


__all__ = [
    "HOLDOUT_CHANNEL",
    "LEDGER_COLUMNS",
    "LEFT_OUT_CHANNEL",
    "ledger_path",
    "mark_sent",
    "pushes_counted",
    "read_ledger",
    "record_plan",
    "write_plan",
]
