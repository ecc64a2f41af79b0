"""Campaign response and uplift models learned from the store's own logged exposures.

``campaignrec uplift --from-store`` and ``campaignrec retrain`` call :func:`fit_campaign_models`:

* the rows are the logged exposures (:func:`campaignrec.campaigns.exposures.exposure_outcomes`):
  every ``campaign_impression``, shown (``treatment``) or held out (``control``), with its outcome
  (a purchase of an item the campaign covers in the same session);
* the features of a row are the shopper's audience attributes that do not count purchases
  (segment, membership tier, visits, tenure: :data:`NUMERIC_FEATURES`, :data:`CATEGORICAL_FEATURES`)
  next to what the campaign offers (its id and type, the depth of the discount) and how well it
  fits the shopper's taste (the share of the shopper's top categories it covers). Protected
  attributes (gender, age) are never features;
* two calibrated :class:`~campaignrec.campaigns.response.ResponseModel` classifiers, one on the
  shown exposures (the response model: P(buy | offer)) and one on the held-out ones
  (P(buy | no offer)): a T-learner whose difference is the uplift, with calibrated probabilities
  that the planner can turn into expected costs (regularised logistic regression by default,
  :data:`BASE_SETTINGS`). Before the final fit on every row, the same
  learner is fitted on 70 % of the exposures and scored on the other 30 %: the Qini coefficient
  and uplift@30 % against random targeting are kept in ``meta.json``;
* shoppers who withheld personalisation consent are not learned from, and are estimated with the
  campaign's average over the others, never from their profile.

The models are written to ``<home>/campaign_models/<version>/`` and ``CURRENT`` names the version
in use (written last, so a reader never sees half a model). :func:`uplift_estimates` scores a
campaign's audience with them; ``campaigns plan``, the demo and the service's plan preview use them
in place of the per-segment fallback.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.campaigns.catalog import Catalog, covered_items, load_campaigns
from campaignrec.campaigns.exposures import exposure_outcomes
from campaignrec.data.schema import Campaign
from campaignrec.errors import CampaignrecError, ValidationError
from campaignrec.privacy.consent import personalisation_allowed

#: The event columns exposure outcomes are computed from (the plan's fallback reads the same).
OUTCOME_EVENT_COLUMNS = [
    "user_id",
    "event_type",
    "item_id",
    "campaign_id",
    "timestamp",
    "session_id",
    "variant",
    "policy",
    "propensity",
]
MODELS_DIR = "campaign_models"
CURRENT = "CURRENT"
#: Shopper features. The profile is computed now, after the exposures, so anything counted from
#: purchases (frequency, monetary, recency, basket, discount share, redemption rate, the purchase
#: prediction, lifecycle, "bought there before") would carry the very outcome being predicted
#: into the features: those are left out. The segment (a shopping style from rates and shares),
#: the membership tier, visits and tenure remain.
NUMERIC_FEATURES = ("n_sessions", "days_since_first_seen")
CATEGORICAL_FEATURES = ("segment", "membership_tier")
CAMPAIGN_FEATURES = ("taste_share", "discount_depth")
#: one-hot campaign labels: its type, and its id (each campaign's own base rate and effect; a
#: campaign the models never saw falls back on its type and the shared features)
CAMPAIGN_LABELS: tuple[str, ...] = ("campaign_type", "campaign_id")
LOG_FEATURES = frozenset({"n_sessions", "days_since_first_seen"})
MIN_ROWS_PER_ARM = 30
ORDER_VALUE = 50.0  # the planner's default order value: an amount off is a share of it


def campaign_models_dir(home: Path) -> Path:
    """Where a data directory keeps its campaign models: ``<home>/campaign_models``."""
    return Path(home) / MODELS_DIR


def current_models(directory: Path) -> Path | None:
    """The folder of the campaign models in use, or None when none were fitted."""
    pointer = Path(directory) / CURRENT
    if not pointer.is_file():
        return None
    folder = Path(directory) / pointer.read_text(encoding="utf-8").strip()
    return folder if (folder / "meta.json").is_file() else None


# ---- features ----------------------------------------------------------------------------------------
def _top(category: Any) -> str:
    return str(category).split("/", 1)[0]


def campaign_tops(campaign: Campaign, items: pd.DataFrame | None) -> set[str]:
    """Top-level categories a campaign covers (its categories and its items' categories)."""
    tops = {_top(c) for c in campaign.categories}
    if items is not None and len(items) and campaign.item_ids:
        cats = items.loc[items["item_id"].astype(str).isin(campaign.item_ids), "category"]
        tops |= {_top(c) for c in cats.dropna()}
    if not tops and items is not None and len(items):
        cov = set(covered_items(campaign, items))
        tops = {_top(c) for c in items.loc[items["item_id"].astype(str).isin(cov), "category"]}
    return tops


def discount_depth(campaign: Campaign) -> float:
    """The offer's depth as a share of an order (percent / 100; an amount over 50)."""
    kind = str(getattr(campaign, "discount_type", "none"))
    value = float(getattr(campaign, "discount_value", 0.0) or 0.0)
    if kind == "percent":
        return value / 100.0
    if kind == "amount":
        return min(value / ORDER_VALUE, 1.0)
    return 0.0


def _number(value: Any) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


def raw_features(
    user_ids: list[str],
    attrs: Mapping[str, Mapping[str, Any]],
    campaign: Campaign,
    tops: set[str],
) -> pd.DataFrame:
    """One row of raw (unencoded) features per user for ``campaign``."""
    rows = []
    depth = discount_depth(campaign)
    kind = str(campaign.type)
    for u in user_ids:
        a = attrs.get(u, {})
        row: dict[str, Any] = {f: _number(a.get(f)) for f in NUMERIC_FEATURES}
        for f in CATEGORICAL_FEATURES:
            row[f] = None if a.get(f) is None else str(a.get(f))
        top_cats = list(a.get("top_categories") or [])
        row["taste_share"] = (
            sum(_top(c) in tops for c in top_cats) / len(top_cats) if top_cats else math.nan
        )
        row["discount_depth"] = depth
        row["campaign_type"] = kind
        row["campaign_id"] = str(campaign.campaign_id)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class FeatureEncoder:
    """How raw features become a finite matrix: fills of missing numbers, category vocabularies."""

    fills: dict[str, float]
    vocab: dict[str, list[str]]

    @classmethod
    def learn(cls, raw: pd.DataFrame) -> FeatureEncoder:
        fills = {}
        for f in (*NUMERIC_FEATURES, *CAMPAIGN_FEATURES):
            v = pd.to_numeric(raw[f], errors="coerce")
            med = float(v.median()) if v.notna().any() else 0.0
            fills[f] = med
        vocab = {
            f: sorted(raw[f].dropna().astype(str).unique().tolist())
            for f in (*CATEGORICAL_FEATURES, *CAMPAIGN_LABELS)
        }
        return cls(fills, vocab)

    @property
    def names(self) -> list[str]:
        numeric = [*NUMERIC_FEATURES, *CAMPAIGN_FEATURES]
        missing = [f"{f}_missing" for f in NUMERIC_FEATURES]
        cats = [f"{f}={v}" for f, values in self.vocab.items() for v in values]
        return [*numeric, *missing, *cats]

    def transform(self, raw: pd.DataFrame) -> NDArray[np.float64]:
        cols: list[NDArray[np.float64]] = []
        for f in (*NUMERIC_FEATURES, *CAMPAIGN_FEATURES):
            v = pd.to_numeric(raw[f], errors="coerce").to_numpy(dtype=np.float64)
            v = np.where(np.isnan(v), self.fills.get(f, 0.0), v)
            cols.append(np.log1p(np.maximum(v, 0.0)) if f in LOG_FEATURES else v)
        for f in NUMERIC_FEATURES:
            missing = pd.to_numeric(raw[f], errors="coerce").isna()
            cols.append(np.asarray(missing, dtype=np.float64))
        for f, values in self.vocab.items():
            labels = raw[f].astype("string").fillna("")
            for value in values:
                cols.append(np.asarray(labels == value, dtype=np.float64))
        if not cols or len(raw) == 0:
            return np.zeros((len(raw), len(self.names)))
        return np.column_stack(cols)

    def to_dict(self) -> dict[str, Any]:
        return {"fills": self.fills, "vocab": self.vocab}


# ---- fitting -----------------------------------------------------------------------------------------
@dataclass
class CampaignModels:
    """The fitted response models of both arms, their encoder and what was measured."""

    treated: Any
    control: Any
    encoder: FeatureEncoder
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def predict(self, raw: pd.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``p_control, p_treated`` of raw feature rows."""
        X = self.encoder.transform(raw)
        if len(X) == 0:
            return np.zeros(0), np.zeros(0)
        pc, pt = self.control.predict_proba(X), self.treated.predict_proba(X)
        scales = self.meta.get("campaign_scales") or {}
        if scales and "campaign_id" in raw.columns:
            cids = raw["campaign_id"].astype(str)
            sc = cids.map(lambda c: scales.get(c, [1.0, 1.0])[0]).to_numpy(dtype=np.float64)
            st = cids.map(lambda c: scales.get(c, [1.0, 1.0])[1]).to_numpy(dtype=np.float64)
            pc, pt = np.clip(pc * sc, 0.0, 1.0), np.clip(pt * st, 0.0, 1.0)
        return pc, pt

    def summary(self) -> dict[str, Any]:
        keys = ("version", "rows", "treated_rows", "control_rows", "campaigns", "holdout")
        return {k: self.meta.get(k) for k in keys} | {"path": str(self.path) if self.path else None}


#: the base classifiers' settings: a shop logs a few hundred to a few thousand exposures per
#: arm, where a regularised logistic regression with Platt calibration planned better against the
#: planted truth of the demo shop than LightGBM or isotonic calibration (docs/campaigns.md)
BASE_SETTINGS: dict[str, Any] = {"base_model": "logistic", "C": 0.3, "calibration": "sigmoid"}


def _fit_arms(
    X: NDArray[np.float64],
    t: NDArray[np.int64],
    y: NDArray[np.float64],
    seed: int,
    settings: Mapping[str, Any] | None = None,
) -> tuple[Any, Any]:
    from campaignrec.campaigns.response import ResponseModel

    models = []
    for arm in (1, 0):
        rows = t == arm
        yy = y[rows]
        if rows.sum() < MIN_ROWS_PER_ARM or yy.sum() < 2 or yy.sum() > len(yy) - 2:
            raise ValidationError(
                "events",
                f"too few logged {'shown' if arm else 'held-out'} exposures with and without "
                f"a response to learn from ({int(rows.sum())} rows, {int(yy.sum())} responses)",
                hint="log a control holdout on campaign impressions (variant=control)",
            )
        base = dict(BASE_SETTINGS if settings is None else settings)
        models.append(ResponseModel(random_state=seed + arm, **base).fit(X[rows], yy))
    return models[0], models[1]


#: pseudo-exposures that shrink a campaign's rescaling towards none (few logged exposures)
SCALE_PRIOR = 50.0


def campaign_scales(
    treated: Any,
    control: Any,
    X: NDArray[np.float64],
    t: NDArray[np.int64],
    y: NDArray[np.float64],
    campaign_ids: NDArray[np.object_],
) -> dict[str, list[float]]:
    """Per campaign, ``[control, treated]`` factors that bring the pooled models' mean
    predictions to the campaign's logged response rate in each arm, shrunk towards 1 with
    :data:`SCALE_PRIOR` pseudo-exposures (the pooled models share strength across campaigns;
    this keeps each campaign's own level, which the plan's costs depend on)."""
    out: dict[str, list[float]] = {}
    for cid in sorted(set(campaign_ids.tolist())):
        factors = []
        for arm, model in ((0, control), (1, treated)):
            rows = (campaign_ids == cid) & (t == arm)
            if not rows.any():
                factors.append(1.0)
                continue
            pred = model.predict_proba(X[rows])
            m = float(pred.mean())
            num = float(y[rows].sum()) + SCALE_PRIOR * m
            den = float(pred.sum()) + SCALE_PRIOR * m
            factors.append(num / den if den > 0 else 1.0)
        out[str(cid)] = factors
    return out


def _training_rows(
    store: Any, catalog: Catalog, items: pd.DataFrame, now: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    from campaignrec.pipeline.profiles import all_attributes

    events = store.read_table("events", columns=OUTCOME_EVENT_COLUMNS)
    out = exposure_outcomes(events, catalog, items)
    if out.empty or out["treated"].nunique() < 2:
        raise ValidationError(
            "events",
            "no logged campaign exposures with both shown and held-out (control) shoppers",
            hint="log campaign impressions with variant=treatment / variant=control",
        )
    attrs = all_attributes(store, now)
    out = out.assign(user_id=out["user_id"].astype(str))
    allowed = {u for u, a in attrs.items() if personalisation_allowed(a)}
    out = out[out["user_id"].isin(allowed)].reset_index(drop=True)
    parts = []
    for cid, rows in out.groupby("campaign_id", sort=True):
        c = catalog.get(str(cid))
        feats = raw_features(rows["user_id"].tolist(), attrs, c, campaign_tops(c, items))
        parts.append(feats.set_index(rows.index))
    raw = pd.concat(parts).sort_index() if parts else pd.DataFrame()
    return out, raw


def fit_campaign_models(
    store: Any,
    directory: Path,
    *,
    now: datetime | None = None,
    seed: int = 0,
    holdout_fraction: float = 0.3,
    settings: Mapping[str, Any] | None = None,
) -> CampaignModels:
    """Fit the response (shown) and no-offer (held-out) models on the store's logged exposures,
    measure the uplift ranking on a held-out share, refit on everything and save under
    ``directory`` (a new version, then ``CURRENT``).

    Raises
    ------
    ValidationError
        No logged exposures with a control holdout, or too few responses in an arm.
    """
    from campaignrec.campaigns.uplift_metrics import qini_coefficient, uplift_at_k

    at = now or datetime.now(UTC)
    catalog = load_campaigns(store.read_table("campaigns"))
    items = store.read_table("items", columns=["item_id", "category"])
    out, raw = _training_rows(store, catalog, items, at)
    encoder = FeatureEncoder.learn(raw)
    X = encoder.transform(raw)
    t = out["treated"].to_numpy(np.int64)
    y = out["outcome"].to_numpy(np.float64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(out), dtype=bool)
    for arm in (0, 1):  # stratified by arm
        idx = rng.permutation(np.flatnonzero(t == arm))
        test[idx[: round(holdout_fraction * len(idx))]] = True
    holdout: dict[str, Any] = {"rows": int(test.sum())}
    try:
        tr_t, tr_c = _fit_arms(X[~test], t[~test], y[~test], seed, settings)
    except ValidationError as exc:
        holdout["skipped"] = exc.message
    else:
        score = tr_t.predict_proba(X[test]) - tr_c.predict_proba(X[test])
        noise = rng.random(int(test.sum()))
        holdout |= {
            "qini": float(qini_coefficient(score, t[test], y[test])),
            "qini_random": float(qini_coefficient(noise, t[test], y[test])),
            "uplift_at_30": float(uplift_at_k(score, t[test], y[test], k=0.3)),
            "uplift_at_30_random": float(uplift_at_k(noise, t[test], y[test], k=0.3)),
        }
    treated, control = _fit_arms(X, t, y, seed, settings)
    scales = campaign_scales(
        treated, control, X, t, y, out["campaign_id"].astype(str).to_numpy(dtype=object)
    )
    version = at.strftime("%Y%m%dT%H%M%S%fZ")
    meta = {
        "version": version,
        "created": datetime.now(UTC).isoformat(),
        "learner": "two calibrated response models (T-learner)",
        "base": dict(BASE_SETTINGS if settings is None else settings),
        "rows": len(out),
        "treated_rows": int(t.sum()),
        "control_rows": int((t == 0).sum()),
        "campaigns": sorted(out["campaign_id"].astype(str).unique().tolist()),
        "features": encoder.names,
        "encoder": encoder.to_dict(),
        "holdout": holdout,
        "campaign_scales": scales,
    }
    models = CampaignModels(treated, control, encoder, meta)
    models.path = save_campaign_models(models, directory)
    return models


def save_campaign_models(models: CampaignModels, directory: Path) -> Path:
    """Write the models as ``<directory>/<version>/`` and point ``CURRENT`` at it."""
    root = Path(directory)
    folder = root / str(models.meta["version"])
    models.treated.save(folder / "treated")
    models.control.save(folder / "control")
    (folder / "meta.json").write_text(
        json.dumps(models.meta, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    tmp = root / f"{CURRENT}.tmp"
    tmp.write_text(folder.name, encoding="utf-8")
    os.replace(tmp, root / CURRENT)  # readers see the old version or the new one
    return folder


def load_campaign_models(directory: Path) -> CampaignModels | None:
    """The campaign models in use under ``directory``, or None when none were fitted."""
    from campaignrec.campaigns.response import ResponseModel

    folder = current_models(directory)
    if folder is None:
        return None
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    enc = meta.get("encoder") or {}
    encoder = FeatureEncoder(dict(enc.get("fills", {})), dict(enc.get("vocab", {})))
    return CampaignModels(
        ResponseModel.load(folder / "treated"),
        ResponseModel.load(folder / "control"),
        encoder,
        meta,
        folder,
    )


def uplift_estimates(
    models: CampaignModels,
    campaign: Campaign,
    user_ids: list[str],
    attrs: Mapping[str, Mapping[str, Any]],
    items: pd.DataFrame | None,
) -> pd.DataFrame:
    """``user_id, p_control, p_treated`` of ``campaign`` for ``user_ids`` from the models; a
    shopper without personalisation consent gets the average of the others."""
    if not user_ids:
        raise CampaignrecError("no shoppers to estimate", hint="check the campaign's audience")
    raw = raw_features(user_ids, attrs, campaign, campaign_tops(campaign, items))
    pc, pt = models.predict(raw)
    ok = np.array([personalisation_allowed(attrs.get(u, {})) for u in user_ids], dtype=bool)
    if ok.any() and (~ok).any():
        pc[~ok], pt[~ok] = pc[ok].mean(), pt[ok].mean()
    return pd.DataFrame({"user_id": user_ids, "p_control": pc, "p_treated": pt})


def source_label(models: CampaignModels) -> str:
    """How a plan names these estimates."""
    h = models.meta.get("holdout", {})
    q = h.get("qini")
    fig = (
        f"; held-out Qini {q:.4f} vs random {h.get('qini_random', 0.0):.4f}"
        if q is not None
        else ""
    )
    return (
        f"uplift model fitted on the store's logged exposures (version {models.meta.get('version')}, "
        f"{models.meta.get('rows', 0):,} exposures{fig})"
    )
