"""Purchase probability in the next ``horizon`` days and expected spend, with validation.

Gradient-boosted trees (scikit-learn's histogram GBM) on RFM and behaviour features computed at a
cutoff, trained on a time split: features from the events up to the cutoff, labels from the
``horizon`` days after it. Compared with the baseline "bought in the last ``horizon`` days" by
AUC, Brier score and reliability bins.

The probabilistic alternatives of Fader, Hardie and Lee: the BG/NBD purchase-frequency model
(``BGNBDModel``, "Counting your customers the easy way", 2005a), the Gamma-Gamma spend model
(``GammaGammaModel``, "RFM and CLV: using iso-value curves for customer base analysis", 2005b) and
their combination into a discounted customer lifetime value (``customer_lifetime_value``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.metrics import brier_score_loss, roc_auc_score
from threadpoolctl import threadpool_limits

from campaignrec.data.schema import TIMESTAMP, USER_ID
from campaignrec.errors import NotFittedError, ValidationError
from campaignrec.profiles.config import ProfileConfig
from campaignrec.profiles.state import ProfileState, line_revenue

EventSource = pd.DataFrame | Callable[[], Iterable[pd.DataFrame]]

MODEL_FEATURES: tuple[str, ...] = (
    "recency_days",
    "frequency",
    "monetary",
    "avg_basket",
    "cadence_days",
    "tenure_days",
    "days_since_first_seen",
    "days_since_last_event",
    "decayed_events",
    "decayed_purchases",
    "n_events",
    "n_sessions",
    "n_views",
    "n_clicks",
    "n_carts",
    "view_to_click",
    "cart_to_purchase",
    "discount_share",
    "coupon_redemption_rate",
)


def iter_events(source: EventSource) -> Iterable[pd.DataFrame]:
    """The chunks of an event source: a DataFrame (one chunk) or a callable returning chunks."""
    if isinstance(source, pd.DataFrame):
        return [source]
    return source()


def feature_matrix(profiles: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns (float, NaN where undefined; the trees handle NaN)."""
    return pd.DataFrame(
        {c: pd.to_numeric(profiles[c], errors="coerce").astype(float) for c in MODEL_FEATURES},
        index=profiles.index,
    )


@dataclass(frozen=True)
class PurchaseModelConfig:
    """Hyper-parameters of the purchase and spend models (``n_threads``: OpenMP threads)."""

    max_iter: int = 100
    learning_rate: float = 0.1
    max_leaf_nodes: int = 15
    min_samples_leaf: int = 40
    l2_regularization: float = 1.0
    seed: int = 0
    n_threads: int | None = 1


class PurchaseModel:
    """P(purchase in the next horizon) and expected spend from profile features.

    Follows the scikit-learn contract: ``fit`` returns ``self``, learned attributes end in ``_``.
    """

    features_: list[str]
    classifier_: HistGradientBoostingClassifier
    regressor_: HistGradientBoostingRegressor
    base_rate_: float

    def __init__(self, config: PurchaseModelConfig | None = None) -> None:
        self.config = config or PurchaseModelConfig()

    def fit(
        self, profiles: pd.DataFrame, bought: NDArray[Any], spend: NDArray[Any]
    ) -> PurchaseModel:
        """Fit on profiles at a cutoff and what each user did in the horizon after it."""
        y = np.asarray(bought, dtype=int)
        if len(np.unique(y)) < 2:
            raise ValidationError(
                "bought",
                "the training window needs both buyers and non-buyers",
                value=int(y.sum()),
                hint="use more data or a longer horizon",
            )
        cfg = self.config
        x = feature_matrix(profiles)
        # columns without any value (e.g. funnel rates on a purchases-only log) carry nothing
        self.features_ = [c for c in x.columns if x[c].notna().any()]
        x = x[self.features_]
        common = dict(
            max_iter=cfg.max_iter,
            learning_rate=cfg.learning_rate,
            max_leaf_nodes=cfg.max_leaf_nodes,
            min_samples_leaf=cfg.min_samples_leaf,
            l2_regularization=cfg.l2_regularization,
            random_state=cfg.seed,
            early_stopping=False,
        )
        with threadpool_limits(cfg.n_threads):
            self.classifier_ = HistGradientBoostingClassifier(**common).fit(x, y)
            self.regressor_ = HistGradientBoostingRegressor(loss="poisson", **common).fit(
                x, np.maximum(np.asarray(spend, dtype=float), 0.0)
            )
        self.base_rate_ = float(y.mean())
        return self

    def _check(self) -> None:
        if not hasattr(self, "classifier_"):
            raise NotFittedError("PurchaseModel")

    def predict_proba(self, profiles: pd.DataFrame) -> NDArray[np.float64]:
        """Probability of at least one purchase in the horizon."""
        self._check()
        return self.classifier_.predict_proba(feature_matrix(profiles)[self.features_])[:, 1]

    def predict_spend(self, profiles: pd.DataFrame) -> NDArray[np.float64]:
        """Expected revenue in the horizon."""
        self._check()
        return np.maximum(self.regressor_.predict(feature_matrix(profiles)[self.features_]), 0.0)


