"""Behavioural segments: K-Means on how shoppers browse, buy, when, and how recently.

One concern, kept in one file (a little over 800 lines): the segment features, the fit and the
choice of k, the stable ids across refits and the naming by archetype all read the same feature
blocks and centroids, and split across files each would need the others' internals.

What is clustered (see docs/profiles.md, "Segmentation"):

- **Style, not size.** The default features are rates and shares (views per visit, click and cart
  rates, orders per visit, items per order, price level, discount share, typical hour, weekend
  share) and the two lifecycle clocks (days since the last visit, days since the first). Counts and
  spend (orders, revenue, sessions) grow with how active a shopper is and are what the RFM view
  already ranks; clustered, they split the shop into "bought" and "did not" and little else. They
  are kept as *descriptors*: every segment reports its members' mean of them, and names use them.
- **Rates shrunk towards the shop's rate.** A rate of a shopper with three views is mostly noise;
  each rate is ``(numerator + m * shop_rate) / (denominator + m)`` with a small pseudo-count ``m``
  (:data:`RATE_FEATURES`), so a shopper with no denominator sits at the shop's rate instead of at an
  arbitrary fill value, and one visit cannot make an extreme.
- **Blocks weighted equally.** Features come in blocks (browse, buy, timing, lifecycle); each
  block's features are weighted ``1 / sqrt(n)`` (``n`` informative features in the block), so that
  a block with many correlated columns does not outvote a block with two. Features without any
  variance (e.g. no views in a purchases-only data set) are dropped and their block shrinks.
- **k by silhouette among stable k.** For each k in ``k_min..k_max`` (3-8: fewer than three groups
  is not a segmentation a marketer can act on, more than eight is more than one can run campaigns
  for) K-Means is refitted on random 80 % subsamples and compared with the full fit (adjusted Rand
  index, "stability"); among the k whose mean stability reaches ``min_stability`` the best
  silhouette wins, else the most stable k.

Labels are stable: clusters are ordered by their members' value on a first run, and matched to the
previous run's centroids (Hungarian assignment) on later runs, so "segment 2" keeps meaning the same
shoppers. A segment is named after an archetype only when its centroid meets every condition of
that archetype (:data:`~campaignrec.profiles.segment_names.ARCHETYPES`,
:func:`~campaignrec.profiles.segment_names.archetype_holds`); where none holds it is "regular
shoppers".
"""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from threadpoolctl import threadpool_limits

from campaignrec.errors import ConfigError, NotFittedError, ValidationError
from campaignrec.profiles.segment_names import (
    describe_segment,
    segment_names,
)

# ---- features ------------------------------------------------------------------------------------
# block of each known feature; a column not listed here is a block of its own
FEATURE_BLOCKS: dict[str, str] = {
    "browse_depth": "browse",
    "view_to_click": "browse",
    "favorite_rate": "browse",
    "search_rate": "browse",
    "click_to_cart": "buy",
    "cart_to_purchase": "buy",
    "orders_per_session": "buy",
    "items_per_order": "buy",
    "mean_unit_price": "buy",
    "discount_share": "buy",
    "active_hour_sin": "timing",
    "active_hour_cos": "timing",
    "weekend_share": "timing",
    "days_since_last_event": "lifecycle",
    "days_since_first_seen": "lifecycle",
}
SEGMENT_FEATURES: tuple[str, ...] = tuple(FEATURE_BLOCKS)
# not clustered; every segment reports its members' mean (z and original units), names use them
DESCRIBE_FEATURES: tuple[str, ...] = ("frequency", "monetary", "n_sessions")

