"""Mergeable per-user aggregates: the one computation behind batch and incremental profiles.

A :class:`ProfileState` holds, per user, only sums, minima, maxima, log-sum-exp decayed scores and
sets of distinct keys (orders, sessions, discount markers, tag and term counters). Each of these
merges exactly, so streaming the events in chunks (batch, bounded memory) and applying new events
to a kept state (online, :meth:`ProfileState.apply`) give the same profile as one computation over
all the events. Memory is proportional to users + orders + sessions + user x tag pairs, never to
events.

Definitions
-----------
- frequency: distinct ``order_id`` among purchases; a purchase without ``order_id`` is keyed by
  its timestamp (distinct purchase timestamps).
- monetary: sum of ``revenue`` of purchases, else ``price * quantity`` (quantity defaults to 1,
  price to the catalogue price).
- recency_days: whole days from the last purchase to ``as_of`` (default: the latest event).
- sessions: distinct ``session_id``; an event without one falls into its user's calendar day.
- a purchase (order) is on discount when its order or its session also holds an event that names a
  campaign (other than a mere impression) or a ``coupon_redeem``.
- interest affinity: sum over events of ``event_weight * 0.5 ** (age_days / half_life_days)``,
  kept as ``log`` of the sum relative to a fixed anchor so that merges never overflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.data.schema import TIMESTAMP, USER_ID
from campaignrec.errors import ValidationError
from campaignrec.profiles.config import ProfileConfig
from campaignrec.profiles.rfm import lifecycle_stage, rfm_scores, rfm_segment

DAY_S = 86_400.0
ANCHOR_S = 946_684_800.0  # 2000-01-01T00:00:00Z, the reference point of decayed log-scores
_LN2 = float(np.log(2.0))
_ORDER_SALT = np.uint64(0x9E3779B97F4A7C15)
_DAY_SALT = np.uint64(0xC2B2AE3D27D4EB4F)

HOUR_COLUMNS = tuple(f"hour_{h:02d}" for h in range(24))
WEEKDAY_COLUMNS = tuple(f"weekday_{d}" for d in range(7))  # Monday = 0

_TYPE_COUNTS = {
    "n_views": "view",
    "n_clicks": "click",
    "n_carts": "add_to_cart",
    "n_cart_removals": "remove_from_cart",
    "n_purchase_lines": "purchase",
    "n_searches": "search",
    "n_favorites": "favorite",
    "n_campaign_impressions": "campaign_impression",
    "n_campaign_clicks": "campaign_click",
    "n_coupon_claims": "coupon_claim",
    "n_coupon_redeems": "coupon_redeem",
}
SUM_COLUMNS = (
    "n_events",
    *_TYPE_COUNTS,
    "purchase_quantity",
    "monetary",
    *HOUR_COLUMNS,
    *WEEKDAY_COLUMNS,
)
MIN_COLUMNS = ("first_event_s", "first_purchase_s")
MAX_COLUMNS = ("last_event_s", "last_purchase_s")
LOG_COLUMNS = ("log_decayed_events", "log_decayed_purchases")
AGG_COLUMNS = (*SUM_COLUMNS, *MIN_COLUMNS, *MAX_COLUMNS, *LOG_COLUMNS)

_TAG_CATEGORY, _TAG_BRAND = 0, 1
_SINGULAR = {"categories": "category", "brands": "brand"}
_COUNTER_DEVICE, _COUNTER_QUERY = 0, 1


def _hash_strings(values: pd.Series) -> NDArray[np.uint64]:
    return pd.util.hash_array(values.astype(str).to_numpy(dtype=object), categorize=True)


def _hash_ints(values: NDArray[Any], salt: np.uint64) -> NDArray[np.uint64]:
    return pd.util.hash_array(values.astype(np.int64)) ^ salt


def _lse_by_codes(codes: NDArray[Any], values: NDArray[np.float64], n: int) -> NDArray[np.float64]:
    """log(sum(exp(values))) per code, -inf for codes without values."""
    out = np.full(n, -np.inf)
    if len(codes) == 0:
        return out
    m = pd.Series(values).groupby(codes).max()
    mx = np.full(n, -np.inf)
    mx[m.index.to_numpy()] = m.to_numpy()
    s = np.bincount(codes, weights=np.exp(values - mx[codes]), minlength=n)
    ok = s > 0
    out[ok] = mx[ok] + np.log(s[ok])
    return out


def _lse_groups(df: pd.DataFrame, keys: list[str], col: str) -> pd.DataFrame:
    """Group ``df`` by ``keys`` and combine ``col`` (log-scores) by log-sum-exp."""
    if df.empty:
        return df.loc[:, [*keys, col]].reset_index(drop=True)
    codes = df.groupby(keys, sort=True).ngroup().to_numpy()
    n = int(codes.max()) + 1
    first = np.zeros(n, dtype=np.intp)
    first[codes[::-1]] = np.arange(len(codes))[::-1]  # first row of each group
    out = df.iloc[first][keys].reset_index(drop=True)
    out[col] = _lse_by_codes(codes, df[col].to_numpy(dtype=float), n)
    return out


def _union(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    if a.empty:
        return b.drop_duplicates(ignore_index=True)
    if b.empty:
        return a
    return pd.concat([a, b], ignore_index=True).drop_duplicates(ignore_index=True)


def _empty(columns: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name in df.columns:
        return df[name]
    return pd.Series(np.nan, index=df.index, dtype=object)


def line_revenue(
    events: pd.DataFrame, item_price: pd.Series | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Quantity and revenue of each event row: ``revenue``, else ``price * quantity``.

    Quantity defaults to 1 and price to the catalogue price (``item_price`` indexed by item_id);
    a row with neither revenue nor any price counts 0.
    """
    qty = pd.to_numeric(_col(events, "quantity"), errors="coerce").fillna(1.0).to_numpy(float)
    price = pd.to_numeric(_col(events, "price"), errors="coerce")
    if item_price is not None and len(item_price):
        item = _col(events, "item_id")
        price = price.fillna(item.astype(str).where(item.notna()).map(item_price))
    p = price.to_numpy(dtype=float)
    revenue = pd.to_numeric(_col(events, "revenue"), errors="coerce").to_numpy(dtype=float)
    revenue = np.where(np.isnan(revenue), p * qty, revenue)
    return qty, np.where(np.isnan(revenue), 0.0, revenue)


