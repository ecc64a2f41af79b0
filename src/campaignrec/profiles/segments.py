"""Behavioural segments: K-Means on standardised profile features, k chosen by silhouette.

Labels are stable: clusters are ordered by centroid monetary value on a first run, and matched to the
previous run's centroids (Hungarian assignment) on later runs, so "segment 2" keeps meaning the same
shoppers. Each segment gets an English and a Chinese name and description derived from its centroid.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from threadpoolctl import threadpool_limits

from campaignrec.errors import ConfigError, NotFittedError, ValidationError

SEGMENT_FEATURES: tuple[str, ...] = (
    # how much
    "frequency",
    "monetary",
    # how they shop
    "avg_basket",
    "mean_unit_price",
    "browse_depth",
    "view_to_click",
    "cart_to_purchase",
    "orders_per_session",
    "discount_share",
    # how recently and since when
    "days_since_last_event",
    "days_since_first_seen",
    # when
    "active_hour_sin",
    "active_hour_cos",
    "weekend_share",
)
# heavy-tailed counts and amounts are clustered on log1p
LOG_FEATURES = frozenset(
    {
        "frequency",
        "monetary",
        "avg_basket",
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
_FILL_WITH_MAX = frozenset({"recency_days", "days_since_last_event", "days_since_first_seen"})

FEATURE_LABELS: dict[str, tuple[str, str]] = {
    "frequency": ("orders", "订单数"),
    "monetary": ("total spend", "总消费"),
    "recency_days": ("days since last purchase", "距上次购买天数"),
    "avg_basket": ("average basket", "客单价"),
    "n_sessions": ("sessions", "访问次数"),
    "n_events": ("events", "行为次数"),
    "n_views": ("product views", "浏览次数"),
    "browse_depth": ("views per session", "每次访问浏览数"),
    "view_to_click": ("view-to-click rate", "浏览点击率"),
    "cart_to_purchase": ("cart-to-purchase rate", "加购转化率"),
    "orders_per_session": ("orders per visit", "每次访问下单数"),
    "mean_unit_price": ("price level", "商品价位"),
    "days_since_last_event": ("days since last visit", "距上次访问天数"),
    "active_hour_sin": ("evening/morning activity (sin of hour)", "活跃时段(小时正弦)"),
    "active_hour_cos": ("midnight/noon activity (cos of hour)", "活跃时段(小时余弦)"),
    "weekend_share": ("weekend activity", "周末活跃度"),
    "discount_share": ("share of orders on discount", "优惠订单占比"),
    "coupon_redemption_rate": ("coupon redemption rate", "优惠券核销率"),
    "days_since_first_seen": ("days since first visit", "首次访问至今天数"),
}

# archetypes: (key, English name, Chinese name, {feature: sign}); the score of a centroid is the
# mean of sign * z over the features it has
ARCHETYPES: tuple[tuple[str, str, str, dict[str, float]], ...] = (
    (
        "high_value",
        "high-value frequent buyers",
        "高价值高频买家",
        {"frequency": 1.0, "monetary": 1.0},
    ),
    (
        "discount",
        "discount seekers",
        "优惠敏感型",
        {"discount_share": 1.0, "coupon_redemption_rate": 1.0},
    ),
    ("new", "new browsers", "新访客", {"days_since_first_seen": -1.0, "frequency": -0.5}),
    (
        "window",
        "window shoppers",
        "只逛不买型",
        {"browse_depth": 1.0, "orders_per_session": -1.0, "cart_to_purchase": -1.0},
    ),
    ("lapsed", "lapsed customers", "沉睡客户", {"days_since_last_event": 1.0}),
    (
        "bargain",
        "bargain hunters",
        "低价偏好型",
        {"mean_unit_price": -1.0, "avg_basket": -0.5},
    ),
    (
        "big_basket",
        "big-basket occasional buyers",
        "大单低频型",
        {"avg_basket": 1.0, "mean_unit_price": 0.5},
    ),
)
GENERIC_NAME = ("regular shoppers", "普通买家")
MIN_ARCHETYPE_SCORE = 0.3


@dataclass(frozen=True)
class SegmentConfig:
    """Parameters of the segmentation.

    Parameters
    ----------
    features : profile columns clustered (missing columns are skipped).
    k_min, k_max : range of the number of clusters tried.
    seed : seed of K-Means and of the silhouette sample.
    n_init : K-Means restarts.
    silhouette_sample : users sampled to compute each silhouette score.
    fit_sample : at most this many users fit the centroids (all users are then assigned).
    n_threads : OpenMP threads of K-Means (None: all cores). One thread is the default because
        OpenMP spinning on a shared, busy machine makes K-Means tens of times slower.
    """

    features: tuple[str, ...] = SEGMENT_FEATURES
    k_min: int = 2
    k_max: int = 8
    seed: int = 0
    n_init: int = 10
    silhouette_sample: int = 5_000
    fit_sample: int = 200_000
    n_threads: int | None = 1

    def __post_init__(self) -> None:
        if not 2 <= self.k_min <= self.k_max:
            raise ConfigError(
                f"segments: need 2 <= k_min <= k_max, got k_min={self.k_min}, k_max={self.k_max}"
            )


def _transform(
    profiles: pd.DataFrame, features: list[str], fill: dict[str, float]
) -> NDArray[np.float64]:
    cols = []
    for f in features:
        v = pd.to_numeric(profiles[f], errors="coerce").astype(float).to_numpy()
        v = np.where(np.isnan(v), fill[f], v)
        cols.append(np.log1p(np.maximum(v, 0.0)) if f in LOG_FEATURES else v)
    return np.column_stack(cols) if cols else np.zeros((len(profiles), 0))


class SegmentModel:
    """Fitted segmentation: scaler, centroids, stable segment ids and names.

    Attributes (after :func:`fit_segments`)
    ------------------------------------------
    features_ : clustered columns; fill_ : value used for NaN per column; mean_, scale_ : scaler;
    centroids_ : (k, n_features) in standardised space; segment_ids_ : stable id of each centroid;
    names_en_, names_zh_, descriptions_en_, descriptions_zh_ : per centroid;
    silhouette_ : {k: score}; k_ : chosen k.
    """

    features_: list[str]
    fill_: dict[str, float]
    mean_: NDArray[np.float64]
    scale_: NDArray[np.float64]
    centroids_: NDArray[np.float64]
    segment_ids_: list[int]
    names_en_: list[str]
    names_zh_: list[str]
    descriptions_en_: list[str]
    descriptions_zh_: list[str]
    silhouette_: dict[int, float]
    k_: int

    def __init__(self, config: SegmentConfig | None = None) -> None:
        self.config = config or SegmentConfig()

    def _check(self) -> None:
        if not hasattr(self, "centroids_"):
            raise NotFittedError("SegmentModel")

    def standardise(self, profiles: pd.DataFrame) -> NDArray[np.float64]:
        """The standardised feature matrix of ``profiles``."""
        self._check()
        x = _transform(profiles, self.features_, self.fill_)
        return (x - self.mean_) / self.scale_

    def predict(self, profiles: pd.DataFrame) -> NDArray[np.int64]:
        """Stable segment id of each row."""
        z = self.standardise(profiles)
        d = ((z[:, None, :] - self.centroids_[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(self.segment_ids_, dtype=np.int64)[d.argmin(axis=1)]

    def table(self) -> pd.DataFrame:
        """One row per segment: id, names, descriptions, centroid in original units."""
        self._check()
        z = self.centroids_ * self.scale_ + self.mean_
        orig = np.where(np.isin(self.features_, list(LOG_FEATURES)), np.expm1(z), z)
        df = pd.DataFrame(orig, columns=self.features_)
        df.insert(0, "segment", self.segment_ids_)
        df.insert(1, "name_en", self.names_en_)
        df.insert(2, "name_zh", self.names_zh_)
        df["description_en"] = self.descriptions_en_
        df["description_zh"] = self.descriptions_zh_
        return df.sort_values("segment").reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able learned state (no pickle)."""
        self._check()
        return {
            "config": {**asdict(self.config), "features": list(self.config.features)},
            "features": self.features_,
            "fill": self.fill_,
            "mean": self.mean_.tolist(),
            "scale": self.scale_.tolist(),
            "centroids": self.centroids_.tolist(),
            "segment_ids": [int(s) for s in self.segment_ids_],
            "names_en": self.names_en_,
            "names_zh": self.names_zh_,
            "descriptions_en": self.descriptions_en_,
            "descriptions_zh": self.descriptions_zh_,
            "silhouette": {str(k): v for k, v in self.silhouette_.items()},
            "k": self.k_,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SegmentModel:
        """Rebuild a model written by :meth:`to_dict`."""
        cfg = dict(d["config"])
        cfg["features"] = tuple(cfg["features"])
        m = cls(SegmentConfig(**cfg))
        m.features_ = list(d["features"])
        m.fill_ = {k: float(v) for k, v in d["fill"].items()}
        m.mean_ = np.asarray(d["mean"], dtype=float)
        m.scale_ = np.asarray(d["scale"], dtype=float)
        m.centroids_ = np.asarray(d["centroids"], dtype=float)
        m.segment_ids_ = [int(s) for s in d["segment_ids"]]
        m.names_en_ = list(d["names_en"])
        m.names_zh_ = list(d["names_zh"])
        m.descriptions_en_ = list(d["descriptions_en"])
        m.descriptions_zh_ = list(d["descriptions_zh"])
        m.silhouette_ = {int(k): float(v) for k, v in d["silhouette"].items()}
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
    config : features, k range and seed.
    previous : the last run's model; its segment ids are carried over to the closest new centroids.
    k : force the number of clusters (default: best silhouette over ``k_min..k_max``).

    Returns
    -------
    The fitted :class:`SegmentModel`; ``silhouette_`` holds the whole curve.
    """
    cfg = config or SegmentConfig()
    features = [f for f in cfg.features if f in profiles.columns]
    if not features:
        raise ValidationError(
            "features",
            "none of the segment features is in the profiles",
            value=list(cfg.features),
            hint="compute profiles first",
        )
    n = len(profiles)
    if n < cfg.k_min + 1:
        raise ValidationError("profiles", f"need more than {cfg.k_min} users to segment", value=n)
    model = SegmentModel(cfg)
    fill: dict[str, float] = {}
    for f in features:
        v = pd.to_numeric(profiles[f], errors="coerce").astype(float)
        # a missing recency means "never bought": further away than anyone who did
        if not v.notna().any():
            fill[f] = 0.0
        elif f in _FILL_WITH_MAX:
            fill[f] = float(np.nanmax(v) + 1.0)
        else:
            # undefined (a basket without orders, a rate without a denominator): neutral, so
            # that "never bought" does not read as "buys cheap"
            fill[f] = float(np.nanmedian(v))
    x = _transform(profiles, features, fill)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    z = (x - mean) / scale
    rng = np.random.default_rng(cfg.seed)
    fit_rows = (
        rng.choice(n, size=cfg.fit_sample, replace=False) if n > cfg.fit_sample else np.arange(n)
    )
    zf = z[fit_rows]
    sil_rows = (
        rng.choice(len(zf), size=cfg.silhouette_sample, replace=False)
        if len(zf) > cfg.silhouette_sample
        else np.arange(len(zf))
    )
    ks = [k] if k is not None else list(range(cfg.k_min, min(cfg.k_max, len(zf) - 1) + 1))
    silhouette: dict[int, float] = {}
    best: tuple[float, int, KMeans] | None = None
    for kk in ks:
        with threadpool_limits(cfg.n_threads):
            km = KMeans(n_clusters=kk, n_init=cfg.n_init, random_state=cfg.seed).fit(zf)
        labels = km.labels_[sil_rows]
        score = (
            float(silhouette_score(zf[sil_rows], labels)) if len(np.unique(labels)) > 1 else -1.0
        )
        silhouette[kk] = score
        if best is None or score > best[0]:
            best = (score, kk, km)
    assert best is not None
    centroids = best[2].cluster_centers_
    model.features_, model.fill_, model.mean_, model.scale_ = features, fill, mean, scale
    model.silhouette_, model.k_ = silhouette, best[1]
    model.centroids_, model.segment_ids_ = _stable_ids(centroids, features, mean, scale, previous)
    _name_segments(model)
    return model


def _stable_ids(
    centroids: NDArray[np.float64],
    features: list[str],
    mean: NDArray[np.float64],
    scale: NDArray[np.float64],
    previous: SegmentModel | None,
) -> tuple[NDArray[np.float64], list[int]]:
    # first run: order by monetary (then frequency) of the centroid, highest first
    key_cols = [features.index(f) for f in ("monetary", "frequency") if f in features]
    key = centroids[:, key_cols].sum(axis=1) if key_cols else np.zeros(len(centroids))
    order = np.lexsort((np.arange(len(centroids)), -np.round(key, 9)))
    centroids = centroids[order]
    ids = list(range(len(centroids)))
    if previous is None or previous.features_ != features:
        return centroids, ids
    # previous centroids in today's standardised space
    prev = (previous.centroids_ * previous.scale_ + previous.mean_ - mean) / scale
    cost = ((centroids[:, None, :] - prev[None, :, :]) ** 2).sum(axis=2)
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
    return centroids, ids


def _archetype_scores(centroids: NDArray[np.float64], features: list[str]) -> NDArray[np.float64]:
    scores = np.zeros((len(centroids), len(ARCHETYPES)))
    for j, (_, _, _, signs) in enumerate(ARCHETYPES):
        used = [(features.index(f), s) for f, s in signs.items() if f in features]
        if not used:
            scores[:, j] = -np.inf
            continue
        scores[:, j] = sum(s * centroids[:, i] for i, s in used) / sum(abs(s) for _, s in used)
    return scores


def _name_segments(model: SegmentModel) -> None:
    c = model.centroids_
    feats = model.features_
    scores = _archetype_scores(c, feats)
    finite = np.where(np.isfinite(scores), scores, -1e9)
    names_en = [GENERIC_NAME[0]] * len(c)
    names_zh = [GENERIC_NAME[1]] * len(c)
    # greedy: the clearest (segment, archetype) match first, each used once
    free = finite.copy()
    while free.size and free.max() >= MIN_ARCHETYPE_SCORE:
        r, j = np.unravel_index(int(np.argmax(free)), free.shape)
        names_en[r], names_zh[r] = ARCHETYPES[j][1], ARCHETYPES[j][2]
        free[r, :] = -np.inf
        free[:, j] = -np.inf
    # make names unique ("regular shoppers", "regular shoppers 2", ...)
    seen: dict[str, int] = {}
    for i in np.argsort(model.segment_ids_, kind="stable"):
        base_en, base_zh = names_en[i], names_zh[i]
        seen[base_en] = seen.get(base_en, 0) + 1
        if seen[base_en] > 1:
            names_en[i] = f"{base_en} {seen[base_en]}"
            names_zh[i] = f"{base_zh}{seen[base_en]}"
    desc_en, desc_zh = [], []
    for i in range(len(c)):
        top = np.argsort(-np.abs(c[i]), kind="stable")[:3]
        parts_en, parts_zh = [], []
        for t in top:
            en, zh = FEATURE_LABELS.get(feats[t], (feats[t], feats[t]))
            zv = c[i, t]
            if abs(zv) < 0.25:
                parts_en.append(f"average {en}")
                parts_zh.append(f"{zh}一般")
                continue
            strong = abs(zv) >= 1.0
            up = zv > 0
            parts_en.append(
                f"{'much ' if strong else ''}{'higher' if up else 'lower'} {en} (z={zv:+.1f})"
            )
            parts_zh.append(
                f"{zh}{'明显' if strong else ''}{'偏高' if up else '偏低'}(z={zv:+.1f})"
            )
        desc_en.append("; ".join(parts_en) + " than the average shopper")
        desc_zh.append("相比平均用户：" + "，".join(parts_zh))
    model.names_en_, model.names_zh_ = names_en, names_zh
    model.descriptions_en_, model.descriptions_zh_ = desc_en, desc_zh


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
    """The silhouette score of every k tried (the data behind the saved plot)."""
    model._check()
    ks = sorted(model.silhouette_)
    return pd.DataFrame(
        {
            "k": ks,
            "silhouette": [model.silhouette_[k] for k in ks],
            "chosen": [k == model.k_ for k in ks],
        }
    )
