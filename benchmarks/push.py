"""Benchmark: send time, fatigue caps and channel choice of push plans, on planted truth.

Send time: personalised send time against the best single fixed hour.

The synthetic shop plants a peak hour per shopper: 90 % of their sessions start at
``Normal(peak_hour, hour_sd of their type)`` (UTC), 10 % at a uniform hour
(``campaignrec.data.synthetic.plan``). The simulated response to a push sent in hour ``h`` is
proportional to the planted probability that the shopper is active in ``[h, h + 1)``::

    p_click(u, h) = base * 24 * (0.9 * P(Normal(peak_u, sd_u) mod 24 in [h, h + 1)) + 0.1 / 24)

(``base`` cancels in every ratio). The script

1. generates a shop and plans one push per shopper with :func:`campaignrec.push.plan.plan_pushes`
   from the shop's events only (no truth), with the default quiet hours 22:00-08:00 local and
   the default region -> time zone mapping;
2. scores the chosen hours with ``p_click``;
3. scores every single fixed local hour outside the quiet hours (the same hour for everyone, in
   their own zone) and keeps the best one (an oracle choice of the fixed hour, so the strongest
   fixed-hour baseline);
4. reports the ratio personalised / best fixed hour (the issue's target: >= 1.15), with the
   oracle per-shopper hour (best allowed hour by the truth) as the ceiling, the planner without
   shrinkage (``prior_events = 0``) and with the segment/shop pattern only
   (``prior_events = 1e9``), and the ratios for shoppers with thin (< 10 events) and longer
   histories.

Two more parts play pushes against the planted push response of
:mod:`campaignrec.data.synthetic.push` (channel responsiveness per shopper, fatigue: each push
in the trailing week lowers the next one's clicks and raises its opt-out probability; an ignored
push makes the next two days worse):

* **fatigue** (:func:`run_fatigue`): a campaign a day on 5 days of each of 4 weeks, each wanting
  every shopper; each policy plans campaign by campaign with the planner, seeing the earlier
  pushes (which were ignored) and who opted out; the truth answers. Policies: no caps, the
  default caps (1 a day, 3 a week) alone, the caps with the cool-down and the fatigue / opt-out
  risk terms (the defaults), and those terms without caps. The issue's target: caps cut
  opt-outs by >= 30 % for <= 5 % fewer clicks than no caps;
* **channels** (:func:`run_channels`): one campaign to every shopper, all consented to every
  channel, SMS to everyone against the planner's channel choice (value per cost, the default
  channel rates), and the choice with each shopper's rates estimated from 8 logged pushes on
  random channels; clicks per cost (the issue's target: channel choice beats SMS to everyone).

Usage::

    .venv/bin/python benchmarks/push.py [--users 2000] [--events 100000] [--seeds 0 1 2]
        [--weeks 4] [--per-week 5] [--past 8] [--only time fatigue channels]

Writes ``benchmarks/results/push.json`` (``push_fatigue_channels.json`` without ``time``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from campaignrec.campaigns.audience import base_attributes
from campaignrec.data.schema import Campaign
from campaignrec.data.synthetic import ShopConfig, generate_shop
from campaignrec.data.synthetic.push import active_mass, push_truth, simulate_pushes
from campaignrec.push.activity import activity_counts
from campaignrec.push.config import ChannelSpec, PushSettings
from campaignrec.push.plan import plan_pushes
from campaignrec.push.shoppers import allowed_channels, timezone_of

RESULTS = Path(__file__).resolve().parent / "results"


def run_seed(n_users: int, n_events: int, seed: int) -> dict[str, Any]:
    cfg = ShopConfig(n_users=n_users, n_events=n_events, seed=seed)
    shop = generate_shop(cfg)
    now = cfg.start + timedelta(days=cfg.days)
    truth = shop.truth.user_params.set_index("user_id")
    types = shop.truth.type_params.set_index("user_type")
    users = [u for u in shop.users["user_id"].astype(str) if u in truth.index]
    peak = truth.loc[users, "peak_hour"].to_numpy(float)
    sd = types.loc[truth.loc[users, "user_type"], "hour_sd"].to_numpy(float)
    mass = active_mass(peak, sd)  # (n, 24) UTC hours
    attrs = base_attributes(shop.users, now=now)
    campaign = Campaign(
        campaign_id="bench",
        name="bench",
        type="custom",
        start_time=now,
        end_time=now + timedelta(days=7),
    )
    channels = {"app_push": ChannelSpec(open_rate=0.1, cost=0.0001)}
    base = PushSettings(holdout_share=0.0, channels=channels, min_lead_minutes=0)
    tz = {u: timezone_of(attrs.get(u, {}), base) for u in users}
    events = shop.events[["user_id", "timestamp"]]
    activity = activity_counts(events, tz, base.default_timezone)
    n_events_by = events["user_id"].astype(str).value_counts().reindex(users).fillna(0).to_numpy()
    recipients = pd.DataFrame({"user_id": users, "value": 1.0})
    row = {u: i for i, u in enumerate(users)}

    def personalised(settings: PushSettings) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        plan = plan_pushes(recipients, attrs, activity, campaign, settings, now)
        took = time.perf_counter() - t0
        got = np.zeros(len(users))
        at = pd.to_datetime(plan.table["send_at_utc"], utc=True)
        for u, h in zip(plan.table["user_id"], at.dt.hour, strict=True):
            got[row[u]] = mass[row[u], int(h)]
        return got, took

    mine, took = personalised(base)
    no_shrink, _ = personalised(base.model_copy(update={"prior_events": 0.0}))
    pooled, _ = personalised(base.model_copy(update={"prior_events": 1e9}))
    # each shopper's UTC hour for every local hour, from their zone's offset on the first day
    offsets = np.array(
        [ZoneInfo(tz[u]).utcoffset(now.replace(tzinfo=None)).total_seconds() / 3600 for u in users]
    )
    allowed = [h for h in range(24) if not base.is_quiet(h * 60)]
    fixed = {}
    for h in allowed:
        utc_h = np.mod(np.round(h - offsets).astype(int), 24)
        fixed[h] = mass[np.arange(len(users)), utc_h]
    best_h = max(fixed, key=lambda h: fixed[h].sum())
    best_fixed = fixed[best_h]
    oracle = np.max(np.stack([fixed[h] for h in allowed]), axis=0)
    # every comparison is over the shoppers the planner may push (marketing consent); one it
    # leaves out (no positive value: possible without shrinkage) counts as no click
    reach = np.array([allowed_channels(attrs.get(u, {}), base) != () for u in users])
    thin = (n_events_by < 10) & reach

    def ratio(a: np.ndarray, mask: np.ndarray | None = None) -> float:
        m = reach if mask is None else mask
        return float(a[m].sum() / best_fixed[m].sum())

    return {
        "seed": seed,
        "users": len(users),
        "events": len(events),
        "best_fixed_local_hour": int(best_h),
        "clicks_per_1000": {
            "personalised": float(24 * mine[reach].mean() * 1000 * 0.05),
            "best_fixed_hour": float(24 * best_fixed[reach].mean() * 1000 * 0.05),
        },
        "ratio_personalised": ratio(mine),
        "ratio_no_shrinkage": ratio(no_shrink),
        "ratio_segment_only": ratio(pooled),
        "ratio_oracle_hour": ratio(oracle),
        "thin_users": int(thin.sum()),
        "ratio_personalised_thin": ratio(mine, thin) if thin.any() else None,
        "ratio_no_shrinkage_thin": ratio(no_shrink, thin) if thin.any() else None,
        "ratio_personalised_rest": ratio(mine, reach & ~thin),
        "reachable_users": int(reach.sum()),
        "plan_seconds": took,
    }


FATIGUE_POLICIES: dict[str, dict[str, Any]] = {
    # every campaign pushes every shopper (one a day at most: one campaign a day anyway)
    "no_caps": {
        "max_per_day": 1,
        "max_per_week": 100,
        "cooldown_hours": 0.0,
        "fatigue_decay": 1.0,
        "optout_per_push": 0.0,
    },
    "caps": {"cooldown_hours": 0.0, "fatigue_decay": 1.0, "optout_per_push": 0.0},
    "caps_cooldown_risk": {},  # the defaults: caps, cool-down, fatigue and opt-out risk
    "cooldown_risk_no_caps": {"max_per_day": 1, "max_per_week": 100},
}


def run_fatigue(
    n_users: int, n_events: int, seed: int, weeks: int, per_week: int
) -> dict[str, Any]:
    """A campaign a day on ``per_week`` days of each of ``weeks`` weeks, every shopper in its
    audience; each policy plans campaign by campaign (seeing the earlier pushes, which were
    ignored, and who opted out) and the planted truth answers (clicks, opt-outs)."""
    cfg = ShopConfig(n_users=n_users, n_events=n_events, seed=seed)
    shop = generate_shop(cfg)
    truth = push_truth(shop, seed)
    now0 = cfg.start + timedelta(days=cfg.days)
    now0 = pd.Timestamp(now0).tz_convert("Asia/Shanghai").normalize() + pd.Timedelta(days=1)
    attrs0 = base_attributes(shop.users, now=now0.to_pydatetime())
    users = [u for u in truth.users["user_id"] if u in attrs0]
    base = PushSettings(holdout_share=0.0, min_lead_minutes=0)
    tz = {u: timezone_of(attrs0.get(u, {}), base) for u in users}
    events = shop.events[["user_id", "timestamp"]]
    activity = activity_counts(events, tz, base.default_timezone)
    recipients = pd.DataFrame({"user_id": users, "value": 1.0})
    days = [w * 7 + d for w in range(weeks) for d in range(per_week)]
    out: dict[str, Any] = {"seed": seed, "users": len(users), "campaigns": len(days)}
    for name, update in FATIGUE_POLICIES.items():
        settings = base.model_copy(update=update)
        gone: set[str] = set()
        history: dict[str, list[tuple[pd.Timestamp, bool]]] = {}
        pushes: list[pd.DataFrame] = []
        t0 = time.perf_counter()
        for k, day in enumerate(days):
            start = (now0 + pd.Timedelta(days=day)).to_pydatetime()
            campaign = Campaign(
                campaign_id=f"f{k:02d}",
                name="daily",
                type="custom",
                start_time=start,
                end_time=start + timedelta(days=1),
            )
            attrs = {
                u: ({**a, "consent_marketing": False} if u in gone else a)
                for u, a in attrs0.items()
            }
            done = pd.concat(pushes, ignore_index=True) if pushes else None
            if done is not None:
                old = pd.to_datetime(done["send_at_utc"], utc=True) + pd.Timedelta(
                    hours=settings.ignored_after_hours
                ) <= pd.Timestamp(start)
                done = done.assign(ignored=(old & ~done["clicked"]).to_numpy())
            plan = plan_pushes(
                recipients, attrs, activity, campaign, settings, start, existing=done
            )
            new = plan.table[["user_id", "channel", "send_at_utc"]]
            res = simulate_pushes(truth, new, seed=seed * 1000 + k, opted_out=gone, history=history)
            pushes.append(res.pushes)
        allp = pd.concat(pushes, ignore_index=True)
        out[name] = {
            "pushes": int(allp["delivered"].sum()),
            "clicks": int(allp["clicked"].sum()),
            "optouts": int(allp["opted_out"].sum()),
            "seconds": time.perf_counter() - t0,
        }
    ref = out["no_caps"]
    for name in FATIGUE_POLICIES:
        if name != "no_caps":
            r = out[name]
            r["optout_cut"] = 1 - r["optouts"] / ref["optouts"] if ref["optouts"] else None
            r["clicks_lost"] = 1 - r["clicks"] / ref["clicks"] if ref["clicks"] else None
    return out


def run_channels(n_users: int, n_events: int, seed: int, past: int) -> dict[str, Any]:
    """One campaign to every shopper (all consented to every channel), at the planner's send
    time: SMS to everyone against the planner's channel choice, with the channels' default
    open rates and with each shopper's own rates estimated from ``past`` earlier pushes on
    random channels (shrunk towards the channel's rate); clicks from the planted truth."""
    cfg = ShopConfig(n_users=n_users, n_events=n_events, seed=seed)
    shop = generate_shop(cfg)
    truth = push_truth(shop, seed)
    now = cfg.start + timedelta(days=cfg.days)
    attrs = base_attributes(shop.users, now=now)
    users = [u for u in truth.users["user_id"] if u in attrs]
    everyone = {f"consent_{c}": True for c in ("app_push", "in_app", "email", "sms")}
    attrs = {u: {**a, **everyone} for u, a in attrs.items()}
    base = PushSettings(holdout_share=0.0, min_lead_minutes=0, cooldown_hours=0.0)
    specs = {c: s.model_copy(update={"daily_quota": None}) for c, s in base.channels.items()}
    base = base.model_copy(update={"channels": specs})
    tz = {u: timezone_of(attrs.get(u, {}), base) for u in users}
    activity = activity_counts(shop.events[["user_id", "timestamp"]], tz, base.default_timezone)
    recipients = pd.DataFrame({"user_id": users, "value": 1.0})
    campaign = Campaign(
        campaign_id="ch", name="ch", type="custom", start_time=now, end_time=now + timedelta(days=7)
    )
    # the exploration log: `past` pushes per shopper on random channels, two days apart
    rng = np.random.default_rng([seed, 17])
    names = list(specs)
    log_rows = []
    for u in users:
        for j in range(past):
            at = pd.Timestamp(now) - pd.Timedelta(days=60 - 2 * j, hours=-int(rng.integers(0, 12)))
            log_rows.append(
                {
                    "user_id": u,
                    "channel": names[int(rng.integers(len(names)))],
                    "send_at_utc": at.isoformat(),
                }
            )
    logged = simulate_pushes(truth, pd.DataFrame(log_rows), seed=seed + 99).pushes
    prior = 2.0
    grp = logged.groupby(["user_id", "channel"])["clicked"].agg(["sum", "count"])
    rates: dict[str, dict[str, float]] = {}
    for (u, c), r in grp.iterrows():
        o = specs[str(c)].open_rate
        rates.setdefault(str(u), {})[str(c)] = (float(r["sum"]) + prior * o) / (r["count"] + prior)
    policies = {
        "sms_to_everyone": (base.model_copy(update={"channels": {"sms": specs["sms"]}}), None),
        "channel_choice": (base, None),
        "channel_choice_own_rates": (base, rates),
    }
    out: dict[str, Any] = {"seed": seed, "users": len(users), "past_pushes": past}
    for name, (settings, own) in policies.items():
        plan = plan_pushes(recipients, attrs, activity, campaign, settings, now, channel_rates=own)
        res = simulate_pushes(
            truth, plan.table[["user_id", "channel", "send_at_utc"]], seed=seed + 7
        ).pushes
        cost = float(sum(specs[c].cost for c in res["channel"]))
        clicks = int(res["clicked"].sum())
        out[name] = {
            "pushes": len(res),
            "clicks": clicks,
            "cost": cost,
            "clicks_per_cost": clicks / cost if cost else None,
            "by_channel": {str(k): int(v) for k, v in res["channel"].value_counts().items()},
        }
    sms = out["sms_to_everyone"]["clicks_per_cost"]
    for name in ("channel_choice", "channel_choice_own_rates"):
        mine = out[name]["clicks_per_cost"]
        out[name]["ratio_to_sms"] = mine / sms if sms and mine is not None else None
    return out


def run_channel_learning(
    n_users: int, n_events: int, seed: int, weeks: int, per_week: int = 2
) -> dict[str, Any]:
    """Per-shopper channel rates estimated from the shop's own logged pushes against the
    channels' global rates, after a learning period.

    Learning: ``weeks`` weeks of ``per_week`` campaigns to every shopper (all consented to every
    channel, no quotas); each campaign is planned with the rates estimated from the outcomes
    logged so far (:func:`campaignrec.push.channel_rates.estimate_channel_rates`: pooled rate
    per channel, per-shopper beta prior by moments), the planted truth answers, and the answers
    are logged. Then one more campaign, planned twice from the same log: with the global
    (pooled) rate of each channel for everyone, and with each shopper's estimated rates; both
    answered by the truth from the same history. Clicks per cost."""
    from campaignrec.push.channel_rates import estimate_channel_rates

    cfg = ShopConfig(n_users=n_users, n_events=n_events, seed=seed)
    shop = generate_shop(cfg)
    truth = push_truth(shop, seed)
    end = cfg.start + timedelta(days=cfg.days)
    attrs = base_attributes(shop.users, now=end)
    users = [u for u in truth.users["user_id"] if u in attrs]
    everyone = {f"consent_{c}": True for c in ("app_push", "in_app", "email", "sms")}
    attrs = {u: {**a, **everyone} for u, a in attrs.items()}
    base = PushSettings(holdout_share=0.0, min_lead_minutes=0, cooldown_hours=0.0)
    specs = {c: s.model_copy(update={"daily_quota": None}) for c, s in base.channels.items()}
    base = base.model_copy(update={"channels": specs})
    tz = {u: timezone_of(attrs.get(u, {}), base) for u in users}
    activity = activity_counts(shop.events[["user_id", "timestamp"]], tz, base.default_timezone)
    recipients = pd.DataFrame({"user_id": users, "value": 1.0})
    start = end - timedelta(days=7 * weeks)
    history: dict[str, list[tuple[pd.Timestamp, bool]]] = {}
    gone: set[str] = set()
    log: list[pd.DataFrame] = []
    sent: list[pd.DataFrame] = []

    def plan(at: datetime, name: str, per_shopper: bool) -> pd.DataFrame:
        outcomes = (
            pd.concat(log, ignore_index=True)
            if log
            else pd.DataFrame(columns=["user_id", "channel", "answered"])
        )
        est = estimate_channel_rates(outcomes, base)
        settings = est.settings_with_global(base)
        camp = Campaign(
            campaign_id=name, name=name, type="custom", start_time=at,
            end_time=at + timedelta(days=3),
        )  # fmt: skip
        ex = pd.concat(sent, ignore_index=True) if sent else None
        rates = est.rates_for(base) if per_shopper else None
        live = recipients[~recipients["user_id"].isin(gone)]
        p = plan_pushes(live, attrs, activity, camp, settings, at, existing=ex, channel_rates=rates)
        return p.table[["user_id", "channel", "send_at_utc"]]

    t0 = time.perf_counter()
    for j in range(weeks * per_week):
        at = start + timedelta(days=7 * (j // per_week) + 3 * (j % per_week))
        table = plan(at, f"learn{j}", True)
        res = simulate_pushes(truth, table, seed=seed + 100 + j, opted_out=gone, history=history)
        got = res.pushes[res.pushes["delivered"]]
        log.append(got.assign(answered=got["clicked"])[["user_id", "channel", "answered"]])
        sent.append(got[["user_id", "channel", "send_at_utc"]])
    final = estimate_channel_rates(pd.concat(log, ignore_index=True), base)
    out: dict[str, Any] = {
        "seed": seed,
        "users": len(users),
        "learning_weeks": weeks,
        "learning_pushes": int(sum(len(x) for x in log)),
        "pooled_rates": {c: round(v, 4) for c, v in final.global_rates.items()},
        "prior_pushes": {c: round(v, 2) for c, v in final.prior_pushes.items()},
    }
    for name, per_shopper in (("global_rates", False), ("per_shopper_rates", True)):
        table = plan(end, "eval", per_shopper)
        res = simulate_pushes(
            truth,
            table,
            seed=seed + 7,
            opted_out=set(gone),
            history={u: list(h) for u, h in history.items()},
        ).pushes
        res = res[res["delivered"]]
        cost = float(sum(specs[c].cost for c in res["channel"]))
        clicks = int(res["clicked"].sum())
        out[name] = {
            "pushes": len(res),
            "clicks": clicks,
            "cost": round(cost, 4),
            "clicks_per_cost": clicks / cost if cost else None,
            "by_channel": {str(k): int(v) for k, v in res["channel"].value_counts().items()},
        }
    g, o = out["global_rates"]["clicks_per_cost"], out["per_shopper_rates"]["clicks_per_cost"]
    out["ratio_per_shopper_to_global"] = o / g if g and o is not None else None
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--events", type=int, default=100_000)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--weeks", type=int, default=4, help="fatigue: weeks of daily campaigns")
    ap.add_argument("--per-week", type=int, default=5, help="fatigue: campaigns a week")
    ap.add_argument("--past", type=int, default=8, help="channels: logged pushes per shopper")
    ap.add_argument("--learn-weeks", type=int, default=4, help="learned: learning weeks")
    ap.add_argument(
        "--only",
        choices=["time", "fatigue", "channels", "learned"],
        nargs="+",
        default=["time", "fatigue", "channels", "learned"],
    )
    args = ap.parse_args(argv)
    out: dict[str, Any] = {
        "benchmark": "push: send time, fatigue caps, channel choice (planted truth)",
        "command": "benchmarks/push.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "when": datetime.now(UTC).isoformat(),
    }
    if "fatigue" in args.only:
        fat = [
            run_fatigue(args.users, args.events, s, args.weeks, args.per_week) for s in args.seeds
        ]
        out["fatigue"] = fat
        flat = [
            {"seed": r["seed"], "policy": k, **{c: v[c] for c in v if c != "seconds"}}
            for r in fat
            for k, v in r.items()
            if isinstance(v, dict)
        ]
        print(pd.DataFrame(flat).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if "channels" in args.only:
        chan = [run_channels(args.users, args.events, s, args.past) for s in args.seeds]
        out["channels"] = chan
        flat = [
            {"seed": r["seed"], "policy": k, **{c: v[c] for c in v if c != "by_channel"}}
            for r in chan
            for k, v in r.items()
            if isinstance(v, dict)
        ]
        print(pd.DataFrame(flat).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    if "learned" in args.only:
        learned = [
            run_channel_learning(args.users, args.events, s, args.learn_weeks) for s in args.seeds
        ]
        out["learned"] = learned
        flat = [
            {"seed": r["seed"], "policy": k, **{c: v[c] for c in v if c != "by_channel"}}
            for r in learned
            for k, v in r.items()
            if k in ("global_rates", "per_shopper_rates")
        ]
        print(pd.DataFrame(flat).to_string(index=False, float_format=lambda x: f"{x:.3f}"))
        for r in learned:
            print(r["seed"], r["ratio_per_shopper_to_global"], r["prior_pushes"], r["pooled_rates"])
            print({k: r[k]["by_channel"] for k in ("global_rates", "per_shopper_rates")})
        if args.only == ["learned"]:
            RESULTS.mkdir(parents=True, exist_ok=True)
            (RESULTS / "push_channel_learning.json").write_text(json.dumps(out, indent=2))
            return 0
    if "time" not in args.only:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "push_fatigue_channels.json").write_text(json.dumps(out, indent=2))
        return 0
    rows = [run_seed(args.users, args.events, s) for s in args.seeds]
    cols = [
        "seed",
        "users",
        "best_fixed_local_hour",
        "ratio_personalised",
        "ratio_no_shrinkage",
        "ratio_segment_only",
        "ratio_oracle_hour",
        "thin_users",
        "ratio_personalised_thin",
        "ratio_no_shrinkage_thin",
        "plan_seconds",
    ]
    print(pd.DataFrame(rows)[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    out["rows"] = rows
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "push.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
