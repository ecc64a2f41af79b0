"""Campaign planning for every shopper on Spark: ``campaigns plan CAMPAIGN_ID --engine spark``.

The local plan (:func:`campaignrec.pipeline.campaigns.plan_for`) reads every shopper's audience
attributes, keeps the campaign's audience, estimates each member's response with and without the
offer, and allocates the budget greedily (:func:`campaignrec.campaigns.allocation.plan_campaign`).
Here the per-shopper work runs in partitions, with the local functions:

- the audience attributes (:func:`~campaignrec.campaigns.audience.base_attributes` from the users
  table and the events up to ``now``, under the store's profile attributes,
  :func:`~campaignrec.campaigns.audience.merge_attributes`) of one bucket of users at a time;
- eligibility (:func:`~campaignrec.campaigns.audience.audience_of`) and the group the fallback
  reads (:func:`~campaignrec.pipeline.campaigns.segment_group`);
- the scores: ``p_control``, ``p_treated`` (the group's logged rates, or the ``--uplift`` file
  joined), and the expected value and cost of the coupon
  (:func:`~campaignrec.campaigns.allocation.expected_value_and_cost`), written as a Parquet
  dataset ``<out>/scores/``.

On the driver: the logged exposures' outcomes (:func:`~campaignrec.campaigns.exposures.
exposure_outcomes` over the impression and purchase events only) and the rates per group; then
the audience's scores are collected, in the local order of the shoppers, and the budgeted greedy
allocation runs on them, so the plan and the recipients are the local ones. Selection rates per
group (fairness) are counted on Spark.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from campaignrec.campaigns.allocation import expected_value_and_cost, plan_campaign
from campaignrec.campaigns.audience import audience_of, base_attributes, merge_attributes
from campaignrec.campaigns.exposures import exposure_outcomes
from campaignrec.campaigns.fairness import DEFAULT_GROUP_FIELDS, protected_fields_used
from campaignrec.data.schema import TIMESTAMP, USER_ID
from campaignrec.engines.spark.io import FILE_COL, ROW_COL
from campaignrec.errors import ValidationError
from campaignrec.pipeline.campaigns import (
    OUTCOME_EVENT_COLUMNS,
    PlanResult,
    fallback_rates,
    load_catalog,
    read_uplift,
    save_plan,
    segment_group,
)

_BUCKET = "__bucket"
_PROFILE = "__profile"  # the profile attributes of a shopper, as JSON text
_PROFILE_ROW = "__profile_row"
_IN_USERS = "__in_users"
SCORES_DIR = "scores"
_ATTR_DDL = (
    f"{USER_ID} string, o1 int, o2 string, o3 long, eligible boolean, "
    "group_field string, group_tier string, has_field boolean, "
    + ", ".join(f"g_{f} string" for f in DEFAULT_GROUP_FIELDS)
)


def profile_attributes_frame(store: Any) -> pd.DataFrame:
    """The store's profile attributes, one row per shopper: ``user_id``, the attributes as JSON
    text (as the store keeps them: data, never code, on the executors) and their order (they reach the executors through the driver: no shared file system)."""
    from campaignrec.store.profiles import ProfileRepository

    profiles = ProfileRepository(store).all()
    return pd.DataFrame(
        {
            USER_ID: pd.Series([str(u) for u in profiles], dtype=object),
            _PROFILE: pd.Series([json.dumps(dict(a)) for a in profiles.values()], dtype=object),
            _PROFILE_ROW: np.arange(len(profiles), dtype=np.int64),
        }
    )


def _users_frame(b: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The bucket's users-table rows in file order, as the store's ``users`` table holds them."""
    users = b[b[_IN_USERS].fillna(False).astype(bool)].sort_values([FILE_COL, ROW_COL])
    users = users[columns].reset_index(drop=True)
    if "attributes" in users.columns:  # JSON text on Spark, a mapping in the store
        users["attributes"] = [
            json.loads(v) if isinstance(v, str) else v for v in users["attributes"]
        ]
    return users