# A count is either a profile column or (share column, count column): share * count.
_Count = str | tuple[str, str]
# feature -> (numerator, denominator, pseudo-count m, cap): the shrunk rate
# (num + m * shop_rate) / (den + m), capped at ``cap`` when set. The pseudo-counts are "as if every
# shopper had also done m of the denominator at the shop's rate": one visit for per-visit figures
# that vary a lot between visits, two for orders and searches per visit, ten views for per-view
# rates, five clicks or carts for the funnel steps, one order / one unit for basket and price.
RATE_FEATURES: dict[str, tuple[_Count, _Count, float, float | None]] = {
    "browse_depth": ("n_views", "n_sessions", 1.0, None),
    "view_to_click": ("n_clicks", "n_views", 10.0, 1.0),
    "favorite_rate": ("n_favorites", "n_views", 10.0, 1.0),
    "search_rate": ("n_searches", "n_sessions", 2.0, None),
    "click_to_cart": ("n_carts", "n_clicks", 5.0, 1.0),
    "cart_to_purchase": ("n_purchase_lines", "n_carts", 5.0, 1.0),
    "orders_per_session": ("frequency", "n_sessions", 2.0, None),
    "items_per_order": (("items_per_order", "frequency"), "frequency", 1.0, None),
    "mean_unit_price": ("monetary", ("items_per_order", "frequency"), 1.0, None),
    "discount_share": (("discount_share", "frequency"), "frequency", 2.0, 1.0),
    "weekend_share": (("weekend_share", "n_events"), "n_events", 5.0, 1.0),
}
# heavy-tailed counts, amounts and day counts are clustered on log1p
LOG_FEATURES = frozenset(
    {
        "frequency",
        "monetary",
        "avg_basket",
        "items_per_order",
        "mean_unit_price",
        "n_sessions",
        "browse_depth",
        "n_events",
        "n_views",
        "recency_days",
        "days_since_last_event",
        "days_since_first_seen",
    }
)
# a missing value of these means "never": further away than anyone observed
FILL_WITH_MAX = frozenset({"recency_days", "days_since_last_event", "days_since_first_seen"})
# a missing typical hour (no events) is the centre of the circle: no preferred hour
FILL_WITH_ZERO = frozenset({"active_hour_sin", "active_hour_cos"})
_HOUR = ("active_hour_sin", "active_hour_cos")

FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "frequency": ("orders", "订单数"),
    "monetary": ("total spend", "总消费"),
    "recency_days": ("days since last purchase", "距上次购买天数"),
    "avg_basket": ("average basket", "客单价"),
    "n_sessions": ("visits", "访问次数"),
    "n_events": ("events", "行为次数"),
    "n_views": ("product views", "浏览次数"),
    "browse_depth": ("views per visit", "每次访问浏览数"),
    "view_to_click": ("view-to-click rate", "浏览点击率"),
    "favorite_rate": ("favourites per view", "收藏率"),
    "search_rate": ("searches per visit", "每次访问搜索数"),
    "click_to_cart": ("click-to-cart rate", "点击加购率"),
    "cart_to_purchase": ("cart-to-purchase rate", "加购转化率"),
    "orders_per_session": ("orders per visit", "每次访问下单数"),
    "items_per_order": ("items per order", "每单件数"),
    "mean_unit_price": ("price level", "商品价位"),
    "days_since_last_event": ("days since last visit", "距上次访问天数"),
    "active_hour_sin": ("evening/morning activity (sin of hour)", "活跃时段(小时正弦)"),
    "active_hour_cos": ("midnight/noon activity (cos of hour)", "活跃时段(小时余弦)"),
    "weekend_share": ("weekend activity", "周末活跃度"),
    "discount_share": ("share of orders on discount", "优惠订单占比"),
    "coupon_redemption_rate": ("coupon redemption rate", "优惠券核销率"),
    "days_since_first_seen": ("days since first visit", "首次访问至今天数"),
}