def bgnbd_inputs(profiles: pd.DataFrame) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """BG/NBD summary per buyer, in days: repeat purchases x, time of last purchase t_x and age T.

    x = orders - 1, t_x = last - first purchase, T = as_of - first purchase (whole days for T, as
    ``tenure_days``). Users who never bought get NaN.
    """
    freq = profiles["frequency"].to_numpy(dtype=float)
    first = pd.to_datetime(profiles["first_purchase"], utc=True)
    last = pd.to_datetime(profiles["last_purchase"], utc=True)
    t_x = ((last - first).dt.total_seconds() / 86_400.0).to_numpy(dtype=float)
    age = profiles["tenure_days"].to_numpy(dtype=float)
    x = np.where(freq > 0, freq - 1, np.nan)
    return x, t_x, np.maximum(age, t_x)


class BGNBDModel:
    """The BG/NBD repeat-buying model (Fader, Hardie and Lee 2005), fitted by maximum likelihood.

    Each customer buys at a Poisson rate (gamma distributed across customers, ``r``, ``alpha``) and
    may drop out after each purchase with a probability (beta distributed, ``a``, ``b``). Time is in
    days. ``predict_proba`` gives P(at least one purchase in the next ``horizon_days``) =
    P(alive) * (1 - ((alpha + T) / (alpha + T + h)) ** (r + x)); non-buyers get NaN.
    """

    params_: dict[str, float]

    def fit(self, profiles: pd.DataFrame) -> BGNBDModel:
        """Fit r, alpha, a, b on the buyers of ``profiles``."""
        from scipy.optimize import minimize
        from scipy.special import betaln, gammaln

        x, t_x, age = bgnbd_inputs(profiles)
        ok = ~np.isnan(x)
        x, t_x, age = x[ok], t_x[ok], age[ok]
        if len(x) < 10:
            raise ValidationError("profiles", "BG/NBD needs at least 10 buyers", value=len(x))

        def nll(log_params: NDArray[np.float64]) -> float:
            r, alpha, a, b = np.exp(log_params)
            common = (
                gammaln(r + x) - gammaln(r) + r * np.log(alpha) + betaln(a, b + x) - betaln(a, b)
            )
            term1 = -(r + x) * np.log(alpha + age)
            with np.errstate(divide="ignore", invalid="ignore"):
                term2 = np.where(
                    x > 0,
                    np.log(a)
                    - np.log(np.maximum(b + x - 1, 1e-12))
                    - (r + x) * np.log(alpha + t_x),
                    -np.inf,
                )
            return float(-(common + np.logaddexp(term1, term2)).sum())

        start = np.log([0.5, float(np.mean(age)) + 1.0, 1.0, 1.0])
        res = minimize(
            nll,
            start,
            method="Nelder-Mead",
            options={"maxiter": 4000, "xatol": 1e-6, "fatol": 1e-6},
        )
        r, alpha, a, b = np.exp(res.x)
        self.params_ = {"r": float(r), "alpha": float(alpha), "a": float(a), "b": float(b)}
        return self

    def p_alive(self, profiles: pd.DataFrame) -> NDArray[np.float64]:
        """P(the customer has not dropped out), NaN for non-buyers."""
        if not hasattr(self, "params_"):
            raise NotFittedError("BGNBDModel")
        p = self.params_
        x, t_x, age = bgnbd_inputs(profiles)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratio = (p["a"] / np.maximum(p["b"] + x - 1, 1e-12)) * np.exp(
                (p["r"] + x) * (np.log(p["alpha"] + age) - np.log(p["alpha"] + t_x))
            )
            out = 1.0 / (1.0 + np.where(x > 0, ratio, 0.0))
        return np.where(np.isnan(x), np.nan, out)

    def predict_proba(
        self, profiles: pd.DataFrame, horizon_days: float = 30
    ) -> NDArray[np.float64]:
        """P(at least one purchase in the next ``horizon_days``), NaN for non-buyers."""
        p = self.params_ if hasattr(self, "params_") else None
        if p is None:
            raise NotFittedError("BGNBDModel")
        x, _, age = bgnbd_inputs(profiles)
        buy_if_alive = 1 - np.exp(
            (p["r"] + x) * (np.log(p["alpha"] + age) - np.log(p["alpha"] + age + horizon_days))
        )
        return self.p_alive(profiles) * buy_if_alive

    def expected_purchases(self, profiles: pd.DataFrame, t_days: float) -> NDArray[np.float64]:
        """Expected number of purchases in the next ``t_days``, given each history; NaN for
        non-buyers. See :func:`bgnbd_expected_repeat_purchases` for the closed form."""
        if not hasattr(self, "params_"):
            raise NotFittedError("BGNBDModel")
        if not t_days >= 0:
            raise ValidationError("t_days", "must be >= 0", value=t_days)
        x, t_x, age = bgnbd_inputs(profiles)
        return bgnbd_expected_repeat_purchases(self.params_, x, t_x, age, float(t_days))


