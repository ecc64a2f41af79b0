"""Drift and health figures of a shop: ``campaignrec health`` and the service's ``/metrics``.

* **event volume and mix**: events per type in the last ``days`` (7: "this week") against the
  ``days`` before ("last week"); the change of volume and the population stability index (PSI)
  of the event-type mix (< 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large shift, the usual
  reading);
* **cold users in recent traffic**: of the shoppers active this week, the share the active model
  never saw (their first event came after the end of its data, ``meta.data_end``; with no active
  model, their first event is in this week), and the share of this week's events they sent;
* **served CTR by model version**: the service's decision log (every event with a propensity:
  campaign impressions and any logged served list), each decision attributed to the model
  version active when it was served (the registry's activation times) and counted as clicked
  when the shopper clicked it (``campaign_click`` for the campaign, ``click`` for the item)
  within ``click_hours``;
* **the active model's age** (wall-clock time since it was created) and its data's age (from
  ``data_end`` to ``as_of``), and the retrain gate's last decision.

``as_of`` defaults to now; a store whose latest event is older than ``days`` (a replayed or
historic log) is read as of its latest event instead, and the report says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import case, func, select

from campaignrec.errors import CampaignrecError

PSI_FLOOR = 1e-4


@dataclass
class HealthReport:
    """The figures (see the module docstring); ``to_dict`` is the ``--json`` shape."""

    as_of: str
    as_of_source: str
    days: float
    events_this_week: int
    events_last_week: int
    volume_change: float
    mix_this_week: dict[str, int]
    mix_last_week: dict[str, int]
    mix_psi: float
    active_users: int
    cold_users: int
    cold_user_share: float
    cold_event_share: float
    cold_reference: str
    ctr_by_version: list[dict[str, Any]] = field(default_factory=list)
    active_model: dict[str, Any] | None = None
    last_retrain: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in asdict(self).items()}  # fmt: skip


def _us(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def _when(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        at = pd.Timestamp(value)
    except (TypeError, ValueError):
        return None
    if pd.isna(at):
        return None
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    return at.to_pydatetime()


def psi(current: dict[str, int], reference: dict[str, int]) -> float:
    """Population stability index of two count mixes (NaN when either is empty)."""
    keys = sorted(set(current) | set(reference))
    a = np.array([current.get(k, 0) for k in keys], dtype=np.float64)
    b = np.array([reference.get(k, 0) for k in keys], dtype=np.float64)
    if a.sum() == 0 or b.sum() == 0:
        return float("nan")
    p = np.maximum(a / a.sum(), PSI_FLOOR)
    q = np.maximum(b / b.sum(), PSI_FLOOR)
    return float(np.sum((p - q) * np.log(p / q)))


def _mix(store: Any, start: datetime, end: datetime) -> dict[str, int]:
    ev = store.tables.events
    stmt = (
        select(ev.c.event_type, func.count())
        .where(ev.c.timestamp >= _us(start), ev.c.timestamp < _us(end))
        .group_by(ev.c.event_type)
    )
    with store.engine.connect() as conn:
        return {str(t): int(n) for t, n in conn.execute(stmt).all()}


def _latest_event(store: Any) -> datetime | None:
    ev = store.tables.events
    with store.engine.connect() as conn:
        raw = conn.execute(select(func.max(ev.c.timestamp))).scalar_one()
    return None if raw is None else datetime.fromtimestamp(int(raw) / 1e6, UTC)


def _cold(
    store: Any, start: datetime, end: datetime, reference: datetime
) -> tuple[int, int, float]:
    """Active users in [start, end), those first seen after ``reference``, their event share."""
    ev = store.tables.events
    in_window = (ev.c.timestamp >= _us(start)) & (ev.c.timestamp < _us(end))
    recent = func.sum(case((in_window, 1), else_=0))
    stmt = (
        select(ev.c.user_id, func.min(ev.c.timestamp), recent)
        .group_by(ev.c.user_id)
        .having(recent > 0)
    )
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    if not rows:
        return 0, 0, float("nan")
    first = np.array([int(r[1]) for r in rows], dtype=np.int64)
    n_recent = np.array([int(r[2]) for r in rows], dtype=np.int64)
    cold = first > _us(reference)
    return len(rows), int(cold.sum()), float(n_recent[cold].sum() / n_recent.sum())


DECISION_COLUMNS = ("user_id", "event_type", "timestamp", "item_id", "campaign_id", "propensity")


def _decision_events(store: Any, start: datetime, end: datetime) -> pd.DataFrame:
    """The decision-log and click events in [start, end) (one indexed-free range read)."""
    ev = store.tables.events
    stmt = select(*(ev.c[c] for c in DECISION_COLUMNS)).where(
        ev.c.timestamp >= _us(start),
        ev.c.timestamp < _us(end),
        (ev.c.propensity.is_not(None)) | ev.c.event_type.in_(["campaign_click", "click"]),
    )
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    df = pd.DataFrame(rows, columns=list(DECISION_COLUMNS))
    df["timestamp"] = pd.to_datetime(df["timestamp"].astype("int64"), unit="us", utc=True)
    return df


def _activation_timeline(models: pd.DataFrame) -> list[tuple[datetime, str]]:
    out = []
    for row in models.to_dict("records"):
        at = _when(row.get("activated_at"))
        if at is not None:
            out.append((at, f"{row['name']}:{row['version']}"))
    return sorted(out)


def served_ctr_by_version(
    events: pd.DataFrame, models: pd.DataFrame, *, click_hours: float = 24.0
) -> list[dict[str, Any]]:
    """Decisions, clicks and CTR of the logged decisions per model version active at the time
    (``(none)`` for decisions before any activation)."""
    need = set(DECISION_COLUMNS)
    if events.empty or not need <= set(events.columns):
        return []
    dec = events[events["propensity"].notna()]
    dec = dec[dec["event_type"].isin(["campaign_impression", "view"])].copy()
    if dec.empty:
        return []
    ts = pd.to_datetime(dec["timestamp"], utc=True)
    timeline = _activation_timeline(models)
    times = np.array([pd.Timestamp(t).value for t, _ in timeline], dtype=np.int64)
    names = ["(none)", *(v for _, v in timeline)]
    pos = np.searchsorted(times, ts.dt.as_unit("ns").astype("int64").to_numpy(), side="right")
    dec["version"] = [names[p] for p in pos]
    dec["_t"] = ts.to_numpy()
    is_campaign = dec["event_type"] == "campaign_impression"
    dec["target"] = dec["campaign_id"].where(is_campaign, dec["item_id"]).astype("string")
    dec["click_type"] = np.where(is_campaign, "campaign_click", "click")
    clicks = events[events["event_type"].isin(["campaign_click", "click"])]
    ck = pd.DataFrame(
        {
            "user_id": clicks["user_id"].astype(str).to_numpy(),
            "click_type": clicks["event_type"].astype(str).to_numpy(),
            "target": clicks["campaign_id"]
            .where(clicks["event_type"] == "campaign_click", clicks["item_id"])
            .astype("string")
            .to_numpy(),
            "_c": pd.to_datetime(clicks["timestamp"], utc=True).to_numpy(),
        }
    )
    left = dec.reset_index(drop=True).assign(
        _row=lambda d: np.arange(len(d)), user_id=lambda d: d["user_id"].astype(str)
    )
    m = left[["_row", "user_id", "click_type", "target", "_t"]].merge(
        ck, on=["user_id", "click_type", "target"], how="inner"
    )
    hit = (m["_c"] >= m["_t"]) & (m["_c"] <= m["_t"] + pd.Timedelta(hours=click_hours))
    left["clicked"] = left["_row"].isin(set(m.loc[hit, "_row"]))
    out = []
    for version, g in left.groupby("version", sort=True):
        n = len(g)
        out.append(
            {
                "version": str(version),
                "decisions": int(n),
                "clicks": int(g["clicked"].sum()),
                "ctr": float(g["clicked"].mean()) if n else float("nan"),
            }
        )
    return out


def _active_model(store: Any, at: datetime) -> dict[str, Any] | None:
    from campaignrec.pipeline.training import active_model_row

    try:
        row = active_model_row(store)
    except CampaignrecError:
        return None
    raw = row.get("meta")
    meta: dict[str, Any] = raw if isinstance(raw, dict) else {}
    created = _when(meta.get("created")) or _when(row.get("created_at"))
    data_end = _when(meta.get("data_end"))
    return {
        "name": str(row["name"]),
        "version": str(row["version"]),
        "created": created.isoformat() if created else None,
        # the version's age is wall-clock time since it was trained, whatever the data's clock
        "age_days": (datetime.now(UTC) - created).total_seconds() / 86_400 if created else None,
        "data_end": data_end.isoformat() if data_end else None,
        "data_age_days": (at - data_end).total_seconds() / 86_400 if data_end else None,
    }


def health_report(
    store: Any,
    *,
    as_of: datetime | None = None,
    days: float = 7.0,
    ctr_days: float = 28.0,
    click_hours: float = 24.0,
) -> HealthReport:
    """The drift and health figures of ``store`` (see the module docstring)."""
    from campaignrec.store.retrain import RetrainDecisionRepository

    span = timedelta(days=days)
    source = "given"
    at = as_of
    if at is None:
        at, source = datetime.now(UTC), "now"
        latest = _latest_event(store)
        if latest is not None and latest < at - span:
            at, source = latest + timedelta(microseconds=1), "latest event"
    this_week = _mix(store, at - span, at)
    last_week = _mix(store, at - 2 * span, at - span)
    n_this, n_last = sum(this_week.values()), sum(last_week.values())
    model = _active_model(store, at)
    reference = _when(model.get("data_end")) if model else None
    cold_ref = "first event after the active model's data" if reference else "first event this week"
    users, cold, cold_events = _cold(store, at - span, at, reference or (at - span))
    ev = _decision_events(store, at - timedelta(days=ctr_days), at)
    ctr = served_ctr_by_version(ev, store.list_models(), click_hours=click_hours)
    last = RetrainDecisionRepository(store).last()
    return HealthReport(
        as_of=at.isoformat(),
        as_of_source=source,
        days=days,
        events_this_week=n_this,
        events_last_week=n_last,
        volume_change=(n_this / n_last - 1.0) if n_last else float("nan"),
        mix_this_week=this_week,
        mix_last_week=last_week,
        mix_psi=psi(this_week, last_week),
        active_users=users,
        cold_users=cold,
        cold_user_share=cold / users if users else float("nan"),
        cold_event_share=cold_events,
        cold_reference=cold_ref,
        ctr_by_version=ctr,
        active_model=model,
        last_retrain=None
        if last is None
        else {
            k: last.get(k)
            for k in ("outcome", "model", "candidate_version", "active_version", "sentence")
        }
        | {"at": datetime.fromtimestamp(last["created_at"] / 1e6, UTC).isoformat()},
    )