@dataclass(frozen=True)
class SegmentConfig:
    """Parameters of the segmentation.

    Parameters
    ----------
    features : profile columns or rates (:data:`RATE_FEATURES`) clustered (missing columns and
        features without variance are skipped).
    describe : columns not clustered but reported per segment and used by the names.
    k_min, k_max : range of the number of clusters tried.
    seed : seed of K-Means and of the evaluation sample.
    n_init : K-Means restarts.
    silhouette_sample : users sampled to compute each k's silhouette score and stability.
    fit_sample : at most this many users fit the centroids (all users are then assigned).
    n_threads : OpenMP threads of K-Means (None: all cores). One thread is the default because
        OpenMP spinning on a shared, busy machine makes K-Means tens of times slower.
    stability_rounds : K-Means refits on 80 % subsamples per k (0: choose by silhouette alone).
    min_stability : mean adjusted Rand index to the full fit a k needs to be eligible.
    balance_blocks : weight each feature 1 / sqrt(features in its block) (False: all weight 1).
    """

    features: tuple[str, ...] = SEGMENT_FEATURES
    describe: tuple[str, ...] = DESCRIBE_FEATURES
    k_min: int = 3
    k_max: int = 8
    seed: int = 0
    n_init: int = 10
    silhouette_sample: int = 5_000
    fit_sample: int = 200_000
    n_threads: int | None = 1
    stability_rounds: int = 5
    min_stability: float = 0.9
    balance_blocks: bool = True

    def __post_init__(self) -> None:
        if not 2 <= self.k_min <= self.k_max:
            raise ConfigError(
                f"segments: need 2 <= k_min <= k_max, got k_min={self.k_min}, k_max={self.k_max}"
            )
        if self.stability_rounds < 0:
            raise ConfigError(
                f"segments: stability_rounds must be >= 0, got {self.stability_rounds}"
            )
        if not 0.0 <= self.min_stability <= 1.0:
            raise ConfigError(
                f"segments: min_stability must be in [0, 1], got {self.min_stability}"
            )


def _numeric(profiles: pd.DataFrame, column: str) -> NDArray[np.float64]:
    return np.asarray(pd.to_numeric(profiles[column], errors="coerce"), dtype=np.float64)


def _count(profiles: pd.DataFrame, spec: _Count) -> NDArray[np.float64] | None:
    cols = (spec,) if isinstance(spec, str) else spec
    if any(c not in profiles.columns for c in cols):
        return None
    v = np.ones(len(profiles))
    for c in cols:
        v = v * np.nan_to_num(_numeric(profiles, c), nan=0.0)
    return np.maximum(v, 0.0)


def rate_parts(
    profiles: pd.DataFrame, feature: str
) -> tuple[NDArray[np.float64], NDArray[np.float64]] | None:
    """Numerator and denominator of a rate feature, or None when a column is missing."""
    if feature not in RATE_FEATURES:
        return None
    num_spec, den_spec, _, _ = RATE_FEATURES[feature]
    num, den = _count(profiles, num_spec), _count(profiles, den_spec)
    if num is None or den is None:
        return None
    return num, den


def feature_available(profiles: pd.DataFrame, feature: str) -> bool:
    return feature in profiles.columns or rate_parts(profiles, feature) is not None


def learn_fill(profiles: pd.DataFrame, feature: str) -> float:
    """The value an undefined row gets: the shop's rate for rates, else the rules above."""
    parts = rate_parts(profiles, feature)
    if parts is not None:
        num, den = parts
        total = float(den.sum())
        return float(num.sum() / total) if total > 0 else 0.0
    v = _numeric(profiles, feature)
    if feature in FILL_WITH_ZERO or not np.isfinite(v).any():
        return 0.0
    if feature in FILL_WITH_MAX:
        return float(np.nanmax(v) + 1.0)
    # undefined (a basket without orders, a rate without a denominator): neutral, so that
    # "never bought" does not read as "buys cheap"
    return float(np.nanmedian(v))