def bgnbd_expected_repeat_purchases(
    params: dict[str, float],
    x: NDArray[Any],
    t_x: NDArray[Any],
    age: NDArray[Any],
    t: float,
) -> NDArray[np.float64]:
    """E[Y(t) | x, t_x, T]: expected repeat purchases in the next ``t`` days (BG/NBD closed form).

    Fader, Hardie and Lee (2005a), eq. 10::

        E[Y(t) | x, t_x, T] = (a + b + x - 1) / (a - 1)
            * [1 - ((alpha + T) / (alpha + T + t)) ** (r + x)
                   * 2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t))]
            / [1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)]

    ``2F1`` is the Gaussian hypergeometric function (``scipy.special.hyp2f1``); the expression is
    valid for a != 1 (for a < 1 both factors of the numerator are negative). NaN in, NaN out.
    """
    from scipy.special import hyp2f1

    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    if abs(a - 1.0) < 1e-9:  # removable singularity: step off it by an invisible amount
        a = 1.0 + 1e-9
    x = np.asarray(x, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    age = np.asarray(age, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        shrink = np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + age + t)))
        hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + age + t))
        numer = (a + b + x - 1) / (a - 1) * (1 - shrink * hyp)
        odds_dead = np.where(
            x > 0,
            a
            / np.maximum(b + x - 1, 1e-12)
            * np.exp((r + x) * (np.log(alpha + age) - np.log(alpha + t_x))),
            0.0,
        )
        out = numer / (1 + odds_dead)
    return np.where(np.isnan(x), np.nan, np.where(t > 0, out, 0.0))


def _reject_first(
    bad: NDArray[np.bool_], field: str, reason: str, values: NDArray[Any], hint: str | None = None
) -> None:
    """Raise :class:`ValidationError` for the first row flagged in ``bad``, with its value."""
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(field, reason, value=float(values[i]), row=i, hint=hint)