def _attributes_job(
    campaign: Any,
    items: pd.DataFrame | None,
    now: datetime,
    segment_field: str,
    user_columns: list[str],
) -> Any:
    def run(events: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
        users = _users_frame(people, user_columns)
        base = base_attributes(users, events, items, now=now)
        prof_rows = people[people[_PROFILE].notna()].sort_values(_PROFILE_ROW)
        profiles = {
            str(u): json.loads(p)
            for u, p in zip(prof_rows[USER_ID], prof_rows[_PROFILE], strict=True)
        }
        attrs = merge_attributes(base, profiles or None)
        eligible = set(audience_of(campaign, attrs))
        in_users = people[people[_IN_USERS].fillna(False).astype(bool)]
        order = {
            str(u): (0, str(f), int(r))
            for u, f, r in zip(
                in_users[USER_ID], in_users[FILE_COL], in_users[ROW_COL], strict=True
            )
        }
        prow = dict(zip(prof_rows[USER_ID].astype(str), prof_rows[_PROFILE_ROW], strict=True))
        rows = []
        for u, a in attrs.items():
            o = order.get(u, (1, "", int(prow.get(u, 0))))
            groups = {
                f"g_{f}": "(unknown)" if a.get(f) is None else str(a.get(f))
                for f in DEFAULT_GROUP_FIELDS
            }
            rows.append(
                {
                    USER_ID: u,
                    "o1": o[0],
                    "o2": o[1],
                    "o3": o[2],
                    "eligible": u in eligible,
                    "group_field": segment_group(a, segment_field),
                    "group_tier": segment_group(a, "membership_tier"),
                    "has_field": a.get(segment_field) is not None,
                    **groups,
                }
            )
        cols = [c.split()[0] for c in _ATTR_DDL.split(", ")]
        return pd.DataFrame(rows, columns=cols)

    return run


def spark_audience(
    spark: Any,
    shop: Any,
    profiles: pd.DataFrame,
    campaign: Any,
    now: datetime,
    segment_field: str,
) -> Any:
    """One row per shopper (the users table and the stored profiles): order keys, eligibility,
    the fallback's groups and the fairness groups; computed per bucket of users."""
    from pyspark.sql import functions as F

    from campaignrec.engines.spark.profiles import catalogue, n_buckets

    items = catalogue(shop)
    if items is not None:
        items = items[[c for c in ("item_id", "category") if c in items.columns]]
    ev = shop.events.valid
    ev = ev.where(F.col(TIMESTAMP) <= F.lit(pd.Timestamp(now).to_pydatetime()))
    ev = ev.select(*[c for c in (USER_ID, "event_type", "item_id", TIMESTAMP) if c in ev.columns])
    users = (
        shop.users.valid
        if shop.users is not None
        else spark.createDataFrame([], f"{USER_ID} string, {FILE_COL} string, {ROW_COL} long")
    )
    user_columns = [c for c in users.columns if c not in (FILE_COL, ROW_COL)]
    users = users.withColumn(_IN_USERS, F.lit(True))
    prof = spark.createDataFrame(
        profiles, f"{USER_ID} string, {_PROFILE} binary, {_PROFILE_ROW} long"
    )
    people = users.join(prof, USER_ID, "full_outer")
    b = n_buckets(spark, ev.count())
    ev = ev.withColumn(_BUCKET, F.pmod(F.xxhash64(USER_ID), F.lit(b)))
    people = people.withColumn(_BUCKET, F.pmod(F.xxhash64(USER_ID), F.lit(b)))
    job = _attributes_job(campaign, items, now, segment_field, user_columns)
    return ev.groupBy(_BUCKET).cogroup(people.groupBy(_BUCKET)).applyInPandas(job, _ATTR_DDL)


def _selection_rates(audience: Any) -> list[dict[str, Any]]:
    """:func:`campaignrec.campaigns.fairness.selection_rates` counted on Spark."""
    from pyspark.sql import functions as F

    rows: list[dict[str, Any]] = []
    for f in DEFAULT_GROUP_FIELDS:
        t = (
            audience.groupBy(f"g_{f}")
            .agg(
                F.count(F.lit(1)).alias("shoppers"),
                F.sum(F.col("eligible").cast("long")).alias("selected"),
            )
            .toPandas()
            .rename(columns={f"g_{f}": "group"})
        )
        if set(t["group"]) <= {"(unknown)"}:
            continue
        t = t.sort_values("group").reset_index(drop=True)
        t["rate"] = t["selected"] / t["shoppers"]
        top = float(t["rate"].max())
        t["ratio_to_max"] = t["rate"] / top if top > 0 else float("nan")
        for r in t.to_dict("records"):
            rows.append({"field": f, **{str(k): v for k, v in r.items()}})
    return rows


def _scores_job(
    campaign: Any, rates: Any, use_field: bool, order_value: float, margin_rate: float
) -> Any:
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            if rates is not None:
                groups = (b["group_field"] if use_field else b["group_tier"]).astype(str).tolist()
                est = rates.estimates(b[USER_ID].astype(str).tolist(), groups)
                pc, pt = est["p_control"].to_numpy(float), est["p_treated"].to_numpy(float)
            else:
                pc, pt = b["p_control"].to_numpy(float), b["p_treated"].to_numpy(float)
            value, cost = _value_and_cost(campaign, pc, pt, order_value, margin_rate)
            yield pd.DataFrame(
                {
                    USER_ID: b[USER_ID].astype(str).to_numpy(),
                    "o1": b["o1"],
                    "o2": b["o2"],
                    "o3": b["o3"],
                    "o4": b["o4"],
                    "p_control": pc,
                    "p_treated": pt,
                    "value": value,
                    "cost": cost,
                }
            )

    return run


def _value_and_cost(
    campaign: Any, pc: np.ndarray, pt: np.ndarray, order_value: float, margin_rate: float
) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`plan_campaign` computes per shopper (its discount rule, a scalar order value)."""
    n = len(pc)
    ov = np.full(n, float(order_value))
    kind = getattr(campaign, "discount_type", "none")
    if kind == "percent":
        discount = campaign.discount_value / 100.0 * ov
    elif kind == "amount":
        discount = np.full(n, float(campaign.discount_value))
    else:
        discount = np.zeros(n)
    return expected_value_and_cost(pc, pt, margin_rate * ov, campaign.cost_per_redemption, discount)


def plan_campaign_spark(
    spark: Any,
    store: Any,
    shop: Any,
    campaign_id: str,
    out: Path,
    *,
    now: datetime,
    uplift: Path | None = None,
    segment_field: str = "segment",
    order_value: float = 50.0,
    margin_rate: float = 0.3,
    objective: Literal["profit", "conversions"] = "profit",
) -> PlanResult:
    """The local plan of ``campaign_id`` for every shopper, with the per-shopper work on Spark.

    Writes ``<out>/scores/`` (every audience member: ``user_id, p_control, p_treated, value,
    cost``), ``<out>/recipients.parquet`` (the shoppers the plan selects, ``user_id, value``) and
    ``<out>/plan.json`` (what ``campaigns plan --json`` prints). Returns the
    :class:`~campaignrec.pipeline.campaigns.PlanResult` of the local function (``attributes``:
    None, they stay on the cluster).
    """
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from campaignrec.engines.spark.profiles import catalogue

    c = load_catalog(store).get(campaign_id)
    cat = load_catalog(store)
    people = spark_audience(spark, shop, profile_attributes_frame(store), c, now, segment_field)
    people = people.persist(StorageLevel.MEMORY_AND_DISK)
    aud_df = people.where(F.col("eligible"))
    audience_size = aud_df.count()
    if audience_size == 0:
        people.unpersist()
        raise ValidationError(
            "audience",
            f"campaign '{campaign_id}' reaches nobody",
            hint=f"check its rule with `campaigns check USER {campaign_id}`",
        )
    rates = None
    use_field = True
    if uplift is not None:
        est = read_uplift(uplift, campaign_id).reset_index(drop=True)
        est["o4"] = np.arange(len(est), dtype=np.int64)
        scored_in = aud_df.join(spark.createDataFrame(est), USER_ID, "inner")
        source = f"uplift estimates from {uplift.name}"
    else:
        kinds = ("campaign_impression", "purchase")
        ev = shop.events.valid.where(F.col("event_type").isin(*kinds))
        logged = ev.select(*[x for x in OUTCOME_EVENT_COLUMNS if x in ev.columns]).toPandas()
        logged[TIMESTAMP] = pd.to_datetime(logged[TIMESTAMP], utc=True)
        items = catalogue(shop)
        outcomes = exposure_outcomes(logged, cat, None if items is None else items)
        if outcomes.empty or outcomes["treated"].nunique() < 2:
            people.unpersist()
            raise ValidationError(
                "events",
                "no logged exposures with both shown and held-out (control) users",
                hint="pass --uplift FILE with model estimates, or log a control holdout",
            )
        use_field = people.where(F.col("has_field")).limit(1).count() > 0
        field = segment_field if use_field else "membership_tier"
        group = "group_field" if use_field else "group_tier"
        exposed = spark.createDataFrame(
            pd.DataFrame({USER_ID: sorted(set(outcomes[USER_ID].astype(str)))})
        )
        seg_rows = people.join(exposed, USER_ID, "inner").select(USER_ID, group).toPandas()
        seg = dict(zip(seg_rows[USER_ID], seg_rows[group], strict=True))
        rates = fallback_rates(outcomes, campaign_id, seg, field)
        source = rates.label
        scored_in = aud_df.withColumn("o4", F.lit(0).cast("long"))
    ddl = (
        f"{USER_ID} string, o1 int, o2 string, o3 long, o4 long, "
        "p_control double, p_treated double, value double, cost double"
    )
    scores = scored_in.mapInPandas(_scores_job(c, rates, use_field, order_value, margin_rate), ddl)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scores.write.mode("overwrite").parquet(str(out / SCORES_DIR))
    frame = (
        spark.read.parquet(str(out / SCORES_DIR))
        .toPandas()
        .sort_values(["o1", "o2", "o3", "o4"], kind="mergesort")
        .reset_index(drop=True)
    )
    if uplift is not None and frame.empty:
        people.unpersist()
        raise ValidationError(
            "--uplift", "no estimates for the campaign's audience", value=str(uplift)
        )
    plan = plan_campaign(
        c,
        frame[[USER_ID, "p_control", "p_treated"]],
        order_value=order_value,
        margin_rate=margin_rate,
        objective=objective,
        uplift_source=source,
    )
    result = plan.to_dict()
    result["audience_size"] = audience_size
    result["protected_attributes_used"] = protected_fields_used(c)
    result["selection_rates"] = _selection_rates(people)
    people.unpersist()
    recipients = pd.DataFrame({USER_ID: plan.selected.astype(str), "value": plan.selected_value})
    done = PlanResult(
        campaign=c,
        audience_size=audience_size,
        plan=result,
        source=source,
        recipients=recipients,
        attributes=None,
    )
    save_plan(done, out)
    return done
