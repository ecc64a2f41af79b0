"""Lifecycle flow: how shoppers moved between lifecycle stages from one cut-off to a later one.

Both snapshots are the profiles' own ``lifecycle`` field (:func:`campaignrec.profiles.rfm.
lifecycle_stage` via :class:`~campaignrec.profiles.state.ProfileState`), computed from the events
up to each cut-off with that cut-off as "now". Shoppers who had neither signed up nor done
anything by the first cut-off start in :data:`JOINED` ("joined since").
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from campaignrec.data.schema import TIMESTAMP, USER_ID
from campaignrec.errors import ValidationError
from campaignrec.profiles.config import ProfileConfig
from campaignrec.profiles.rfm import LIFECYCLE_STAGES
from campaignrec.profiles.state import ProfileState

#: The starting node of shoppers who were not there at the first cut-off.
JOINED = "joined"
FLOW_COLUMNS = ("before", "after", "shoppers")


def _known_by(users: pd.DataFrame | None, seen: set[str], cutoff: pd.Timestamp) -> set[str]:
    """Shoppers present at ``cutoff``: with an event by then, or signed up by then."""
    known = set(seen)
    if users is not None and len(users) and "signup_time" in users.columns:
        signup = pd.to_datetime(users["signup_time"], utc=True, errors="coerce")
        known |= set(users.loc[(signup <= cutoff).to_numpy(), USER_ID].astype(str))
    return known


def lifecycle_flow(
    chunks: Iterable[pd.DataFrame],
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    config: ProfileConfig | None = None,
) -> pd.DataFrame:
    """Shoppers per (stage at ``start``, stage at ``end``), from one pass over the events.

    Parameters
    ----------
    chunks : canonical events, in any chunks (e.g. ``store.iter_table("events")``).
    start, end : the two cut-offs (UTC when naive); events after ``end`` are ignored.
    users, items : the users (signup times, and shoppers without events) and the catalogue.
    config : profile settings (the lifecycle thresholds).

    Returns
    -------
    DataFrame with :data:`FLOW_COLUMNS`, one row per pair that has shoppers, ordered by the
    stages' order (:data:`JOINED` first).
    """
    start, end = (t.tz_localize("UTC") if t.tzinfo is None else t for t in (start, end))
    if start >= end:
        raise ValidationError("start", "must be before end", value=str(start))
    before, after = ProfileState(items, config), ProfileState(items, config)
    seen: set[str] = set()
    for chunk in chunks:
        ts = pd.to_datetime(chunk[TIMESTAMP], utc=True)
        upto_end = chunk.loc[(ts <= end).to_numpy()]
        early = chunk.loc[(ts <= start).to_numpy()]
        after.apply(upto_end)
        before.apply(early)
        seen.update(early[USER_ID].astype(str))
    now = after.profiles(users, as_of=end)
    if now.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in FLOW_COLUMNS})
    known = _known_by(users, seen, start)
    then_stage = pd.Series(dtype=str)
    if known:
        then = before.profiles(users, as_of=start)
        then = then[then[USER_ID].astype(str).isin(known)]
        then_stage = pd.Series(
            then["lifecycle"].astype(str).to_numpy(), index=then[USER_ID].astype(str).to_numpy()
        )
    ids = now[USER_ID].astype(str)
    pairs = pd.DataFrame(
        {
            # object dtype: with nobody known at the start the map is all-NaN float64
            "before": ids.map(then_stage).astype(object).fillna(JOINED).to_numpy(),
            "after": now["lifecycle"].astype(str).to_numpy(),
        }
    )
    out = pairs.groupby(["before", "after"]).size().rename("shoppers").reset_index()
    order = {s: n for n, s in enumerate((JOINED, *LIFECYCLE_STAGES))}
    out = out.sort_values(
        ["before", "after"], key=lambda s: s.map(order).fillna(len(order)), ignore_index=True
    )
    out["shoppers"] = out["shoppers"].astype(int)
    return out
