"""Benchmark of the Gamma-Gamma spend model and BG/NBD x Gamma-Gamma CLV on CDNOW.

Calibration: the first 39 weeks (1997-01-01 .. 1997-09-30), holdout: the next 39 weeks (to
1998-06-30), as in Fader, Hardie and Lee (2005b). A transaction is a customer-day (lines of the
same day summed), which is how the paper's summary file counts them (checked below: its ``x``
and ``zbar`` equal the day-level repeat counts and means of ``CDNOW_sample.txt``).

Fits, each reporting p, q, gamma and the population mean p gamma / (q - 1):

- ``paper_summary``: the paper's own summary file (2,357-customer 1/10th sample, ``zbar`` = mean
  of the repeat transactions): should give the published 6.25, 3.74, 15.44;
- ``sample_repeat_mean``: the same customers from ``CDNOW_sample.txt``, repeat means computed here;
- ``master_repeat_mean``: all 23,570 customers of ``CDNOW_master.txt``, repeat means (paper's
  definition), via ``GammaGammaModel.fit_summary``;
- ``master_profiles``: the same customers through ``ProfileState`` and ``GammaGammaModel.fit``
  (the profile keeps total spend only, so m_x = monetary / frequency, the first order included).

Holdout check per fit: the expected spend E[M | x, m_x] of customers with a repeat transaction in
calibration (x >= 1) who buy in the holdout, against the actual mean value of their holdout
transactions (transaction-weighted and per customer). CLV check (master, profiles): BG/NBD
(fitted on the calibration profiles) x Gamma-Gamma undiscounted revenue over the 273 holdout days
against the actual holdout revenue.

    .venv/bin/python benchmarks/clv_cdnow.py            # ~15 s; writes benchmarks/results/clv.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _datasets import machine

from campaignrec.profiles.predict import (
    BGNBDModel,
    GammaGammaModel,
    bgnbd_expected_repeat_purchases,
    customer_lifetime_value,
)
from campaignrec.profiles.state import ProfileState
from profiles import RESULTS, cdnow_events, data_dir, read_cdnow

CAL_END = pd.Timestamp("1997-09-30")  # 39 weeks after 1997-01-01, inclusive
PUBLISHED = {"p": 6.25, "q": 3.74, "gamma": 15.44}
# BG/NBD on the same sample, time in weeks (Fader, Hardie and Lee 2005a)
PUBLISHED_BGNBD_WEEKS = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
HOLDOUT_DAYS = 273.0


def read_sample(path: Path) -> pd.DataFrame:
    """``CDNOW_sample.txt``: master id, sample id, date, CDs, dollars (one line per purchase)."""
    raw = pd.read_csv(
        path,
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "n_cds", "dollars"],
        dtype={"master_id": str, "customer_id": str, "date": str},
    )
    return raw.drop(columns="master_id")


def day_transactions(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per customer-day: ``customer_id, day, dollars``, in date order."""
    day = pd.to_datetime(raw["date"], format="%Y%m%d")
    out = raw.assign(day=day).groupby(["customer_id", "day"], as_index=False)["dollars"].sum()
    return out.sort_values(["customer_id", "day"], ignore_index=True)


def calibration_summary(tx: pd.DataFrame) -> pd.DataFrame:
    """Per customer in the calibration period: repeat transactions x and their mean value m_x."""
    cal = tx[tx["day"] <= CAL_END]
    nth = cal.groupby("customer_id").cumcount()
    rep = cal[nth > 0].groupby("customer_id")["dollars"].agg(x="size", m_x="mean")
    out = pd.DataFrame(index=pd.Index(cal["customer_id"].unique(), name="customer_id"))
    return out.join(rep).fillna({"x": 0, "m_x": 0.0})


def holdout_check(spend: pd.Series, x: pd.Series, tx: pd.DataFrame) -> dict[str, Any]:
    """Predicted E[M] of calibration repeat buyers against their actual holdout transactions."""
    hold = tx[tx["day"] > CAL_END].groupby("customer_id")["dollars"].agg(n="size", total="sum")
    hold = hold.join(spend.rename("pred"), how="inner").join(x.rename("x"), how="inner")
    rep = hold[hold["x"] >= 1]
    return {
        "customers": len(rep),
        "transactions": int(rep["n"].sum()),
        "actual_mean_per_transaction": float(rep["total"].sum() / rep["n"].sum()),
        "predicted_mean_per_transaction": float((rep["pred"] * rep["n"]).sum() / rep["n"].sum()),
        "actual_mean_of_customer_means": float((rep["total"] / rep["n"]).mean()),
        "predicted_mean_of_customers": float(rep["pred"].mean()),
        "all_holdout_buyers_actual_per_transaction": float(hold["total"].sum() / hold["n"].sum()),
        "all_holdout_buyers_predicted_per_transaction": float(
            (hold["pred"] * hold["n"]).sum() / hold["n"].sum()
        ),
    }


def fit_report(model: GammaGammaModel, seconds: float) -> dict[str, Any]:
    return {
        **model.params_,
        "population_mean": model.population_mean(),
        "n_fitted": model.n_fitted_,
        "log_likelihood": model.log_likelihood_,
        "seconds": seconds,
    }


def summary_fit(summary: pd.DataFrame, tx: pd.DataFrame) -> dict[str, Any]:
    # the model needs positive values: repeat buyers whose repeat orders were all free are left out
    free = (summary["x"] >= 1) & (summary["m_x"] <= 0)
    summary = summary[~free]
    t = time.perf_counter()
    gg = GammaGammaModel().fit_summary(summary["x"].to_numpy(), summary["m_x"].to_numpy())
    out = fit_report(gg, time.perf_counter() - t)
    out["excluded_zero_value_repeat_buyers"] = int(free.sum())
    spend = pd.Series(
        gg.expected_spend(summary["x"].to_numpy(), summary["m_x"].to_numpy()), summary.index
    )
    out["holdout"] = holdout_check(spend, summary["x"], tx)
    return out


