"""Campaign steps over a shop's store: the catalog, one shopper's eligibility, and the plan of a
campaign before launch (audience, fallback response estimates when no uplift file is given).

Faces call these and print what they return; nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from campaignrec.campaigns.allocation import plan_campaign
from campaignrec.campaigns.audience import audience_of
from campaignrec.campaigns.catalog import Catalog, load_campaigns
from campaignrec.campaigns.eligibility import EligibilityResult, explain_eligibility
from campaignrec.campaigns.exposures import exposure_outcomes, segment_response_rates
from campaignrec.campaigns.fairness import protected_fields_used, selection_rates
from campaignrec.data.schema import Campaign
from campaignrec.errors import UnknownIdError, ValidationError
from campaignrec.pipeline.profiles import all_attributes, profile_attributes_for
from campaignrec.pipeline.uplift import (
    OUTCOME_EVENT_COLUMNS,
    load_campaign_models,
    source_label,
    uplift_estimates,
)
from campaignrec.privacy.consent import personalisation_allowed
from campaignrec.store.protocols import TableReader

FALLBACK_LABEL = "fallback: logged response rates per segment"
#: The fallback's group of shoppers who withheld personalisation consent (no profile segment).
NO_CONSENT_GROUP = "(no personalisation consent)"


def load_catalog(store: TableReader) -> Catalog:
    """Every campaign of the store."""
    return load_campaigns(store.read_table("campaigns"))


def check_eligibility(
    store: Any, campaign_id: str, user_id: str, now: datetime, open_state: Callable[[], Any]
) -> EligibilityResult:
    """Is ``user_id`` eligible for ``campaign_id`` at ``now``, and which conditions fail.

    ``open_state`` opens the online state (budgets, caps, exposures) once the campaign and the
    user are known.

    Raises
    ------
    UnknownIdError
        The campaign or the user is not in the store.
    """
    campaign = load_catalog(store).get(campaign_id)
    attrs = profile_attributes_for(store, user_id, now=now)
    if attrs is None:
        raise UnknownIdError("user", user_id, hint="`campaignrec stats` shows what the store holds")
    return explain_eligibility(attrs, campaign, now, open_state(), user_id=user_id)


@dataclass(frozen=True)
class PlanResult:
    """A campaign's plan: the campaign, its audience size, the plan (``to_dict`` shape, with
    ``audience_size``) and where the response estimates came from; ``recipients``: the users the
    uplift strategy selects with their expected incremental profit (``user_id``, ``value``), and
    ``attributes``: the audience attributes the plan read (push planning reuses both)."""

    campaign: Campaign
    audience_size: int
    plan: dict[str, Any]
    source: str
    recipients: pd.DataFrame | None = None
    attributes: dict[str, dict[str, Any]] | None = None


def plan_for(
    store: Any,
    campaign_id: str,
    *,
    now: datetime,
    uplift: Path | None = None,
    segment_field: str = "segment",
    order_value: float = 50.0,
    margin_rate: float = 0.3,
    objective: Literal["profit", "conversions"] = "profit",
    draft: Campaign | None = None,
    models_dir: Path | None = None,
) -> PlanResult:
    """Audience size, expected cost, incremental conversions and ROI of ``campaign_id``.

    Uses the uplift estimates of the ``uplift`` file when given; else the campaign models fitted
    on the store's logged exposures under ``models_dir`` (:mod:`campaignrec.pipeline.uplift`;
    ``campaignrec uplift --from-store``) when there are some; otherwise the logged response
    rates with and without the offer per ``segment_field`` (:func:`fallback_estimates`).
    ``draft``: plan this campaign (not stored, or changed) in place of the stored one of its id.
    """
    cat = load_catalog(store)
    if draft is not None:
        campaign_id = draft.campaign_id
        cat = Catalog((*(c for c in cat if c.campaign_id != campaign_id), draft))
    c = cat.get(campaign_id)
    attrs = all_attributes(store, now)
    aud = audience_of(c, attrs)
    if not aud:
        raise ValidationError(
            "audience",
            f"campaign '{campaign_id}' reaches nobody",
            hint=f"check its rule with `campaigns check USER {campaign_id}`",
        )
    if uplift is not None:
        est = read_uplift(uplift, campaign_id)
        frame = pd.DataFrame({"user_id": aud}).merge(est, on="user_id", how="inner")
        source = f"uplift estimates from {uplift.name}"
        if frame.empty:
            raise ValidationError(
                "--uplift", "no estimates for the campaign's audience", value=str(uplift)
            )
    elif models_dir is not None and (models := load_campaign_models(models_dir)) is not None:
        items = store.read_table("items", columns=["item_id", "category"])
        frame = uplift_estimates(models, c, aud, attrs, items)
        source = source_label(models)
    else:
        frame, source = fallback_estimates(store, cat, campaign_id, aud, attrs, segment_field)
    plan = plan_campaign(
        c,
        frame,
        order_value=order_value,
        margin_rate=margin_rate,
        objective=objective,
        uplift_source=source,
    )
    out = plan.to_dict()
    out["audience_size"] = len(aud)
    out["protected_attributes_used"] = protected_fields_used(c)
    out["selection_rates"] = selection_rates(aud, attrs).to_dict("records")
    recipients = pd.DataFrame({"user_id": plan.selected.astype(str), "value": plan.selected_value})
    return PlanResult(
        campaign=c,
        audience_size=len(aud),
        plan=out,
        source=source,
        recipients=recipients,
        attributes=attrs,
    )


PLAN_FILE = "plan.json"
RECIPIENTS_FILE = "recipients.parquet"


def save_plan(result: PlanResult, out: Path) -> Path:
    """Write ``<out>/plan.json`` (the ``--json`` object) and ``<out>/recipients.parquet``
    (``user_id, value`` of the shoppers the plan selects); returns ``out``."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    recipients = result.recipients
    if recipients is None:
        recipients = pd.DataFrame({"user_id": pd.Series(dtype=str), "value": []})
    recipients.to_parquet(out / RECIPIENTS_FILE, index=False)
    (out / PLAN_FILE).write_text(
        json.dumps(result.plan, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    return out


def read_uplift(path: Path, campaign_id: str) -> pd.DataFrame:
    """``user_id, p_control, p_treated`` of ``campaign_id`` from a CSV or Parquet file of
    uplift estimates (``p_control`` + ``uplift`` is accepted for ``p_treated``)."""
    if not path.is_file():
        raise ValidationError("--uplift", "no such file", value=str(path))
    df = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    if "campaign_id" in df.columns:
        df = df[df["campaign_id"].astype(str) == campaign_id]
    if "p_treated" not in df.columns and {"p_control", "uplift"} <= set(df.columns):
        df = df.assign(p_treated=df["p_control"] + df["uplift"])
    for col in ("user_id", "p_control", "p_treated"):
        if col not in df.columns:
            raise ValidationError(
                col,
                "the uplift file needs this column",
                value=str(path),
                hint="columns: user_id, p_control, p_treated (or uplift)",
            )
    return df[["user_id", "p_control", "p_treated"]].assign(
        user_id=lambda d: d["user_id"].astype(str)
    )


def fallback_estimates(
    store: Any,
    cat: Catalog,
    campaign_id: str,
    aud: list[str],
    attrs: dict[str, dict[str, Any]],
    segment_field: str,
) -> tuple[pd.DataFrame, str]:
    """Response probabilities with and without the offer for every audience member: the logged
    rates of their segment, shrunk towards the campaign's overall rates (all campaigns' when
    this one has no logged exposures); returns the frame and a label naming the source."""
    events = store.read_table("events", columns=OUTCOME_EVENT_COLUMNS)
    items = store.read_table("items", columns=["item_id", "category"])
    out = exposure_outcomes(events, cat, items)
    if out.empty or out["treated"].nunique() < 2:
        raise ValidationError(
            "events",
            "no logged exposures with both shown and held-out (control) users",
            hint="pass --uplift FILE with model estimates, or log a control holdout",
        )
    if not any(a.get(segment_field) is not None for a in attrs.values()):
        segment_field = "membership_tier"  # no profiles yet: a field every shop has
    seg = {u: segment_group(a, segment_field) for u, a in attrs.items()}
    return estimates_from_outcomes(out, campaign_id, aud, seg, segment_field)


def segment_group(attrs: Mapping[str, Any], segment_field: str) -> str:
    """The group a shopper's response rates come from in the fallback: their ``segment_field``
    value as text, or the no-consent group (a shopper who withheld personalisation consent is
    estimated from the campaign's overall rates, never from their profile's segment)."""
    return str(attrs.get(segment_field)) if personalisation_allowed(attrs) else NO_CONSENT_GROUP


def estimates_from_outcomes(
    out: pd.DataFrame,
    campaign_id: str,
    aud: list[str],
    seg: dict[str, str],
    segment_field: str,
) -> tuple[pd.DataFrame, str]:
    """The fallback's estimates from the logged exposures ``out`` (:func:`exposure_outcomes`)
    and each shopper's group ``seg`` (:func:`segment_group`; at least the exposed and the
    audience); returns the frame of ``aud`` and the label naming the source."""
    rates = fallback_rates(out, campaign_id, seg, segment_field)
    return rates.estimates(aud, [seg.get(u, "None") for u in aud]), rates.label


@dataclass(frozen=True)
class FallbackRates:
    """The fallback's response rates: per group (index ``segment``: ``p_control``,
    ``p_treated``), the overall rates of a group not logged, and the label of the source."""

    by_segment: pd.DataFrame
    overall_control: float
    overall_treated: float
    label: str

    def estimates(self, users: list[str], groups: list[str]) -> pd.DataFrame:
        """``user_id, p_control, p_treated`` of ``users`` in ``groups`` (one group each)."""
        s = pd.Series(groups, dtype=object)
        return pd.DataFrame(
            {
                "user_id": users,
                "p_control": s.map(self.by_segment["p_control"])
                .fillna(self.overall_control)
                .to_numpy(float),
                "p_treated": s.map(self.by_segment["p_treated"])
                .fillna(self.overall_treated)
                .to_numpy(float),
            }
        )


def fallback_rates(
    out: pd.DataFrame, campaign_id: str, seg: dict[str, str], segment_field: str
) -> FallbackRates:
    """Response rates per group of ``campaign_id`` from the logged exposures (all campaigns'
    when this one has none), shrunk towards the campaign's (:func:`segment_response_rates`)."""
    scope = "this campaign"
    if not (out["campaign_id"] == campaign_id).any():
        out = out.assign(campaign_id=campaign_id)
        scope = "all campaigns (none logged for this one)"
    rates = segment_response_rates(out[out["campaign_id"] == campaign_id], seg)
    by_seg = rates.set_index("segment")
    return FallbackRates(
        by_segment=by_seg[["p_control", "p_treated"]],
        overall_control=float(by_seg["p_control"].mean()),
        overall_treated=float(by_seg["p_treated"].mean()),
        label=f"{FALLBACK_LABEL} '{segment_field}' ({scope}; not an uplift model)",
    )