def gamma_gamma_inputs(profiles: pd.DataFrame) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gamma-Gamma summary per customer: repeat purchases x and the mean order value m_x.

    x = ``frequency`` - 1 (orders after the first; NaN for users who never bought). The profile
    keeps only the total ``monetary`` over all orders, not the value of the first order, so m_x is
    estimated by ``monetary / frequency``: the mean over every order, the first included (the
    paper averages the repeat orders only; ``benchmarks/clv_cdnow.py`` measures the difference on
    CDNOW). Raises :class:`ValidationError` naming the column when one is missing or invalid.
    """
    for col in ("frequency", "monetary"):
        if col not in profiles.columns:
            raise ValidationError(
                col, "the profile table has no such column", hint="pass RFM profiles"
            )
    freq = pd.to_numeric(profiles["frequency"], errors="coerce").to_numpy(dtype=float)
    money = pd.to_numeric(profiles["monetary"], errors="coerce").to_numpy(dtype=float)
    _reject_first(
        np.isnan(freq) | (freq < 0) | (freq != np.floor(freq)),
        "frequency",
        "must be a whole number of orders >= 0",
        freq,
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        m_x = np.where(freq > 0, money / freq, np.nan)
    _reject_first(
        (freq > 1) & ~(m_x > 0),  # NaN included
        "monetary",
        "must be > 0 for customers with a repeat order",
        money,
        hint="drop refunds-only customers or fill missing revenue",
    )
    return np.where(freq > 0, freq - 1, np.nan), m_x


def gamma_gamma_loglik(
    p: float, q: float, gamma: float, x: NDArray[Any], m_x: NDArray[Any]
) -> NDArray[np.float64]:
    """Log density of each customer's mean repeat value m_x given x (Fader, Hardie and Lee 2005b).

    Transaction values are Gamma(p, nu), nu ~ Gamma(q, gamma) across customers, so the mean of x
    values is Gamma(p x, nu x) and, with nu integrated out::

        f(m_x | x) = Gamma(p x + q) / (Gamma(p x) Gamma(q)) * gamma ** q * m_x ** (p x - 1)
                     * x ** (p x) / (gamma + m_x x) ** (p x + q)
    """
    from scipy.special import gammaln

    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(gamma)
        + (px - 1) * np.log(m_x)
        + px * np.log(x)
        - (px + q) * np.log(gamma + m_x * x)
    )


class GammaGammaModel:
    """The Gamma-Gamma spend model (Fader, Hardie and Lee 2005b), fitted by maximum likelihood.

    A customer's order values are Gamma(p, nu) with mean p / nu; nu varies across customers as
    Gamma(q, gamma) (shape, rate), so the population mean order value is p gamma / (q - 1). Spend
    is assumed independent of the purchase process (BG/NBD). Fitted on the customers with at least
    one repeat order (x >= 1), as in the paper. Learned: ``params_`` (p, q, gamma),
    ``n_fitted_`` and ``log_likelihood_``.
    """

    params_: dict[str, float]
    n_fitted_: int
    log_likelihood_: float

    def fit(self, profiles: pd.DataFrame) -> GammaGammaModel:
        """Fit p, q, gamma on the repeat buyers of ``profiles`` (columns ``frequency``, ``monetary``)."""
        x, m_x = gamma_gamma_inputs(profiles)
        return self.fit_summary(x, m_x)

    def fit_summary(self, x: NDArray[Any], m_x: NDArray[Any]) -> GammaGammaModel:
        """Fit on per-customer summaries: repeat purchases ``x`` and their mean value ``m_x``.

        Customers with x < 1 (or NaN) are left out. For data where the repeat orders' own mean is
        known (the paper's definition), e.g. ``benchmarks/clv_cdnow.py``.
        """
        from scipy.optimize import minimize

        x = np.asarray(x, dtype=float)
        m_x = np.asarray(m_x, dtype=float)
        keep = x >= 1
        x, m_x = x[keep], m_x[keep]
        if not (m_x > 0).all():
            raise ValidationError("m_x", "mean repeat values must be > 0", value=float(m_x.min()))
        if len(x) < 10:
            raise ValidationError(
                "frequency",
                "the Gamma-Gamma model needs at least 10 customers with a repeat order",
                value=len(x),
            )

        def nll(log_params: NDArray[np.float64]) -> float:
            p, q, gamma = np.exp(log_params)
            with np.errstate(all="ignore"):  # the simplex may step where the density underflows
                ll = float(gamma_gamma_loglik(p, q, gamma, x, m_x).sum())
            return -ll if np.isfinite(ll) else np.inf

        # start where the population mean p gamma / (q - 1) equals the observed mean
        start = np.log([1.0, 3.0, 2.0 * float(np.mean(m_x))])
        res = minimize(
            nll,
            start,
            method="Nelder-Mead",
            options={"maxiter": 4000, "xatol": 1e-7, "fatol": 1e-7},
        )
        p, q, gamma = np.exp(res.x)
        self.params_ = {"p": float(p), "q": float(q), "gamma": float(gamma)}
        self.n_fitted_ = len(x)
        self.log_likelihood_ = -float(res.fun)
        return self

    def _params(self) -> tuple[float, float, float]:
        if not hasattr(self, "params_"):
            raise NotFittedError("GammaGammaModel")
        p, q, gamma = (self.params_[k] for k in ("p", "q", "gamma"))
        if q <= 1:
            raise ValidationError(
                "q",
                "must be > 1 for the mean spend to exist (the fitted spend distribution has a "
                "heavy tail)",
                value=q,
                hint="check for extreme order values, or fit on more repeat buyers",
            )
        return p, q, gamma

    def population_mean(self) -> float:
        """Mean order value across customers: p gamma / (q - 1)."""
        p, q, gamma = self._params()
        return p * gamma / (q - 1)

    def expected_spend(self, x: NDArray[Any], m_x: NDArray[Any]) -> NDArray[np.float64]:
        """E[M | x, m_x] = (p (gamma + x m_x)) / (p x + q - 1); the population mean where x < 1.

        Equivalently a weighted mean of the population mean (weight (q - 1) / (p x + q - 1)) and
        the customer's own mean m_x (weight p x / (p x + q - 1)).
        """
        p, q, gamma = self._params()
        x = np.asarray(x, dtype=float)
        m_x = np.asarray(m_x, dtype=float)
        seen = x >= 1
        xs = np.where(seen, x, 0.0)
        ms = np.where(seen, m_x, 0.0)
        return p * (gamma + xs * ms) / (p * xs + q - 1)

    def conditional_expected_average_profit(self, profiles: pd.DataFrame) -> NDArray[np.float64]:
        """Expected value of each customer's future orders, E[M | x, m_x].

        Customers without a repeat order (x = 0, and users who never bought) get the population
        mean p gamma / (q - 1). Raises :class:`ValidationError` when q <= 1.
        """
        self._params()  # not fitted or q <= 1: say so before reading the profiles
        x, m_x = gamma_gamma_inputs(profiles)
        return self.expected_spend(x, m_x)


def customer_lifetime_value(
    bgnbd: BGNBDModel,
    gamma_gamma: GammaGammaModel,
    profiles: pd.DataFrame,
    horizon_days: float,
    discount_rate_per_period: float = 0.01,
    period_days: float = 30,
) -> NDArray[np.float64]:
    """Expected discounted revenue of each customer over the next ``horizon_days``.

    CLV = sum over periods k = 1..K of (E[Y(t_k)] - E[Y(t_{k-1})]) * E[M] / (1 + d) ** k, with
    t_k = min(k * period_days, horizon_days), E[Y] the BG/NBD expected purchases and E[M] the
    Gamma-Gamma expected order value (a customer without repeat orders gets the population mean;
    purchases and spend are independent in the model). Revenue in a period is discounted at its
    end. Users who never bought get NaN (BG/NBD is undefined for them).

    Examples
    --------
    >>> clv_90 = customer_lifetime_value(bg, gg, profiles, 90)  # doctest: +SKIP
    """
    if not horizon_days > 0:
        raise ValidationError("horizon_days", "must be > 0", value=horizon_days)
    if not period_days > 0:
        raise ValidationError("period_days", "must be > 0", value=period_days)
    if not discount_rate_per_period >= 0:
        raise ValidationError(
            "discount_rate_per_period", "must be >= 0", value=discount_rate_per_period
        )
    spend = gamma_gamma.conditional_expected_average_profit(profiles)
    n_periods = int(np.ceil(horizon_days / period_days - 1e-12))
    value = np.zeros(len(profiles))
    before = np.zeros(len(profiles))
    for k in range(1, n_periods + 1):
        upto = bgnbd.expected_purchases(profiles, min(k * period_days, horizon_days))
        value += (upto - before) / (1 + discount_rate_per_period) ** k
        before = upto
    return value * spend


#: columns :func:`add_lifetime_value` writes (NaN where a model could not be fitted)
LIFETIME_COLUMNS = ("p_alive", "expected_purchases", "expected_order_value", "clv")


def add_lifetime_value(
    profiles: pd.DataFrame, horizon_days: float, discount_rate_per_period: float = 0.01
) -> dict[str, Any]:
    """Fit BG/NBD and Gamma-Gamma on ``profiles`` and add the columns of ``LIFETIME_COLUMNS``.

    ``p_alive`` and ``expected_purchases`` (over the next ``horizon_days``) come from BG/NBD,
    ``expected_order_value`` from Gamma-Gamma, ``clv`` is their discounted product
    (:func:`customer_lifetime_value`). Users who never bought get NaN. When a model cannot be
    fitted (too few repeat buyers, a degenerate spend distribution) the columns stay NaN and the
    returned metadata says why; profiles are never lost for it.
    """
    for column in LIFETIME_COLUMNS:
        profiles[column] = np.nan
    meta: dict[str, Any] = {"horizon_days": float(horizon_days)}
    try:
        bgnbd = BGNBDModel().fit(profiles)
        profiles["p_alive"] = bgnbd.p_alive(profiles)
        profiles["expected_purchases"] = bgnbd.expected_purchases(profiles, horizon_days)
        meta["bgnbd"] = {k: float(v) for k, v in bgnbd.params_.items()}
        gamma_gamma = GammaGammaModel().fit(profiles)
        profiles["expected_order_value"] = gamma_gamma.conditional_expected_average_profit(profiles)
        profiles["clv"] = customer_lifetime_value(
            bgnbd, gamma_gamma, profiles, horizon_days, discount_rate_per_period
        )
        meta["gamma_gamma"] = {k: float(v) for k, v in gamma_gamma.params_.items()}
        meta["fitted"] = True
    except (ValidationError, NotFittedError, FloatingPointError) as exc:
        meta |= {"fitted": False, "reason": str(exc)}
    return meta


def reliability_bins(y: NDArray[Any], p: NDArray[Any], n_bins: int = 10) -> pd.DataFrame:
    """Equal-width reliability bins: mean predicted probability, observed rate and count."""
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0, 1)
    b = np.minimum((p * n_bins).astype(int), n_bins - 1)
    df = pd.DataFrame({"bin": b, "p": p, "y": y})
    g = df.groupby("bin").agg(mean_predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
    g = g.reindex(range(n_bins))
    g["n"] = g["n"].fillna(0).astype(int)
    g.insert(0, "low", np.arange(n_bins) / n_bins)
    g.insert(1, "high", (np.arange(n_bins) + 1) / n_bins)
    return g.reset_index(drop=True)


def calibration_summary(y: NDArray[Any], p: NDArray[Any], n_bins: int = 10) -> dict[str, Any]:
    """AUC, Brier score, expected calibration error and the reliability bins of scores ``p``."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), 0, 1)
    bins = reliability_bins(y, p, n_bins)
    ok = bins["n"] > 0
    ece = float(
        (
            bins.loc[ok, "n"] * (bins.loc[ok, "mean_predicted"] - bins.loc[ok, "observed"]).abs()
        ).sum()
        / max(len(y), 1)
    )
    return {
        "auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "ece": ece,
        "reliability": bins.to_dict(orient="list"),
    }


def window_labels(
    source: EventSource,
    start: pd.Timestamp,
    end: pd.Timestamp,
    item_price: pd.Series | None = None,
) -> pd.DataFrame:
    """Per user: whether they bought in ``(start, end]`` and how much they spent."""
    parts: list[pd.DataFrame] = []
    for chunk in iter_events(source):
        parts.append(purchase_labels(chunk, start, end, item_price))
    return _sum_labels(parts)


def purchase_labels(
    chunk: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, item_price: pd.Series | None
) -> pd.DataFrame:
    """One row per purchase line of ``chunk`` in ``(start, end]``: ``user_id, spend, bought``
    (spend by :func:`~campaignrec.profiles.state.line_revenue`); sum them per user."""
    ts = pd.to_datetime(chunk[TIMESTAMP], utc=True)
    sel = ((chunk["event_type"] == "purchase") & (ts > start) & (ts <= end)).to_numpy()
    ev = chunk.loc[sel]
    _, rev = line_revenue(ev, item_price)
    return pd.DataFrame({USER_ID: ev[USER_ID].astype(str).to_numpy(), "spend": rev, "bought": 1})


def _sum_labels(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({USER_ID: pd.Series(dtype=object), "bought": [], "spend": []})
    out = (
        pd.concat(parts)
        .groupby(USER_ID, as_index=False)
        .agg(spend=("spend", "sum"), bought=("bought", "max"))
    )
    return out[[USER_ID, "bought", "spend"]]


def time_split_states(
    source: EventSource,
    cutoffs: list[pd.Timestamp],
    end: pd.Timestamp,
    items: pd.DataFrame | None = None,
    config: ProfileConfig | None = None,
) -> tuple[list[ProfileState], list[pd.DataFrame]]:
    """One pass over the events: a state per cutoff and the labels of ``(cutoff, next cutoff]``.

    The window after the last cutoff ends at ``end``.
    """
    states = [ProfileState(items, config) for _ in cutoffs]
    bounds = [*cutoffs, end]
    parts: list[list[pd.DataFrame]] = [[] for _ in cutoffs]
    price = states[0].item_price if states else None
    for chunk in iter_events(source):
        ts = pd.to_datetime(chunk[TIMESTAMP], utc=True)
        for i, c in enumerate(cutoffs):
            states[i].apply(chunk.loc[(ts <= c).to_numpy()])
            parts[i].append(purchase_labels(chunk, c, bounds[i + 1], price))
    return states, [_sum_labels(p) for p in parts]


def attach_labels(
    profiles: pd.DataFrame, labels: pd.DataFrame
) -> tuple[NDArray[Any], NDArray[Any]]:
    """Align labels on the rows of ``profiles`` (users without purchases: 0, 0)."""
    lab = labels.set_index(USER_ID).reindex(profiles[USER_ID].to_numpy())
    return lab["bought"].fillna(0).to_numpy(int), lab["spend"].fillna(0.0).to_numpy(float)


def evaluate_purchase_model(
    source: EventSource,
    *,
    end: pd.Timestamp,
    items: pd.DataFrame | None = None,
    config: ProfileConfig | None = None,
    model_config: PurchaseModelConfig | None = None,
) -> dict[str, Any]:
    """Validate the purchase model on a time split and compare it with the baselines.

    Train: features at ``end - 2 h`` with labels in ``(end - 2 h, end - h]``; test: features at
    ``end - h`` with labels in ``(end - h, end]`` (``h`` = horizon). Baselines on the test users:
    "bought in the last h days" as a 0/1 score, and the same rule turned into the two purchase
    rates observed in the training window (a calibrated version of the rule).

    The BG/NBD model (fitted on the training users' purchase histories; non-buyers score 0) is
    reported as a second model under ``"bgnbd"``.

    Returns
    -------
    dict with the split dates, population sizes, and per scorer AUC, Brier, ECE and reliability
    bins, and spend errors (MAE) of the model against a run-rate baseline.
    """
    cfg = config or ProfileConfig()
    h = pd.Timedelta(days=cfg.horizon_days)
    c_train, c_test = end - 2 * h, end - h
    states, labels = time_split_states(source, [c_train, c_test], end, items, cfg)
    train = states[0].profiles(as_of=c_train)
    test = states[1].profiles(as_of=c_test)
    y_tr, s_tr = attach_labels(train, labels[0])
    y_te, s_te = attach_labels(test, labels[1])
    model = PurchaseModel(model_config or PurchaseModelConfig(seed=cfg.seed)).fit(train, y_tr, s_tr)
    p_model = model.predict_proba(test)
    recent_tr = (train["recency_days"] < cfg.horizon_days).to_numpy()
    recent_te = (test["recency_days"] < cfg.horizon_days).to_numpy()
    rate_recent = float(y_tr[recent_tr].mean()) if recent_tr.any() else 0.0
    rate_other = float(y_tr[~recent_tr].mean()) if (~recent_tr).any() else 0.0
    p_rule = recent_te.astype(float)
    p_rule_cal = np.where(recent_te, rate_recent, rate_other)
    try:
        bg = BGNBDModel().fit(train)
        p_bg = np.nan_to_num(bg.predict_proba(test, cfg.horizon_days), nan=0.0)
        bg_summary: dict[str, Any] = {**calibration_summary(y_te, p_bg), "params": bg.params_}
    except ValidationError as exc:
        bg_summary = {"fitted": False, "reason": str(exc)}
    spend_model = model.predict_spend(test)
    run_rate = (
        test["monetary"].to_numpy(float)
        / np.maximum(test["days_since_first_seen"].fillna(0).to_numpy(float), 1.0)
        * cfg.horizon_days
    )
    return {
        "train_cutoff": c_train.isoformat(),
        "test_cutoff": c_test.isoformat(),
        "end": end.isoformat(),
        "horizon_days": cfg.horizon_days,
        "n_train": len(train),
        "n_test": len(test),
        "train_positive_rate": float(y_tr.mean()),
        "test_positive_rate": float(y_te.mean()),
        "model": calibration_summary(y_te, p_model),
        "baseline_bought_last_h": calibration_summary(y_te, p_rule),
        "baseline_bought_last_h_calibrated": calibration_summary(y_te, p_rule_cal),
        "bgnbd": bg_summary,
        "spend_mae_model": float(np.mean(np.abs(spend_model - s_te))),
        "spend_mae_run_rate": float(np.mean(np.abs(run_rate - s_te))),
        "spend_total_actual": float(s_te.sum()),
        "spend_total_model": float(spend_model.sum()),
    }
