"""Profiles end to end: events -> state -> profile table -> purchase model -> segments -> files.

The events come as a DataFrame or as a callable returning chunks (``lambda:
store.iter_table("events", chunk_rows=500_000)``), so the whole computation runs in bounded memory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from campaignrec.data.schema import TIMESTAMP, USER_ID
from campaignrec.errors import CampaignrecError, UnknownIdError, ValidationError
from campaignrec.profiles.config import ProfileConfig
from campaignrec.profiles.predict import (
    EventSource,
    PurchaseModel,
    PurchaseModelConfig,
    add_lifetime_value,
    attach_labels,
    iter_events,
    time_split_states,
)
from campaignrec.profiles.segments import SegmentConfig, SegmentModel, assign_segments, fit_segments
from campaignrec.profiles.state import ProfileState

PROFILES_FILE = "profiles.parquet"
META_FILE = "meta.json"
SEGMENTS_FILE = "segments.json"
STATE_DIR = "state"


@dataclass
class ProfileResult:
    """The profile table, the fitted segment model and what was done (``meta``)."""

    profiles: pd.DataFrame
    segments: SegmentModel | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    state: ProfileState | None = None


def _end_of(source: EventSource) -> pd.Timestamp | None:
    end: pd.Timestamp | None = None
    for chunk in iter_events(source):
        if len(chunk):
            m = pd.to_datetime(chunk[TIMESTAMP], utc=True).max()
            end = m if end is None or m > end else end
    return end


def build_profiles(
    events: EventSource,
    *,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    config: ProfileConfig | None = None,
    segment_config: SegmentConfig | None = None,
    previous_segments: SegmentModel | None = None,
    as_of: pd.Timestamp | str | None = None,
    predict: bool = True,
    segment: bool = True,
) -> ProfileResult:
    """Compute every user's profile, purchase prediction and segment.

    Parameters
    ----------
    events : canonical events, a DataFrame or a callable returning an iterable of chunks.
    users, items : canonical users (demographics) and items (category, brand, price).
    config, segment_config : settings.
    previous_segments : last run's segment model, for stable segment ids.
    as_of : the "now" (default: the latest event); events after it are ignored.
    predict : fit the purchase model on a time split (features at ``as_of - horizon``, labels in
        the horizon up to ``as_of``) and score every user (``p_purchase_30d``,
        ``expected_spend_30d``; the column names keep "30d" whatever the horizon); and fit BG/NBD
        and Gamma-Gamma for ``p_alive``, ``expected_purchases``, ``expected_order_value`` and
        ``clv`` over the next ``config.clv_days`` days (:func:`add_lifetime_value`).
    segment : fit K-Means segments.

    Returns
    -------
    :class:`ProfileResult`.
    """
    cfg = config or ProfileConfig()
    end = pd.Timestamp(as_of) if as_of is not None else _end_of(events)
    if end is None:
        raise ValidationError(
            "events", "there are no events to profile", hint="import events first"
        )
    if end.tzinfo is None:
        end = end.tz_localize("UTC")
    cutoff = end - pd.Timedelta(days=cfg.horizon_days)

    def chunks_upto_end() -> Any:
        for chunk in iter_events(events):
            ts = pd.to_datetime(chunk[TIMESTAMP], utc=True)
            yield chunk.loc[(ts <= end).to_numpy()]

    model: PurchaseModel | None = None
    model_meta: dict[str, Any] = {}
    if predict:
        # pass 1: the state at the cutoff and what happened after it; fit, then free it all
        states, labels = time_split_states(chunks_upto_end, [cutoff], end, items, cfg)
        train = states[0].profiles(users, as_of=cutoff)
        del states
        train = train[train["first_seen"].notna()]  # users active before the cutoff
        y, spend = attach_labels(train, labels[0])
        try:
            model = PurchaseModel(PurchaseModelConfig(seed=cfg.seed)).fit(train, y, spend)
        except CampaignrecError as exc:
            model_meta = {"fitted": False, "reason": str(exc)}
        else:
            model_meta = {
                "fitted": True,
                "train_cutoff": cutoff.isoformat(),
                "n_train": len(train),
                "train_positive_rate": float(y.mean()),
                "features": model.features_,
            }
        del train, labels
    # pass 2 (the only one without prediction): every event up to as_of
    full = ProfileState(items, cfg)
    full.apply_many(chunks_upto_end())
    profiles = full.profiles(users, as_of=end)
    meta: dict[str, Any] = {
        "as_of": end.isoformat(),
        "created": datetime.now(UTC).isoformat(),
        "n_users": len(profiles),
        "n_events": full.n_events_applied,
        "horizon_days": cfg.horizon_days,
    }
    profiles["p_purchase_30d"] = np.nan
    profiles["expected_spend_30d"] = np.nan
    if model is not None:
        profiles["p_purchase_30d"] = model.predict_proba(profiles)
        profiles["expected_spend_30d"] = model.predict_spend(profiles)
    if model_meta:
        meta["purchase_model"] = model_meta
    if predict:
        meta["lifetime_value"] = add_lifetime_value(profiles, cfg.clv_days)
    seg_model = None
    if segment and len(profiles) > (segment_config or SegmentConfig()).k_min:
        seg_model = fit_segments(profiles, segment_config, previous=previous_segments)
        profiles = assign_segments(profiles, seg_model)
        meta["segments"] = {
            "k": seg_model.k_,
            "silhouette": seg_model.silhouette_,
            "stability": seg_model.stability_,
        }
    else:
        profiles["segment"] = -1
        profiles["segment_name"] = None
        profiles["segment_name_zh"] = None
    profiles.attrs["as_of"] = end.isoformat()
    return ProfileResult(profiles=profiles, segments=seg_model, meta=meta, state=full)


def save_profiles(result: ProfileResult, directory: str | Path) -> Path:
    """Write ``profiles.parquet``, ``meta.json``, ``segments.json`` and the state under ``directory``."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    result.profiles.to_parquet(out / PROFILES_FILE, index=False)
    if result.segments is not None:
        result.segments.save(out / SEGMENTS_FILE)
    if result.state is not None:
        result.state.save(out / STATE_DIR)
    (out / META_FILE).write_text(
        json.dumps(result.meta, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    return out


def load_profiles(directory: str | Path) -> ProfileResult:
    """Read what :func:`save_profiles` wrote (the state is not loaded)."""
    src = Path(directory)
    if not (src / PROFILES_FILE).is_file():
        raise CampaignrecError(
            f"no profiles in {src}", hint="compute them (campaignrec profiles export --refresh)"
        )
    profiles = pd.read_parquet(src / PROFILES_FILE)
    for c in profiles.columns:  # Parquet lists come back as numpy arrays
        if (
            profiles[c].dtype == object
            and len(profiles)
            and isinstance(profiles[c].iloc[0], np.ndarray)
        ):
            profiles[c] = [list(v) if v is not None else [] for v in profiles[c]]
    meta = (
        json.loads((src / META_FILE).read_text(encoding="utf-8"))
        if (src / META_FILE).is_file()
        else {}
    )
    seg = SegmentModel.load(src / SEGMENTS_FILE) if (src / SEGMENTS_FILE).is_file() else None
    profiles.attrs["as_of"] = meta.get("as_of")
    return ProfileResult(profiles=profiles, segments=seg, meta=meta)


# ---- flat attributes for audience rules ----------------------------------------------------------
ATTRIBUTE_COLUMNS: tuple[str, ...] = (
    "segment_name",
    "segment",
    "segment_name_zh",
    "rfm_segment",
    "rfm_score",
    "r_score",
    "f_score",
    "m_score",
    "lifecycle",
    "is_new",
    "membership_tier",
    "region",
    "city",
    "gender",
    "age",
    "age_band",
    "recency_days",
    "frequency",
    "monetary",
    "avg_basket",
    "price_band",
    "discount_share",
    "coupon_redemption_rate",
    "n_sessions",
    "days_since_first_seen",
    "days_since_last_event",
    "p_purchase_30d",
    "expected_spend_30d",
    "bought_categories",
    "top_categories",
    "top_brands",
    "top_search_terms",
)


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or value is None:
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return value


def _attributes_of(row: Mapping[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"user_id": str(row[USER_ID])}
    for c in ATTRIBUTE_COLUMNS:
        if c not in row:
            continue
        v = _plain(row[c])
        if c == "segment_name":
            out["segment"] = v
        elif c == "segment":
            out["segment_id"] = v
        else:
            out[c] = v
    for c in ("recency_days", "days_since_first_seen", "days_since_last_event", "age"):
        if out.get(c) is not None:
            out[c] = int(out[c])
    return out


def iter_profile_attributes(profiles: pd.DataFrame) -> Iterator[dict[str, Any]]:
    """The attribute mapping of every user, in table order (audience previews over all users)."""
    cols = [USER_ID, *(c for c in ATTRIBUTE_COLUMNS if c in profiles.columns)]
    for row in profiles[cols].to_dict(orient="records"):
        yield _attributes_of(row)


def profile_attributes(profiles: pd.DataFrame, user_id: str) -> dict[str, Any]:
    """The flat attribute mapping of one user, as audience rules read it.

    ``segment`` is the behavioural segment's English name (``segment_id`` its stable number),
    ``rfm_segment`` the classic RFM segment; numbers are plain Python numbers, missing values None,
    list attributes (``bought_categories``...) plain lists.

    Raises
    ------
    UnknownIdError
        When ``user_id`` has no profile.

    Examples
    --------
    >>> from campaignrec.data.rules import evaluate                          # doctest: +SKIP
    >>> evaluate({"field": "lifecycle", "op": "eq", "value": "at_risk"},
    ...          profile_attributes(profiles, "u1"))                          # doctest: +SKIP
    """
    rows = profiles.index[profiles[USER_ID].astype(str) == str(user_id)]
    if len(rows) == 0:
        raise UnknownIdError("user", user_id, hint="profiles cover users with events or a user row")
    return _attributes_of(profiles.loc[rows[0]].to_dict())
