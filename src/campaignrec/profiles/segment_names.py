"""Names and descriptions of segments, from their centroids alone: an archetype names a segment
only when its centroid meets every condition of the archetype (a test checks the names against the
centroids), and a description says the three most distinctive features and the typical hour.

:func:`campaignrec.profiles.segments.name_segments` applies them to a fitted
:class:`~campaignrec.profiles.segments.SegmentModel`; the Spark engine names its segments the same way.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

_HOUR = ("active_hour_sin", "active_hour_cos")

# (key, English name, Chinese name, {feature: z threshold}). A threshold t > 0 means the segment's
# centroid z-score must be >= t, t <= 0 means <= t. An archetype names a segment only when every
# condition holds (and every feature it names is there). Each archetype first names one segment,
# chosen so that as many segments as possible get a name, then by the best total score (the mean
# of sign * z over the conditions); a segment left over takes its best archetype that holds,
# numbered ("lapsed customers 2"), and only a segment where none holds is "regular shoppers".
ARCHETYPES: tuple[tuple[str, str, str, dict[str, float]], ...] = (
    (
        "high_value",
        "high-value frequent buyers",
        "高价值高频买家",
        {"frequency": 0.5, "monetary": 0.5},
    ),
    (
        "decisive",
        "decisive buyers",
        "果断下单型",
        {"orders_per_session": 0.5, "cart_to_purchase": 0.5},
    ),
    ("discount", "discount seekers", "优惠敏感型", {"discount_share": 0.5}),
    ("new", "new visitors", "新访客", {"days_since_first_seen": -0.5, "frequency": 0.0}),
    (
        "window",
        "window shoppers",
        "只逛不买型",
        {"browse_depth": 0.5, "orders_per_session": -0.25},
    ),
    (
        "inactive",
        "inactive members",
        "未活跃会员",
        {"n_sessions": -1.0, "days_since_last_event": 1.0},
    ),
    ("lapsed", "lapsed customers", "沉睡客户", {"days_since_last_event": 0.5}),
    ("bargain", "bargain hunters", "低价偏好型", {"mean_unit_price": -0.5}),
    ("premium", "premium shoppers", "高端偏好型", {"mean_unit_price": 0.5}),
    (
        "big_basket",
        "big-basket occasional buyers",
        "大单低频型",
        {"items_per_order": 0.5, "frequency": 0.0},
    ),
    ("bulk", "bulk buyers", "囤货型", {"items_per_order": 1.0}),
    ("small_basket", "small-basket shoppers", "小单型", {"items_per_order": -0.5}),
    ("wishlist", "wish-listers", "收藏型", {"favorite_rate": 0.5}),
    ("searcher", "search-led shoppers", "搜索导向型", {"search_rate": 0.5}),
    ("weekend", "weekend shoppers", "周末购物型", {"weekend_share": 0.5}),
)
GENERIC_NAME = ("regular shoppers", "普通买家")
_NAMED_BONUS = 1_000.0  # one more named segment outweighs any difference in score


def archetype_holds(z: pd.Series, conditions: dict[str, float]) -> bool:
    """Whether a centroid (z-score per feature) meets every condition of an archetype."""
    for f, t in conditions.items():
        v = z.get(f, np.nan)
        if not np.isfinite(v) or (v < t if t > 0 else v > t):
            return False
    return True


def _archetype_score(z: pd.Series, conditions: dict[str, float]) -> float:
    return float(np.mean([np.sign(t or -1.0) * z[f] for f, t in conditions.items()]))


def segment_names(zt: pd.DataFrame, segment_ids: list[int]) -> tuple[list[str], list[str]]:
    """English and Chinese names of the segments whose centroids (z-scores, one row each, in the
    order of ``segment_ids``) are ``zt`` (the rule in the comment above :data:`ARCHETYPES`)."""
    k = len(zt)
    rows = [zt.iloc[r] for r in range(k)]
    names_en = [GENERIC_NAME[0]] * k
    names_zh = [GENERIC_NAME[1]] * k
    # each archetype names at most one segment, and only where its conditions hold: the
    # assignment that names the most segments, then has the best total score (Hungarian)
    gain = np.zeros((k, len(ARCHETYPES)))
    for r in range(k):
        for j, (_, _, _, cond) in enumerate(ARCHETYPES):
            if archetype_holds(rows[r], cond):
                gain[r, j] = _NAMED_BONUS + _archetype_score(rows[r], cond)
    primary = np.zeros(k, dtype=bool)
    for r, j in zip(*linear_sum_assignment(-gain), strict=True):
        if gain[r, j] > 0:
            names_en[r], names_zh[r] = ARCHETYPES[j][1], ARCHETYPES[j][2]
            primary[r] = True
    # a segment left over whose centroid still meets an archetype taken by another segment
    # takes that name, numbered ("lapsed customers 2"): "regular shoppers" only where none holds
    for left in np.flatnonzero(~primary & (gain.max(axis=1) > 0)):
        best = int(np.argmax(gain[left]))
        names_en[left], names_zh[left] = ARCHETYPES[best][1], ARCHETYPES[best][2]
    # make names unique: the assigned segment keeps the plain name, then by segment id
    seen: dict[str, int] = {}
    for i in sorted(range(k), key=lambda i: (not primary[i], segment_ids[i])):
        base_en, base_zh = names_en[i], names_zh[i]
        seen[base_en] = seen.get(base_en, 0) + 1
        if seen[base_en] > 1:
            names_en[i] = f"{base_en} {seen[base_en]}"
            names_zh[i] = f"{base_zh}{seen[base_en]}"
    return names_en, names_zh


def describe_segment(
    z: pd.Series, units: dict[str, float], labels: Mapping[str, tuple[str, str]]
) -> tuple[str, str]:
    """The three most distinctive features of a centroid (``z``: its z-score per feature; the
    hour pair excluded), named by ``labels`` (English, Chinese), and the typical hour read from
    ``units`` (the centroid in original units)."""
    zz = z.drop([c for c in _HOUR if c in z.index])
    top = zz.abs().sort_values(ascending=False, kind="stable").index[:3]
    parts_en, parts_zh = [], []
    for f in top:
        en, zh = labels.get(str(f), (str(f), str(f)))
        zv = float(zz[f])
        if abs(zv) < 0.25:
            parts_en.append(f"average {en}")
            parts_zh.append(f"{zh}一般")
            continue
        strong = abs(zv) >= 1.0
        up = zv > 0
        parts_en.append(
            f"{'much ' if strong else ''}{'higher' if up else 'lower'} {en} (z={zv:+.1f})"
        )
        parts_zh.append(f"{zh}{'明显' if strong else ''}{'偏高' if up else '偏低'}(z={zv:+.1f})")
    en_text = "; ".join(parts_en) + " than the average shopper"
    zh_text = "相比平均用户：" + "，".join(parts_zh)
    if all(c in units for c in _HOUR):
        s, c = units["active_hour_sin"], units["active_hour_cos"]
        if np.hypot(s, c) >= 0.2:  # a clear typical hour, not activity spread over the day
            hour = int(np.round((np.degrees(np.arctan2(s, c)) / 15.0) % 24)) % 24
            en_text += f"; typically active around {hour:02d}:00"
            zh_text += f"；通常在{hour:02d}:00前后活跃"
    return en_text, zh_text