def published_holdout(paper: pd.DataFrame, tx: pd.DataFrame) -> dict[str, Any]:
    """The published BG/NBD and Gamma-Gamma parameters on the sample against its holdout."""
    x, t_x, age = (paper[c].to_numpy(float) for c in ("x", "t_x", "T"))
    purchases = bgnbd_expected_repeat_purchases(PUBLISHED_BGNBD_WEEKS, x, t_x, age, 39.0)
    gg = GammaGammaModel()
    gg.params_ = dict(PUBLISHED)
    hold = tx[tx["day"] > CAL_END]
    return {
        "predicted_transactions": float(purchases.sum()),
        "actual_transactions": len(hold),
        "predicted_revenue": float((purchases * gg.expected_spend(x, paper["m_x"])).sum()),
        "actual_revenue": float(hold["dollars"].sum()),
    }


def profiles_fit(raw: pd.DataFrame, tx: pd.DataFrame) -> dict[str, Any]:
    events = cdnow_events(raw)
    cal_end = CAL_END.tz_localize("UTC")
    prof = ProfileState().apply(events[events["timestamp"] <= cal_end]).profiles(as_of=cal_end)
    t = time.perf_counter()
    gg = GammaGammaModel().fit(prof)
    out = fit_report(gg, time.perf_counter() - t)
    ids = prof["user_id"].astype(str).to_numpy()
    spend = pd.Series(gg.conditional_expected_average_profit(prof), ids)
    x = pd.Series(prof["frequency"].to_numpy(float) - 1, ids)
    out["holdout"] = holdout_check(spend, x, tx)
    t = time.perf_counter()
    bg = BGNBDModel().fit(prof)
    clv = customer_lifetime_value(bg, gg, prof, HOLDOUT_DAYS, discount_rate_per_period=0.0)
    purchases = bg.expected_purchases(prof, HOLDOUT_DAYS)
    hold = tx[tx["day"] > CAL_END]
    out["clv_holdout"] = {
        "bgnbd_params_days": bg.params_,
        "predicted_transactions": float(np.nansum(purchases)),
        "actual_transactions": len(hold),
        "predicted_revenue": float(np.nansum(clv)),
        "actual_revenue": float(hold["dollars"].sum()),
        "mean_clv_90d_discount_1pct_per_30d": float(
            np.nanmean(customer_lifetime_value(bg, gg, prof, 90))
        ),
        "seconds": time.perf_counter() - t,
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data")
    ap.add_argument("--out", default=str(RESULTS / "clv.json"))
    args = ap.parse_args()
    cdnow = data_dir(args.data) / "cdnow"
    t0 = time.perf_counter()

    paper = pd.read_csv(cdnow / "cdnow_customers_summary_with_transactions.csv")
    paper["customer_id"] = paper["ID"].map(lambda i: f"{i:04d}")
    paper = paper.set_index("customer_id").rename(columns={"zbar": "m_x"})
    sample_tx = day_transactions(read_sample(cdnow / "CDNOW_sample.txt"))
    sample = calibration_summary(sample_tx)
    both = paper.join(sample.add_suffix("_here"), how="inner")
    master_raw = read_cdnow(cdnow / "CDNOW_master.txt")
    master_tx = day_transactions(master_raw)

    report: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "published": PUBLISHED,
        "sample_summary_matches_file": {
            "customers": len(both),
            "x_equal": int((both["x"] == both["x_here"]).sum()),
            "max_abs_m_x_diff": float((both["m_x"] - both["m_x_here"]).abs().max()),
        },
        "paper_summary": summary_fit(paper, sample_tx),
        "published_params_sample_holdout": published_holdout(paper, sample_tx),
        "sample_repeat_mean": summary_fit(sample, sample_tx),
        "master_repeat_mean": summary_fit(calibration_summary(master_tx), master_tx),
        "master_profiles": profiles_fit(master_raw, master_tx),
    }
    report["seconds_total"] = time.perf_counter() - t0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))

    print(f"{'fit':<20} {'n':>6} {'p':>6} {'q':>6} {'gamma':>7} {'E[M]':>7}  holdout pred / actual")
    for name in ("paper_summary", "sample_repeat_mean", "master_repeat_mean", "master_profiles"):
        r = report[name]
        h = r["holdout"]
        print(
            f"{name:<20} {r['n_fitted']:>6} {r['p']:>6.2f} {r['q']:>6.2f} {r['gamma']:>7.2f} "
            f"{r['population_mean']:>7.2f}  {h['predicted_mean_per_transaction']:.2f} / "
            f"{h['actual_mean_per_transaction']:.2f} per transaction ({h['customers']} customers)"
        )
    c = report["published_params_sample_holdout"]
    print(
        f"sample holdout, published parameters: revenue {c['predicted_revenue']:,.0f} predicted / "
        f"{c['actual_revenue']:,.0f} actual ({c['predicted_transactions']:,.0f} / "
        f"{c['actual_transactions']:,} transactions)"
    )
    c = report["master_profiles"]["clv_holdout"]
    print(
        f"holdout revenue, BG/NBD x Gamma-Gamma: {c['predicted_revenue']:,.0f} predicted / "
        f"{c['actual_revenue']:,.0f} actual ({c['predicted_transactions']:,.0f} / "
        f"{c['actual_transactions']:,} transactions)"
    )
    print(f"wrote {out} in {report['seconds_total']:.1f}s")


if __name__ == "__main__":
    main()
