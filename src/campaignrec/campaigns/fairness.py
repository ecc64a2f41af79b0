"""Protected attributes in campaign audiences, and selection rates by group.

A campaign's audience should not select on a protected attribute (gender, age) unless the
campaign is about it (a women's-wear launch); :func:`protected_fields_used` names the protected
fields an audience rule reads, and :func:`check_protected_use` refuses a rule that reads one the
campaign did not declare. Whether or not a rule reads them, :func:`selection_rates` reports, per
group of each field, the share of that group's shoppers the audience selects and its ratio to
the most-selected group (the "four-fifths" comparison of disparate impact: a ratio below 0.8 is
worth a look).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from campaignrec.data.rules import PROTECTED_ATTRIBUTES, rule_fields, undeclared_protected
from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError

DEFAULT_GROUP_FIELDS = ("gender", "age_band", "region")


def protected_fields_used(
    campaign: Campaign, protected: Iterable[str] = PROTECTED_ATTRIBUTES
) -> list[str]:
    """The protected attributes the campaign's audience rule reads (sorted)."""
    return sorted(rule_fields(campaign.audience) & set(protected))


def check_protected_use(
    campaign: Campaign,
    declared: Iterable[str] | None = None,
    protected: Iterable[str] = PROTECTED_ATTRIBUTES,
) -> None:
    """``ValidationError`` (field ``audience``) when the audience reads a protected attribute
    the campaign does not declare.

    ``declared`` defaults to the campaign's own ``protected_attributes``; ``protected`` is the
    configured list (the ``protected_attributes`` setting). Every save of a campaign (API,
    console, ``campaignrec import campaigns``) runs this check.
    """
    names = campaign.protected_attributes if declared is None else declared
    undeclared = undeclared_protected(campaign.audience, names, protected)
    if undeclared:
        raise ValidationError(
            "audience",
            f"campaign '{campaign.campaign_id}' selects on protected attribute(s) "
            f"{', '.join(undeclared)} without declaring them",
            hint="drop them from the rule, or list them in protected_attributes with a "
            "protected_reason when the campaign is about them",
        )


def selection_rates(
    audience: Iterable[str],
    attributes: Mapping[str, Mapping[str, Any]],
    fields: Sequence[str] = DEFAULT_GROUP_FIELDS,
) -> pd.DataFrame:
    """Per field and group: shoppers, selected, selection rate and its ratio to the highest.

    Shoppers without a value form the group ``(unknown)``; fields nobody has are left out.
    """
    chosen = {str(u) for u in audience}
    rows: list[dict[str, Any]] = []
    for f in fields:
        values = {u: a.get(f) for u, a in attributes.items()}
        if all(v is None for v in values.values()):
            continue
        groups = pd.Series(
            ["(unknown)" if v is None else str(v) for v in values.values()], index=list(values)
        )
        picked = pd.Series([u in chosen for u in values], index=list(values))
        table = pd.DataFrame({"group": groups, "selected": picked}).groupby("group")["selected"]
        summary = pd.DataFrame({"shoppers": table.size(), "selected": table.sum()}).reset_index()
        summary["rate"] = summary["selected"] / summary["shoppers"]
        top = float(summary["rate"].max())
        summary["ratio_to_max"] = summary["rate"] / top if top > 0 else float("nan")
        for r in summary.to_dict("records"):
            rows.append({"field": f, **{str(k): v for k, v in r.items()}})
    columns = ["field", "group", "shoppers", "selected", "rate", "ratio_to_max"]
    return pd.DataFrame(rows, columns=columns)


__all__ = [
    "DEFAULT_GROUP_FIELDS",
    "PROTECTED_ATTRIBUTES",
    "check_protected_use",
    "protected_fields_used",
    "selection_rates",
]
