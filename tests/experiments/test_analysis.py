"""``experiments analyze`` and its library on simulated experiments whose true lift is known."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from campaignrec.cli.main import main
from campaignrec.errors import EXIT_VALIDATION, ValidationError
from campaignrec.experiments.analysis import analyse_rows, cuped_adjust


def simulate(
    n: int, lift: float, *, seed: int, variants: tuple[str, ...] = ("control", "B"),
    shares: tuple[float, ...] | None = None, rho_scale: float = 1.0,
) -> pd.DataFrame:  # fmt: skip
    """Revenue per shopper that the pre-period predicts: ``y = pre + noise + lift * treated``."""
    rng = np.random.default_rng(seed)
    arm = rng.choice(len(variants), size=n, p=shares)
    pre = rng.gamma(2.0, 10.0, size=n)  # heavy-ish, like revenue
    y = rho_scale * pre + rng.normal(0, 8.0, size=n) + lift * (arm > 0)
    return pd.DataFrame({"variant": np.array(variants)[arm], "revenue": y, "pre_revenue": pre})


def test_known_lift_is_recovered_and_cuped_cuts_variance_by_more_than_30_percent() -> None:
    df = simulate(8000, 2.0, seed=1)
    raw = analyse_rows(df, variant="variant", metric="revenue")
    cup = analyse_rows(df, variant="variant", metric="revenue", pre="pre_revenue")
    assert len(raw) == len(cup) == 1
    r, c = raw[0], cup[0]
    assert (r.treatment, r.control, c.method) == ("B", "control", "cuped-welch")
    assert r.variance_reduction is None
    # the raw lift is treatment mean minus control mean, exactly
    means = df.groupby("variant")["revenue"].mean()
    assert r.lift == pytest.approx(means["B"] - means["control"])
    assert c.ci_low < 2.0 < c.ci_high
    assert c.variance_reduction > 0.30
    # the interval width shrinks by sqrt(1 - reduction)
    ratio = (c.ci_high - c.ci_low) / (r.ci_high - r.ci_low)
    assert ratio == pytest.approx(np.sqrt(1 - c.variance_reduction), rel=0.02)
    assert c.p_value < 1e-6 and c.srm_p_value > 0.001


def test_cuped_is_unbiased_over_simulations() -> None:
    estimates, ses = [], []
    for seed in range(200):
        c = analyse_rows(
            simulate(400, 1.5, seed=100 + seed), variant="variant", metric="revenue",
            pre="pre_revenue",
        )[0]  # fmt: skip
        estimates.append(c.lift)
        ses.append((c.ci_high - c.ci_low) / (2 * 1.96))
    est = np.array(estimates)
    se_of_mean = est.std(ddof=1) / np.sqrt(est.size)
    assert abs(est.mean() - 1.5) < 3 * se_of_mean
    # the reported standard error matches the spread of the estimates
    assert np.mean(ses) == pytest.approx(est.std(ddof=1), rel=0.15)


@pytest.mark.parametrize("pre", [None, "pre_revenue"])
def test_aa_tests_reject_at_five_percent(pre: str | None) -> None:
    # 1,000 A/A tests: the rejection rate's own s.e. is 0.7 points, so 5 % +- 2 % is a 3-s.e.
    # band (with 200 tests it would be 1.3 s.e. and fail by chance one run in five)
    p = np.array(
        [
            analyse_rows(
                simulate(200, 0.0, seed=1000 + s), variant="variant", metric="revenue", pre=pre
            )[0].p_value
            for s in range(1000)
        ]
    )
    assert 0.03 <= np.mean(p < 0.05) <= 0.07


def test_groups_report_their_own_lift_and_srm() -> None:
    a = simulate(6000, 0.0, seed=3).assign(country="CN")
    b = simulate(6000, 5.0, seed=4).assign(country="DE")
    # DE's split is broken: two thirds of its control rows are lost
    b = b[(b.variant == "B") | (np.arange(len(b)) % 3 == 0)]
    out = analyse_rows(
        pd.concat([a, b]), variant="variant", metric="revenue", pre="pre_revenue", by="country"
    )
    by = {r.by: r for r in out}
    assert set(by) == {"CN", "DE"}
    assert by["CN"].ci_low < 0 < by["CN"].ci_high
    assert by["DE"].ci_low < 5.0 < by["DE"].ci_high and by["DE"].ci_low > 0
    assert by["CN"].srm_p_value > 0.001 and by["DE"].srm_p_value < 1e-6


def test_intended_weights_and_several_treatments() -> None:
    df = simulate(9000, 1.0, seed=5, variants=("A", "B", "C"), shares=(0.5, 0.25, 0.25))
    equal = analyse_rows(df, variant="variant", metric="revenue")
    assert [r.treatment for r in equal] == ["B", "C"] and equal[0].control == "A"
    assert equal[0].srm_p_value < 1e-6  # judged against an equal split
    weighted = analyse_rows(
        df, variant="variant", metric="revenue", weights={"A": 2, "B": 1, "C": 1}
    )
    assert weighted[0].srm_p_value > 0.001
    explicit = analyse_rows(df, variant="variant", metric="revenue", control="C")
    assert {r.treatment for r in explicit} == {"A", "B"}


def test_cuped_adjust_keeps_the_mean_and_removes_the_predicted_part() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    y = 3 * x + rng.normal(size=5000)
    adj, theta = cuped_adjust(y, x)
    assert theta == pytest.approx(3.0, abs=0.05)
    assert adj.mean() == pytest.approx(y.mean())
    assert adj.var() < 0.2 * y.var()
    same, t0 = cuped_adjust(y, np.ones(5000))  # a constant covariate changes nothing
    assert t0 == 0.0 and np.array_equal(same, y)


def test_bad_input_names_the_column() -> None:
    df = simulate(100, 0.0, seed=0)
    with pytest.raises(ValidationError, match="'spend'"):
        analyse_rows(df, variant="variant", metric="spend")
    with pytest.raises(ValidationError, match="only one variant"):
        analyse_rows(df.assign(variant="B"), variant="variant", metric="revenue")
    bad = df.astype({"revenue": object})
    bad.loc[7, "revenue"] = "n/a"
    with pytest.raises(ValidationError, match="'revenue'") as info:
        analyse_rows(bad, variant="variant", metric="revenue")
    assert info.value.row == 8
    with pytest.raises(ValidationError, match="'Z'"):
        analyse_rows(df, variant="variant", metric="revenue", control="Z")


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_cli_json_is_one_line_with_the_named_fields(tmp_path, capsys) -> None:
    df = simulate(4000, 2.0, seed=7).assign(
        segment=lambda d: np.where(d.pre_revenue > 20, "hi", "lo")
    )
    path = tmp_path / "rows.parquet"
    df.to_parquet(path)
    code, out, err = run(
        capsys, "experiments", "analyze", str(path), "--variant", "variant", "--metric",
        "revenue", "--pre", "pre_revenue", "--control", "control", "--by", "segment", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert out.count("\n") == 1
    payload = json.loads(out)
    rows = payload["results"]
    assert [r["by"] for r in rows] == ["hi", "lo"]
    for r in rows:
        assert {"by", "treatment", "control", "lift", "ci_low", "ci_high", "p_value",
                "variance_reduction", "srm_p_value"} <= set(r)  # fmt: skip
        assert r["ci_low"] < r["lift"] < r["ci_high"] and r["variance_reduction"] > 0
    csv = tmp_path / "rows.csv"
    df.to_csv(csv, index=False)
    code, out, _ = run(
        capsys, "experiments", "analyze", str(csv), "--variant", "variant", "--metric", "revenue"
    )
    assert code == 0 and "lift" in out and "B" in out


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--variant", "arm", "--metric", "revenue"], "'arm'"),
        (["--variant", "variant", "--metric", "revenue", "--pre", "before"], "'before'"),
        (["--variant", "variant", "--metric", "label"], "'label'"),
        (["--variant", "label", "--metric", "revenue"], "only one variant"),
    ],
)
def test_cli_bad_input_is_one_line_not_a_traceback(tmp_path, capsys, args, needle) -> None:
    path = tmp_path / "rows.csv"
    simulate(50, 0.0, seed=0).assign(label="x").to_csv(path, index=False)
    code, _, err = run(capsys, "experiments", "analyze", str(path), *args)
    assert code == EXIT_VALIDATION
    assert needle in err and "Traceback" not in err


def test_a_group_without_the_control_is_reported_not_raised() -> None:
    df = simulate(600, 1.0, seed=9).assign(country="CN")
    only_b = df[df.variant == "B"].head(50).assign(country="DE")
    out = analyse_rows(pd.concat([df, only_b]), variant="variant", metric="revenue", by="country")
    de = next(r for r in out if r.by == "DE")
    assert de.lift is None and de.n_control == 0 and "fewer than 2" in (de.note or "")
    assert de.srm_p_value is None  # one variant present: nothing to check