def _raw(profiles: pd.DataFrame, feature: str, fill: dict[str, float]) -> NDArray[np.float64]:
    """One feature per row in original units (rates shrunk, gaps filled)."""
    parts = rate_parts(profiles, feature)
    if parts is not None:
        num, den = parts
        _, _, m, cap = RATE_FEATURES[feature]
        # no denominator: the shop's rate (a purchase line without a cart event is no evidence
        # about the cart-to-purchase rate of a shop that logs no carts)
        v = np.where(den > 0, (num + m * fill[feature]) / (den + m), fill[feature])
        return np.minimum(v, cap) if cap is not None else v
    v = _numeric(profiles, feature)
    if feature == "days_since_last_event" and "days_since_first_seen" in profiles.columns:
        # never visited in the data: last seen when they signed up
        v = np.where(np.isnan(v), _numeric(profiles, "days_since_first_seen"), v)
    return np.where(np.isnan(v), fill[feature], v)


def to_model_space(v: NDArray[np.float64], feature: str) -> NDArray[np.float64]:
    return np.log1p(np.maximum(v, 0.0)) if feature in LOG_FEATURES else v


def _from_model_space(v: NDArray[np.float64], features: list[str]) -> NDArray[np.float64]:
    return np.where(np.isin(features, list(LOG_FEATURES)), np.expm1(v), v)


def transform_features(
    profiles: pd.DataFrame, features: list[str], fill: dict[str, float]
) -> NDArray[np.float64]:
    cols = [to_model_space(_raw(profiles, f, fill), f) for f in features]
    return np.column_stack(cols) if cols else np.zeros((len(profiles), 0))


def describe_matrix(profiles: pd.DataFrame, features: list[str]) -> NDArray[np.float64]:
    """Descriptor columns in model space, NaN where undefined (means skip them)."""
    cols = [to_model_space(_numeric(profiles, f), f) for f in features]
    return np.column_stack(cols) if cols else np.zeros((len(profiles), 0))


def block_weights(features: list[str], balance: bool = True) -> NDArray[np.float64]:
    """Weight of each feature: 1 / sqrt(number of the features in its block)."""
    if not balance:
        return np.ones(len(features))
    blocks = [FEATURE_BLOCKS.get(f, f) for f in features]
    sizes = pd.Series(blocks).value_counts()
    return np.array([1.0 / np.sqrt(sizes[b]) for b in blocks])