class ProfileState:
    """Per-user aggregates that merge exactly; :meth:`profiles` turns them into the profile table.

    Parameters
    ----------
    items : catalogue (``item_id``, ``category``, ``brand``, ``price``) used for interest tags,
        bought categories, missing purchase prices and price bands. May be None.
    config : profile settings.
    buffer_rows : events whose aggregates are buffered before being folded into the state.

    Examples
    --------
    >>> state = ProfileState(items)                                      # doctest: +SKIP
    >>> for chunk in store.iter_table("events", chunk_rows=500_000):     # doctest: +SKIP
    ...     state.apply(chunk)
    >>> profiles = state.profiles(users)                                 # doctest: +SKIP
    """

    def __init__(
        self,
        items: pd.DataFrame | None = None,
        config: ProfileConfig | None = None,
        *,
        buffer_rows: int = 2_000_000,
    ):
        self.config = config or ProfileConfig()
        self._set_items(items)
        self.agg = pd.DataFrame(
            {c: pd.Series(dtype=float) for c in AGG_COLUMNS}, index=pd.Index([], dtype=np.uint64)
        )
        self.user_ids = pd.Series(dtype=object, index=pd.Index([], dtype=np.uint64))
        self.names = pd.Series(dtype=object, index=pd.Index([], dtype=np.uint64))
        self.orders = _empty({"uh": "uint64", "ok": "uint64", "sk": "uint64"})
        self.sessions = _empty({"uh": "uint64", "sk": "uint64"})
        self.discount_orders = _empty({"uh": "uint64", "ok": "uint64"})
        self.discount_sessions = _empty({"uh": "uint64", "sk": "uint64"})
        self.tags = _empty({"uh": "uint64", "kind": "int8", "th": "uint64", "logw": "float64"})
        self.bought = _empty({"uh": "uint64", "th": "uint64"})
        self.counters = _empty({"uh": "uint64", "kind": "int8", "th": "uint64", "n": "float64"})
        self.n_events_applied = 0
        self.buffer_rows = buffer_rows
        self._pending: list[dict[str, Any]] = []
        self._pending_rows = 0

    # ---- catalogue -----------------------------------------------------------------------------
    def _set_items(self, items: pd.DataFrame | None) -> None:
        if items is None or len(items) == 0:
            self._item_category = pd.Series(dtype=object)
            self._item_brand = pd.Series(dtype=object)
            self._item_price = pd.Series(dtype=float)
            self._price_edges: tuple[float, float] | None = None
            return
        it = items.drop_duplicates("item_id", keep="last").set_index("item_id")
        self._item_category = _col(it, "category").dropna().astype(str)
        self._item_brand = _col(it, "brand").dropna().astype(str)
        self._item_price = pd.to_numeric(_col(it, "price"), errors="coerce").dropna()
        prices = self._item_price.to_numpy(dtype=float)
        self._price_edges = (
            (float(np.quantile(prices, 1 / 3)), float(np.quantile(prices, 2 / 3)))
            if len(prices) >= 3
            else None
        )

    @property
    def item_price(self) -> pd.Series:
        """Catalogue price per item_id (the price of a purchase line without one)."""
        return self._item_price

    # ---- applying events -----------------------------------------------------------------------
    def apply(self, events: pd.DataFrame) -> ProfileState:
        """Fold a batch of canonical events into the state (the online path); returns ``self``.

        Applying events in any split, in any order of batches, gives the same aggregates as one
        :meth:`apply` of all of them (up to float rounding of the decayed scores). Batch
        aggregates are buffered and folded in together once they cover ``buffer_rows`` events
        (or when the state is read), which saves regrouping a large state for every chunk.
        """
        if len(events) == 0:
            return self
        self._pending.append(self._aggregate(events))
        self._pending_rows += len(events)
        self.n_events_applied += len(events)
        if self._pending_rows >= self.buffer_rows:
            self.flush()
        return self

    def flush(self) -> ProfileState:
        """Fold the buffered batch aggregates into the state tables; returns ``self``."""
        if self._pending:
            self._merge_parts(*self._pending)
            self._pending, self._pending_rows = [], 0
        return self

    def apply_many(self, chunks: Iterable[pd.DataFrame]) -> ProfileState:
        """Apply every chunk of an iterable (e.g. ``store.iter_table("events")``); returns ``self``."""
        for chunk in chunks:
            self.apply(chunk)
        return self.flush()

    def merge(self, other: ProfileState) -> ProfileState:
        """Fold another state (e.g. computed on another shard of the events) into this one."""
        self.flush()
        other.flush()
        self._merge_parts(
            {
                "agg": other.agg,
                "user_ids": other.user_ids,
                "names": other.names,
                "orders": other.orders,
                "sessions": other.sessions,
                "discount_orders": other.discount_orders,
                "discount_sessions": other.discount_sessions,
                "tags": other.tags,
                "bought": other.bought,
                "counters": other.counters,
            }
        )
        self.n_events_applied += other.n_events_applied
        return self

    def _aggregate(self, events: pd.DataFrame) -> dict[str, Any]:
        for needed in (USER_ID, "event_type", TIMESTAMP):
            if needed not in events.columns:
                raise ValidationError(
                    needed, "events need this column", hint="pass canonical events (schema.py)"
                )
        cfg = self.config
        ev = events.reset_index(drop=True)
        user = ev[USER_ID].astype(str)
        uh = _hash_strings(user)
        ts = pd.to_datetime(ev[TIMESTAMP], utc=True)
        if ts.isna().any():
            row = int(np.flatnonzero(ts.isna().to_numpy())[0])
            raise ValidationError(TIMESTAMP, "missing timestamp", row=row)
        ts_ns = ts.astype("datetime64[ns, UTC]").astype(np.int64).to_numpy()
        sec = ts_ns / 1e9
        local = ts.dt.tz_convert(cfg.timezone)
        hour = local.dt.hour.to_numpy()
        weekday = local.dt.day_of_week.to_numpy()
        local_day = (
            local.dt.tz_localize(None).astype("datetime64[ns]").astype(np.int64)
            // 86_400_000_000_000
        ).to_numpy()
        etype = ev["event_type"].astype(str).to_numpy()
        item = _col(ev, "item_id")
        has_item = item.notna().to_numpy()
        item_s = item.astype(str).where(item.notna())

        codes, uniq = pd.factorize(uh)
        n = len(uniq)
        users = pd.Series(
            user.to_numpy()[np.unique(codes, return_index=True)[1]],
            index=pd.Index(uniq, dtype=np.uint64),
        )

        def count(weights: NDArray[Any]) -> NDArray[Any]:
            return np.bincount(codes, weights=weights.astype(float), minlength=n)

        is_p = etype == "purchase"
        agg: dict[str, NDArray[Any]] = {"n_events": count(np.ones(len(ev)))}
        for name, et in _TYPE_COUNTS.items():
            agg[name] = count(etype == et)
        qty, revenue = line_revenue(ev, self._item_price)
        agg["purchase_quantity"] = count(np.where(is_p, qty, 0.0))
        agg["monetary"] = count(np.where(is_p, revenue, 0.0))
        hours = np.bincount(codes * 24 + hour, minlength=n * 24).reshape(n, 24)
        days = np.bincount(codes * 7 + weekday, minlength=n * 7).reshape(n, 7)
        for h, c in enumerate(HOUR_COLUMNS):
            agg[c] = hours[:, h].astype(float)
        for d, c in enumerate(WEEKDAY_COLUMNS):
            agg[c] = days[:, d].astype(float)
        s_sec = pd.Series(sec)
        g = s_sec.groupby(codes)
        agg["first_event_s"] = g.min().reindex(range(n)).to_numpy()
        agg["last_event_s"] = g.max().reindex(range(n)).to_numpy()
        gp = s_sec[is_p].groupby(codes[is_p])
        agg["first_purchase_s"] = gp.min().reindex(range(n)).to_numpy()
        agg["last_purchase_s"] = gp.max().reindex(range(n)).to_numpy()
        decay = _LN2 * (sec - ANCHOR_S) / (cfg.half_life_days * DAY_S)
        agg["log_decayed_events"] = _lse_by_codes(codes, decay, n)
        agg["log_decayed_purchases"] = _lse_by_codes(codes[is_p], decay[is_p], n)
        agg_df = pd.DataFrame(agg, index=pd.Index(uniq, dtype=np.uint64)).loc[:, list(AGG_COLUMNS)]

        # orders, sessions and discount markers (distinct keys)
        order_id = _col(ev, "order_id")
        has_order = order_id.notna().to_numpy()
        ok = _hash_ints(ts_ns, _ORDER_SALT)
        if has_order.any():
            ok[has_order] = _hash_strings(order_id[has_order])
        session_id = _col(ev, "session_id")
        has_session = session_id.notna().to_numpy()
        sk = _hash_ints(local_day, _DAY_SALT)
        if has_session.any():
            sk[has_session] = _hash_strings(session_id[has_session])
        orders = pd.DataFrame({"uh": uh[is_p], "ok": ok[is_p], "sk": sk[is_p]}).drop_duplicates(
            ignore_index=True
        )
        sessions = pd.DataFrame({"uh": uh, "sk": sk}).drop_duplicates(ignore_index=True)
        campaign = _col(ev, "campaign_id").notna().to_numpy()
        marker = (campaign & (etype != "campaign_impression")) | (etype == "coupon_redeem")
        discount_orders = pd.DataFrame({"uh": uh[marker], "ok": ok[marker]}).drop_duplicates(
            ignore_index=True
        )
        discount_sessions = pd.DataFrame({"uh": uh[marker], "sk": sk[marker]}).drop_duplicates(
            ignore_index=True
        )

        # interest tags (decayed, weighted by event type) and bought categories
        weights = pd.Series(etype).map(cfg.event_weights).fillna(0.0).to_numpy(dtype=float)
        names: list[pd.Series] = []
        tag_parts: list[pd.DataFrame] = []
        category = item_s.map(self._item_category)
        bought = _empty({"uh": "uint64", "th": "uint64"})
        for kind, values in ((_TAG_CATEGORY, category), (_TAG_BRAND, item_s.map(self._item_brand))):
            sel = has_item & (weights > 0) & values.notna().to_numpy()
            if not sel.any():
                continue
            th = _hash_strings(values[sel])
            names.append(pd.Series(values[sel].to_numpy(), index=th))
            part = pd.DataFrame(
                {
                    "uh": uh[sel],
                    "kind": np.int8(kind),
                    "th": th,
                    "logw": np.log(weights[sel]) + decay[sel],
                }
            )
            tag_parts.append(_lse_groups(part, ["uh", "kind", "th"], "logw"))
            if kind == _TAG_CATEGORY:
                bsel = is_p[sel]
                bought = pd.DataFrame({"uh": uh[sel][bsel], "th": th[bsel]}).drop_duplicates(
                    ignore_index=True
                )
        tags = pd.concat(tag_parts, ignore_index=True) if tag_parts else self.tags.iloc[:0]

        # device and search-term counters
        counter_parts: list[pd.DataFrame] = []
        for kind, values in (
            (_COUNTER_DEVICE, _col(ev, "device")),
            (_COUNTER_QUERY, _col(ev, "query")),
        ):
            if kind == _COUNTER_QUERY:
                values = values.where(pd.Series(etype == "search")).astype(object)
                values = values.where(values.isna(), values.astype(str).str.strip().str.lower())
                values = values.where(values != "")
            sel = values.notna().to_numpy()
            if not sel.any():
                continue
            th = _hash_strings(values[sel])
            names.append(pd.Series(values[sel].astype(str).to_numpy(), index=th))
            part = pd.DataFrame({"uh": uh[sel], "kind": np.int8(kind), "th": th, "n": 1.0})
            counter_parts.append(
                part.groupby(["uh", "kind", "th"], as_index=False).agg(n=("n", "sum"))
            )
        counters = (
            pd.concat(counter_parts, ignore_index=True) if counter_parts else self.counters.iloc[:0]
        )
        name_s = pd.concat(names) if names else self.names.iloc[:0]
        name_s = name_s[~name_s.index.duplicated()]
        return {
            "agg": agg_df,
            "user_ids": users,
            "names": name_s,
            "orders": orders,
            "sessions": sessions,
            "discount_orders": discount_orders,
            "discount_sessions": discount_sessions,
            "tags": tags,
            "bought": bought,
            "counters": counters,
        }

    def _merge_parts(self, *parts: dict[str, Any]) -> None:
        for part in parts:
            self.agg = _merge_agg(self.agg, part["agg"])
        for attr in ("user_ids", "names"):
            cur: pd.Series = getattr(self, attr)
            new = pd.concat([p[attr] for p in parts]) if len(parts) > 1 else parts[0][attr]
            new = new[~new.index.duplicated() & ~new.index.isin(cur.index)]
            if len(new):
                setattr(self, attr, pd.concat([cur, new]) if len(cur) else new.copy())
        for attr in ("orders", "sessions", "discount_orders", "discount_sessions", "bought"):
            frames = [getattr(self, attr), *(p[attr] for p in parts)]
            frames = [f for f in frames if len(f)]
            if frames:
                setattr(
                    self, attr, _union(frames[0].iloc[:0], pd.concat(frames, ignore_index=True))
                )
        tags = [f for f in (self.tags, *(p["tags"] for p in parts)) if len(f)]
        if len(tags) > 1 or (tags and tags[0] is not self.tags):
            self.tags = _lse_groups(
                pd.concat(tags, ignore_index=True), ["uh", "kind", "th"], "logw"
            )
        counters = [f for f in (self.counters, *(p["counters"] for p in parts)) if len(f)]
        if len(counters) > 1 or (counters and counters[0] is not self.counters):
            both = pd.concat(counters, ignore_index=True)
            self.counters = both.groupby(["uh", "kind", "th"], as_index=False)["n"].sum()

    # ---- the profile table ---------------------------------------------------------------------
    def end_time(self) -> pd.Timestamp | None:
        """The end of the data: the latest event timestamp applied (None when empty)."""
        self.flush()
        if len(self.agg) == 0:
            return None
        return pd.Timestamp(float(np.nanmax(self.agg["last_event_s"])), unit="s", tz="UTC")

    def profiles(
        self, users: pd.DataFrame | None = None, *, as_of: pd.Timestamp | str | None = None
    ) -> pd.DataFrame:
        """One row per user: demographics, RFM, behaviour, interests, discount, lifecycle.

        Parameters
        ----------
        users : canonical users table (demographics, signup_time); users without events get a row.
        as_of : the "now" of recency and decay; default: the latest event timestamp.

        Returns
        -------
        DataFrame sorted by ``user_id``; ``attrs["as_of"]`` holds the ISO time used.
        """
        return _finalize(self.flush(), users, as_of)

    # ---- persistence ---------------------------------------------------------------------------
    _TABLES = (
        "orders",
        "sessions",
        "discount_orders",
        "discount_sessions",
        "tags",
        "bought",
        "counters",
    )

    def save(self, path: str | Path) -> Path:
        """Write the state as Parquet tables plus ``state.json`` into the directory ``path``."""
        self.flush()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        agg = self.agg.copy()
        agg.index.name = "uh"
        agg.reset_index().to_parquet(out / "agg.parquet", index=False)
        pd.DataFrame({"uh": self.user_ids.index, "user_id": self.user_ids.to_numpy()}).to_parquet(
            out / "user_ids.parquet", index=False
        )
        pd.DataFrame({"th": self.names.index, "name": self.names.to_numpy()}).to_parquet(
            out / "names.parquet", index=False
        )
        for t in self._TABLES:
            getattr(self, t).to_parquet(out / f"{t}.parquet", index=False)
        cfg = self.config
        meta = {
            "format": 1,
            "n_events_applied": self.n_events_applied,
            "config": {
                "half_life_days": cfg.half_life_days,
                "top_n_tags": cfg.top_n_tags,
                "top_n_terms": cfg.top_n_terms,
                "event_weights": dict(cfg.event_weights),
                "timezone": cfg.timezone,
                "horizon_days": cfg.horizon_days,
                "seed": cfg.seed,
            },
        }
        (out / "state.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        return out

    @classmethod
    def load(
        cls,
        path: str | Path,
        items: pd.DataFrame | None = None,
        config: ProfileConfig | None = None,
    ) -> ProfileState:
        """Read a state written by :meth:`save` (give the same catalogue and config)."""
        src = Path(path)
        state = cls(items, config)
        agg = pd.read_parquet(src / "agg.parquet")
        state.agg = agg.set_index(pd.Index(agg.pop("uh").to_numpy(np.uint64))).loc[
            :, list(AGG_COLUMNS)
        ]
        u = pd.read_parquet(src / "user_ids.parquet")
        state.user_ids = pd.Series(
            u["user_id"].to_numpy(object), index=pd.Index(u["uh"].to_numpy(np.uint64))
        )
        nm = pd.read_parquet(src / "names.parquet")
        state.names = pd.Series(
            nm["name"].to_numpy(object), index=pd.Index(nm["th"].to_numpy(np.uint64))
        )
        for t in cls._TABLES:
            setattr(state, t, pd.read_parquet(src / f"{t}.parquet"))
        meta = json.loads((src / "state.json").read_text(encoding="utf-8"))
        state.n_events_applied = int(meta.get("n_events_applied", 0))
        return state


def _merge_agg(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    if len(a) == 0:
        return b.copy()
    if len(b) == 0:
        return a
    idx = a.index.union(b.index)
    A = a.reindex(idx)
    B = b.reindex(idx)
    out = pd.DataFrame(index=idx)
    s = list(SUM_COLUMNS)
    out[s] = A[s].fillna(0.0).to_numpy() + B[s].fillna(0.0).to_numpy()
    for c in MIN_COLUMNS:
        out[c] = np.fmin(A[c].to_numpy(), B[c].to_numpy())
    for c in MAX_COLUMNS:
        out[c] = np.fmax(A[c].to_numpy(), B[c].to_numpy())
    for c in LOG_COLUMNS:
        out[c] = np.logaddexp(A[c].fillna(-np.inf).to_numpy(), B[c].fillna(-np.inf).to_numpy())
    return out.loc[:, list(AGG_COLUMNS)]


def _ratio(num: pd.Series, den: Any) -> pd.Series:
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num.to_numpy(dtype=float) / np.asarray(den, dtype=float)
    r = np.where(np.asarray(den, dtype=float) > 0, np.minimum(r, 1.0), np.nan)
    return pd.Series(r, index=num.index)


def _top_lists(
    df: pd.DataFrame, names: pd.Series, score: str, top_n: int
) -> tuple[pd.Series, pd.Series]:
    """Top-``top_n`` names per user by ``score`` (ties broken by name), with shares of the total."""
    if df.empty:
        empty = pd.Series(dtype=object)
        return empty, empty
    d = df.assign(name=names.reindex(df["th"].to_numpy()).to_numpy())
    total = d.groupby("uh")[score].transform("sum")
    d = d.assign(share=d[score] / total)
    d = d.sort_values(["uh", score, "name"], ascending=[True, False, True], kind="mergesort")
    d = d[d.groupby("uh", sort=False).cumcount().to_numpy() < top_n]
    names_, shares_ = _group_lists(d["uh"].to_numpy(), d["name"].to_numpy(), d["share"].to_numpy())
    return names_, shares_


def _group_lists(keys: NDArray[Any], *values: NDArray[Any]) -> tuple[pd.Series, ...]:
    """Lists of ``values`` per run of equal ``keys`` (``keys`` sorted), one Series per value array."""
    if len(keys) == 0:
        return tuple(pd.Series(dtype=object) for _ in values)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    index = pd.Index(keys[starts], dtype=np.uint64)
    out = []
    for v in values:
        parts = np.split(np.asarray(v, dtype=object), starts[1:])
        out.append(pd.Series([p.tolist() for p in parts], index=index, dtype=object))
    return tuple(out)


def _finalize(
    state: ProfileState, users: pd.DataFrame | None, as_of: pd.Timestamp | str | None
) -> pd.DataFrame:
    cfg = state.config
    agg = state.agg
    end = pd.Timestamp(as_of) if as_of is not None else state.end_time()
    if end is not None and end.tzinfo is None:
        end = end.tz_localize("UTC")
    idx = agg.index
    user_ids = state.user_ids.reindex(idx)
    P: dict[str, Any] = {USER_ID: user_ids.to_numpy(dtype=object)}
    now_s = end.timestamp() if end is not None else np.nan

    # orders, discount
    orders = state.orders
    freq = orders.groupby("uh")["ok"].nunique().reindex(idx, fill_value=0)
    if len(orders):
        disc_o = orders.merge(state.discount_orders.assign(d1=True), on=["uh", "ok"], how="left")
        disc_o = disc_o.merge(state.discount_sessions.assign(d2=True), on=["uh", "sk"], how="left")
        disc_o = disc_o[disc_o["d1"].eq(True) | disc_o["d2"].eq(True)]
        n_disc = disc_o.groupby("uh")["ok"].nunique().reindex(idx, fill_value=0)
    else:
        n_disc = pd.Series(0, index=idx)
    sessions = state.sessions.groupby("uh").size().reindex(idx, fill_value=0)

    def days_since(col: str) -> pd.Series:
        return np.floor((now_s - agg[col]) / DAY_S)

    P["recency_days"] = days_since("last_purchase_s")
    P["frequency"] = freq.astype(np.int64)
    P["monetary"] = agg["monetary"]
    P["n_events"] = agg["n_events"].astype(np.int64)
    P["n_sessions"] = sessions.astype(np.int64)
    for c in _TYPE_COUNTS:
        P[c] = agg[c].astype(np.int64)
    P["browse_depth"] = agg["n_views"] / sessions.where(sessions > 0)
    P["view_to_click"] = _ratio(agg["n_clicks"], agg["n_views"])
    P["click_to_cart"] = _ratio(agg["n_carts"], agg["n_clicks"])
    P["cart_to_purchase"] = _ratio(agg["n_purchase_lines"], agg["n_carts"])
    f = P["frequency"].where(P["frequency"] > 0)
    P["avg_basket"] = agg["monetary"] / f
    P["items_per_order"] = agg["purchase_quantity"] / f
    span = (agg["last_purchase_s"] - agg["first_purchase_s"]) / DAY_S
    P["cadence_days"] = span / (f - 1).where(f > 1)
    P["mean_unit_price"] = agg["monetary"] / agg["purchase_quantity"].where(
        agg["purchase_quantity"] > 0
    )
    P["discount_share"] = n_disc / f
    P["coupon_redemption_rate"] = _ratio(
        agg["n_coupon_redeems"], np.maximum(agg["n_coupon_claims"], agg["n_coupon_redeems"])
    )
    tot = agg["n_events"].where(agg["n_events"] > 0)
    for c in (*HOUR_COLUMNS, *WEEKDAY_COLUMNS):
        P[c] = agg[c] / tot
    # typical time of activity: circular mean of the hour histogram, and the weekend share
    angle = 2 * np.pi * np.arange(24) / 24
    hours = np.column_stack([P[c].to_numpy(dtype=float) for c in HOUR_COLUMNS])
    P["active_hour_sin"] = hours @ np.sin(angle)
    P["active_hour_cos"] = hours @ np.cos(angle)
    P["weekend_share"] = P["weekday_5"] + P["weekday_6"]
    P["orders_per_session"] = P["frequency"] / sessions.where(sessions > 0)
    P["first_seen"] = pd.to_datetime(agg["first_event_s"], unit="s", utc=True)
    P["last_seen"] = pd.to_datetime(agg["last_event_s"], unit="s", utc=True)
    P["first_purchase"] = pd.to_datetime(agg["first_purchase_s"], unit="s", utc=True)
    P["last_purchase"] = pd.to_datetime(agg["last_purchase_s"], unit="s", utc=True)
    P["days_since_last_event"] = days_since("last_event_s")
    P["tenure_days"] = days_since("first_purchase_s")
    shift = _LN2 * (now_s - ANCHOR_S) / (cfg.half_life_days * DAY_S)
    P["decayed_events"] = np.exp(agg["log_decayed_events"] - shift)
    P["decayed_purchases"] = np.exp(agg["log_decayed_purchases"] - shift)

    # interests, bought categories, devices, search terms
    tags = state.tags.assign(score=np.exp(state.tags["logw"].to_numpy(float) - shift))
    for kind, label in ((_TAG_CATEGORY, "categories"), (_TAG_BRAND, "brands")):
        names_, weights_ = _top_lists(
            tags[tags["kind"] == kind], state.names, "score", cfg.top_n_tags
        )
        P[f"top_{label}"] = _lists(names_, idx)
        P[f"top_{_SINGULAR[label]}_weights"] = _lists(weights_, idx)
    b = state.bought.assign(name=state.names.reindex(state.bought["th"].to_numpy()).to_numpy())
    b = b.sort_values(["uh", "name"], kind="mergesort")
    (bought,) = _group_lists(b["uh"].to_numpy(), b["name"].to_numpy())
    P["bought_categories"] = _lists(bought, idx)
    cnt = state.counters
    dev = cnt[cnt["kind"] == _COUNTER_DEVICE]
    dn, dw = _top_lists(dev, state.names, "n", 1_000)
    P["device_mix"] = [
        json.dumps(dict(zip(n_, w_, strict=True)), sort_keys=True) if isinstance(n_, list) else "{}"
        for n_, w_ in zip(dn.reindex(idx), dw.reindex(idx), strict=True)
    ]
    qn, _ = _top_lists(cnt[cnt["kind"] == _COUNTER_QUERY], state.names, "n", cfg.top_n_terms)
    P["top_search_terms"] = _lists(qn, idx)
    prof = pd.DataFrame(P, index=idx)

    prof = prof.reset_index(drop=True)
    prof = _with_users(prof, users, end, now_s)
    f_all = prof["frequency"]
    buyer = f_all > 0
    prof.loc[~buyer, ["discount_share"]] = np.nan
    scores = rfm_scores(prof["recency_days"], f_all, prof["monetary"])
    prof = pd.concat([prof, scores], axis=1)
    prof["rfm_segment"] = rfm_segment(prof["r_score"], prof["f_score"], prof["m_score"], f_all)
    prof["price_band"] = price_band(prof["mean_unit_price"], state._price_edges)
    prof["lifecycle"] = lifecycle_stage(
        prof["days_since_first_seen"],
        prof["recency_days"],
        prof["days_since_last_event"],
        f_all,
        cfg.lifecycle,
    )
    prof["is_new"] = prof["lifecycle"].eq("new")
    prof = prof.sort_values(USER_ID, kind="mergesort").reset_index(drop=True)
    prof.attrs["as_of"] = end.isoformat() if end is not None else None
    return prof


def _lists(values: pd.Series, idx: pd.Index) -> list[list[Any]]:
    got = values.reindex(idx) if len(values) else pd.Series([None] * len(idx), index=idx)
    return [v if isinstance(v, list) else [] for v in got]


def price_band(mean_price: pd.Series, edges: tuple[float, float] | None) -> pd.Series:
    """``low | mid | high`` of each mean unit price (None where undefined): below the first edge,
    up to the second, above it; without edges, the terciles of the given prices (at least 3)."""
    p = mean_price.to_numpy(dtype=float)
    if edges is None:
        ok = p[~np.isnan(p)]
        if len(ok) < 3:
            return pd.Series([None] * len(p), index=mean_price.index, dtype=object)
        edges = (float(np.quantile(ok, 1 / 3)), float(np.quantile(ok, 2 / 3)))
    band = np.where(p <= edges[0], "low", np.where(p <= edges[1], "mid", "high")).astype(object)
    band[np.isnan(p)] = None
    return pd.Series(band, index=mean_price.index, dtype=object)


_DEMOGRAPHICS = ("signup_time", "age_band", "gender", "region", "city", "membership_tier")


def _with_users(
    prof: pd.DataFrame, users: pd.DataFrame | None, end: pd.Timestamp | None, now_s: float
) -> pd.DataFrame:
    if users is not None and len(users):
        u = users.drop_duplicates(USER_ID, keep="last").copy()
        u[USER_ID] = u[USER_ID].astype(str)
        cols = [c for c in (*_DEMOGRAPHICS, "birth_year") if c in u.columns]
        u = u[[USER_ID, *cols]]
        prof = prof.merge(u, on=USER_ID, how="outer")
        for c in prof.columns:  # users without events: zero counts, empty lists
            if c.startswith("n_") or c in ("frequency", "monetary"):
                prof[c] = prof[c].fillna(0)
                if c != "monetary":
                    prof[c] = prof[c].astype(np.int64)
        for c in (
            "top_categories",
            "top_category_weights",
            "top_brands",
            "top_brand_weights",
            "bought_categories",
            "top_search_terms",
        ):
            prof[c] = [v if isinstance(v, list) else [] for v in prof[c]]
        # object first: a shop whose events carry no device has an all-NaN float column here
        prof["device_mix"] = prof["device_mix"].astype(object).fillna("{}")
    for c in (*_DEMOGRAPHICS, "birth_year"):
        if c not in prof.columns:
            prof[c] = None
    signup = pd.to_datetime(prof["signup_time"], utc=True)
    prof["signup_time"] = signup
    first = np.fmin(
        prof["first_seen"]
        .astype("datetime64[ns, UTC]")
        .astype("int64")
        .where(prof["first_seen"].notna())
        / 1e9,
        signup.astype("datetime64[ns, UTC]").astype("int64").where(signup.notna()) / 1e9,
    )
    prof["days_since_first_seen"] = np.floor((now_s - first) / DAY_S)
    birth = pd.to_numeric(prof["birth_year"], errors="coerce")
    prof["age"] = (end.year - birth) if end is not None else np.nan
    prof = prof.drop(columns=["birth_year"])
    return prof