class SegmentModel:
    """Fitted segmentation: scaler, weights, centroids, stable segment ids and names.

    Attributes (after :func:`fit_segments`)
    ------------------------------------------
    features_ : clustered features; fill_ : value of an undefined row per feature (the shop's rate
    for rates); mean_, scale_ : scaler; weights_ : feature weights of the distance;
    centroids_ : (k, n_features) in standardised space; describe_ : descriptor columns;
    describe_mean_, describe_scale_ : their scaler; describe_centroids_ : (k, n_describe) mean z of
    each segment's members; segment_ids_ : stable id of each centroid;
    names_en_, names_zh_, descriptions_en_, descriptions_zh_ : per centroid;
    silhouette_ : {k: score}; stability_ : {k: mean ARI of subsample refits} (absent when not
    computed: k forced, ``stability_rounds=0``, too few users); k_ : chosen k.
    """

    features_: list[str]
    fill_: dict[str, float]
    mean_: NDArray[np.float64]
    scale_: NDArray[np.float64]
    weights_: NDArray[np.float64]
    centroids_: NDArray[np.float64]
    describe_: list[str]
    describe_mean_: NDArray[np.float64]
    describe_scale_: NDArray[np.float64]
    describe_centroids_: NDArray[np.float64]
    segment_ids_: list[int]
    names_en_: list[str]
    names_zh_: list[str]
    descriptions_en_: list[str]
    descriptions_zh_: list[str]
    silhouette_: dict[int, float]
    stability_: dict[int, float]
    k_: int

    def __init__(self, config: SegmentConfig | None = None) -> None:
        self.config = config or SegmentConfig()

    def _check(self) -> None:
        if not hasattr(self, "centroids_"):
            raise NotFittedError("SegmentModel")

    def standardise(self, profiles: pd.DataFrame) -> NDArray[np.float64]:
        """The standardised feature matrix of ``profiles`` (unweighted z-scores)."""
        self._check()
        missing = [f for f in self.features_ if not feature_available(profiles, f)]
        if missing:
            raise ValidationError(
                "features",
                "the profiles lack columns the segments were fitted on",
                value=missing,
                hint="compute the profiles with the same version, or refit the segments",
            )
        x = transform_features(profiles, self.features_, self.fill_)
        return (x - self.mean_) / self.scale_

    def predict(self, profiles: pd.DataFrame) -> NDArray[np.int64]:
        """Stable segment id of each row (nearest centroid in the weighted space)."""
        z = self.standardise(profiles)
        return np.asarray(self.segment_ids_, dtype=np.int64)[nearest_centroid(z, self)]

    def feature_table(self, profiles: pd.DataFrame) -> pd.DataFrame:
        """The clustered features of each row in original units (rates shrunk, gaps filled)."""
        self.standardise(profiles.head(0))  # checks the columns
        return pd.DataFrame(
            {f: _raw(profiles, f, self.fill_) for f in self.features_}, index=profiles.index
        )

    def centroid_z(self) -> pd.DataFrame:
        """One row per segment (index: stable id): z-scores of clustered and descriptor features.

        This is what names and descriptions read: a segment is named only what these support.
        """
        self._check()
        z = np.hstack([self.centroids_, self.describe_centroids_])
        return pd.DataFrame(z, index=self.segment_ids_, columns=self.features_ + self.describe_)

    def table(self) -> pd.DataFrame:
        """One row per segment: id, names, descriptions, centroid in original units.

        Log features are back-transformed from the mean of log1p (a typical value, below the
        arithmetic mean); descriptor columns are their members' mean over defined values.
        """
        self._check()
        df = pd.DataFrame(_original_units(self), columns=self.features_ + self.describe_)
        df.insert(0, "segment", self.segment_ids_)
        df.insert(1, "name_en", self.names_en_)
        df.insert(2, "name_zh", self.names_zh_)
        df["description_en"] = self.descriptions_en_
        df["description_zh"] = self.descriptions_zh_
        return df.sort_values("segment").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able learned state (no pickle)."""
        self._check()
        cfg = asdict(self.config)
        cfg["features"], cfg["describe"] = list(self.config.features), list(self.config.describe)
        return {
            "config": cfg,
            "features": self.features_,
            "fill": self.fill_,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "weights": self.weights_.tolist(),
            "centroids": self.centroids_.tolist(),
            "describe": self.describe_,
            "describe_mean": self.describe_mean_.tolist(),
            "describe_scale": self.describe_scale_.tolist(),
            "describe_centroids": self.describe_centroids_.tolist(),
            "segment_ids": [int(s) for s in self.segment_ids_],
            "names_en": self.names_en_,
            "names_zh": self.names_zh_,
            "descriptions_en": self.descriptions_en_,
            "descriptions_zh": self.descriptions_zh_,
            "silhouette": {str(k): v for k, v in self.silhouette_.items()},
            "stability": {str(k): v for k, v in self.stability_.items()},
            "k": self.k_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentModel:
        """Rebuild a model written by :meth:`to_dict` (also one written before weights)."""
        cfg = dict(d["config"])
        cfg["features"] = tuple(cfg["features"])
        if "describe" in cfg:
            cfg["describe"] = tuple(cfg["describe"])
        m = cls(SegmentConfig(**cfg))
        m.features_ = list(d["features"])
        m.fill_ = {k: float(v) for k, v in d["fill"].items()}
        m.mean_ = np.asarray(d["mean"], dtype=float)
        m.scale_ = np.asarray(d["scale"], dtype=float)
        m.weights_ = np.asarray(d.get("weights", np.ones(len(m.features_))), dtype=float)
        m.centroids_ = np.asarray(d["centroids"], dtype=float)
        k = len(m.centroids_)
        m.describe_ = list(d.get("describe", []))
        m.describe_mean_ = np.asarray(d.get("describe_mean", []), dtype=float)
        m.describe_scale_ = np.asarray(d.get("describe_scale", []), dtype=float)
        m.describe_centroids_ = np.asarray(
            d.get("describe_centroids", np.zeros((k, 0))), dtype=float
        ).reshape(k, len(m.describe_))
        m.segment_ids_ = [int(s) for s in d["segment_ids"]]
        m.names_en_ = list(d["names_en"])
        m.names_zh_ = list(d["names_zh"])
        m.descriptions_en_ = list(d["descriptions_en"])
        m.descriptions_zh_ = list(d["descriptions_zh"])
        m.silhouette_ = {int(k): float(v) for k, v in d["silhouette"].items()}
        m.stability_ = {int(k): float(v) for k, v in d.get("stability", {}).items()}
        m.k_ = int(d["k"])
        return m

    def save(self, path: str | Path) -> Path:
        """Write the model as JSON."""
        p = Path(path)
        p.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> SegmentModel:
        """Read a model written by :meth:`save`."""
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def nearest_centroid(z: NDArray[np.float64], model: SegmentModel) -> NDArray[np.int64]:
    zw = z * model.weights_
    cw = model.centroids_ * model.weights_
    d = (zw**2).sum(axis=1)[:, None] - 2.0 * zw @ cw.T + (cw**2).sum(axis=1)[None, :]
    return np.asarray(d.argmin(axis=1), dtype=np.int64)


def _original_units(model: SegmentModel) -> NDArray[np.float64]:
    x = _from_model_space(model.centroids_ * model.scale_ + model.mean_, model.features_)
    if not model.describe_:
        return x
    dz = model.describe_centroids_ * model.describe_scale_ + model.describe_mean_
    return np.hstack([x, _from_model_space(dz, model.describe_)])


def _kmeans(x: NDArray[np.float64], k: int, cfg: SegmentConfig, n_init: int, seed: int) -> KMeans:
    with threadpool_limits(cfg.n_threads):
        return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)


def stability_score(
    xs: NDArray[np.float64],
    k: int,
    reference: NDArray[np.int64],
    cfg: SegmentConfig,
    rng: np.random.Generator,
) -> float:
    """Mean adjusted Rand index between the full fit and refits on 80 % subsamples (on ``xs``)."""
    n = len(xs)
    m = int(0.8 * n)
    if cfg.stability_rounds == 0 or m <= k:
        return float("nan")
    scores = []
    for b in range(cfg.stability_rounds):
        rows = rng.choice(n, size=m, replace=False)
        km = _kmeans(xs[rows], k, cfg, n_init=3, seed=cfg.seed + 1 + b)
        scores.append(adjusted_rand_score(reference, km.predict(xs)))
    return float(np.mean(scores))


def choose_k(
    silhouette: dict[int, float], stability: dict[int, float], min_stability: float
) -> int:
    """The best silhouette among the k with stability >= ``min_stability``, else the most stable.

    Ties go to the smaller k; without stability figures (NaN) the best silhouette.
    """
    ks = sorted(silhouette)
    stab = {k: stability.get(k, float("nan")) for k in ks}
    if all(np.isnan(v) for v in stab.values()):
        return max(ks, key=lambda k: (silhouette[k], -k))
    eligible = [k for k in ks if stab[k] >= min_stability]
    if eligible:
        return max(eligible, key=lambda k: (silhouette[k], -k))
    return max(ks, key=lambda k: (np.nan_to_num(stab[k], nan=-1.0), -k))


def fit_segments(
    profiles: pd.DataFrame,
    config: SegmentConfig | None = None,
    *,
    previous: SegmentModel | None = None,
    k: int | None = None,
) -> SegmentModel:
    """Fit K-Means segments on ``profiles``.

    Parameters
    ----------
    profiles : the profile table (see :meth:`ProfileState.profiles`).
    config : features, k range, stability rule and seed.
    previous : the last run's model; its segment ids are carried over to the closest new centroids.
    k : force the number of clusters (default: :func:`choose_k` over ``k_min..k_max``).

    Returns
    -------
    The fitted :class:`SegmentModel`; ``silhouette_`` and ``stability_`` hold the whole curves.
    """
    cfg = config or SegmentConfig()
    candidates = [f for f in cfg.features if feature_available(profiles, f)]
    if not candidates:
        raise ValidationError(
            "features",
            "none of the segment features is in the profiles",
            value=list(cfg.features),
            hint="compute profiles first",
        )
    n = len(profiles)
    if n < cfg.k_min + 1:
        raise ValidationError("profiles", f"need more than {cfg.k_min} users to segment", value=n)
    fill = {f: learn_fill(profiles, f) for f in candidates}
    x = transform_features(profiles, candidates, fill)
    scale = x.std(axis=0)
    keep = scale > 1e-12 * np.maximum(1.0, np.abs(x).max(axis=0))
    if not keep.any():
        raise ValidationError(
            "profiles",
            "every segment feature is the same for all users: nothing to segment by",
            value=candidates,
        )
    features = [f for f, kp in zip(candidates, keep, strict=True) if kp]
    x = x[:, keep]
    mean, scale = x.mean(axis=0), x.std(axis=0)
    weights = block_weights(features, cfg.balance_blocks)
    zw = (x - mean) / scale * weights
    rng = np.random.default_rng(cfg.seed)
    fit_rows = (
        rng.choice(n, size=cfg.fit_sample, replace=False) if n > cfg.fit_sample else np.arange(n)
    )
    zf = zw[fit_rows]
    eval_rows = (
        rng.choice(len(zf), size=cfg.silhouette_sample, replace=False)
        if len(zf) > cfg.silhouette_sample
        else np.arange(len(zf))
    )
    xs = zf[eval_rows]
    ks = [k] if k is not None else list(range(cfg.k_min, min(cfg.k_max, len(zf) - 1) + 1))
    silhouette: dict[int, float] = {}
    stability: dict[int, float] = {}
    fits: dict[int, KMeans] = {}
    for kk in ks:
        km = _kmeans(zf, kk, cfg, n_init=cfg.n_init, seed=cfg.seed)
        labels = km.predict(xs)
        fits[kk] = km
        silhouette[kk] = float(silhouette_score(xs, labels)) if len(np.unique(labels)) > 1 else -1.0
        if k is None:
            stab = stability_score(xs, kk, labels, cfg, rng)
            if np.isfinite(stab):
                stability[kk] = stab
    best_k = k if k is not None else choose_k(silhouette, stability, cfg.min_stability)
    model = SegmentModel(cfg)
    model.features_, model.mean_, model.scale_ = features, mean, scale
    model.fill_ = {f: fill[f] for f in features}
    model.weights_ = weights
    model.silhouette_, model.stability_, model.k_ = silhouette, stability, best_k
    model.centroids_ = fits[best_k].cluster_centers_ / weights
    model.segment_ids_ = list(range(best_k))
    _describe(model, profiles, nearest_centroid(zw / weights, model), cfg)
    order, ids = stable_ids(model, previous)
    model.centroids_ = model.centroids_[order]
    model.describe_centroids_ = model.describe_centroids_[order]
    model.segment_ids_ = ids
    name_segments(model)
    return model


def _describe(
    model: SegmentModel, profiles: pd.DataFrame, labels: NDArray[np.int64], cfg: SegmentConfig
) -> None:
    """Descriptor scaler and each segment's mean z (NaN-skipping) of the descriptor columns."""
    feats = [f for f in cfg.describe if f in profiles.columns and f not in model.features_]
    d = describe_matrix(profiles, feats)
    finite = np.isfinite(d)
    # a descriptor needs values that differ (a shop without prices has spend 0 for everyone)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        spread = np.nanstd(np.where(finite, d, np.nan), axis=0) if len(feats) else np.zeros(0)
    usable = (finite.sum(axis=0) >= 2) & (np.nan_to_num(spread) > 0)
    feats = [f for f, u in zip(feats, usable, strict=True) if u]
    d = d[:, usable]
    mean = np.nanmean(d, axis=0) if feats else np.zeros(0)
    scale = np.nanstd(d, axis=0) if feats else np.zeros(0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (d - mean) / scale
    cent = np.zeros((len(model.centroids_), len(feats)))
    for c in range(len(cent)):
        rows = z[labels == c]
        if len(rows) and len(feats):
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a column all NaN in a segment
                cent[c] = np.nanmean(rows, axis=0)
    model.describe_ = feats
    model.describe_mean_, model.describe_scale_ = mean, scale
    model.describe_centroids_ = np.nan_to_num(cent, nan=0.0)


def stable_ids(
    model: SegmentModel, previous: SegmentModel | None
) -> tuple[NDArray[np.int64], list[int]]:
    """Order of the centroids and their ids: by value on a first run, matched to ``previous``."""
    z = model.centroid_z()
    key_cols = [f for f in ("monetary", "frequency") if f in z.columns]
    key = z[key_cols].sum(axis=1).to_numpy() if key_cols else np.zeros(len(z))
    order = np.lexsort((np.arange(len(z)), -np.round(key, 9)))
    centroids = model.centroids_[order]
    ids = list(range(len(centroids)))
    if previous is None or previous.features_ != model.features_:
        return order, ids
    # previous centroids in today's standardised space, compared in the weighted distance
    prev = (previous.centroids_ * previous.scale_ + previous.mean_ - model.mean_) / model.scale_
    w = model.weights_
    cost = (((centroids[:, None, :] - prev[None, :, :]) * w) ** 2).sum(axis=2)
    rows, cols = linear_sum_assignment(cost)
    prev_ids = previous.segment_ids_
    ids = [-1] * len(centroids)
    for r, c in zip(rows, cols, strict=True):
        ids[r] = prev_ids[c]
    nxt = max(prev_ids) + 1
    for i in range(len(ids)):
        if ids[i] < 0:
            ids[i] = nxt
            nxt += 1
    return order, ids


def name_segments(model: SegmentModel) -> None:
    """Name and describe ``model``'s segments in English and Chinese
    (:mod:`campaignrec.profiles.segment_names`)."""
    zt = model.centroid_z().reset_index(drop=True)
    model.names_en_, model.names_zh_ = segment_names(zt, list(model.segment_ids_))
    units = _original_units(model)
    cols = model.features_ + model.describe_
    described = [
        describe_segment(zt.iloc[i], dict(zip(cols, units[i], strict=True)), FEATURE_LABELS)
        for i in range(len(zt))
    ]
    model.descriptions_en_ = [en for en, _ in described]
    model.descriptions_zh_ = [zh for _, zh in described]


def assign_segments(profiles: pd.DataFrame, model: SegmentModel) -> pd.DataFrame:
    """A copy of ``profiles`` with ``segment`` (stable id), ``segment_name`` and ``segment_name_zh``."""
    out = profiles.copy()
    seg = model.predict(profiles)
    idx = {s: i for i, s in enumerate(model.segment_ids_)}
    pos = np.array([idx[s] for s in seg], dtype=int) if len(seg) else np.zeros(0, dtype=int)
    out["segment"] = seg
    out["segment_name"] = np.asarray(model.names_en_, dtype=object)[pos]
    out["segment_name_zh"] = np.asarray(model.names_zh_, dtype=object)[pos]
    return out


def silhouette_curve(model: SegmentModel) -> pd.DataFrame:
    """Silhouette and stability of every k tried, and the chosen k (the data behind the plot)."""
    model._check()
    ks = sorted(model.silhouette_)
    return pd.DataFrame(
        {
            "k": ks,
            "silhouette": [model.silhouette_[k] for k in ks],
            "stability": [model.stability_.get(k, float("nan")) for k in ks],
            "chosen": [k == model.k_ for k in ks],
        }
    )
