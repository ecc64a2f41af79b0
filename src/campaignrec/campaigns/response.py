"""Response model: calibrated P(response | user, campaign) from logged impressions.

A LightGBM or logistic-regression classifier is fitted on one part of the impressions and
calibrated (isotonic or Platt) on a held-out, stratified part, so the probabilities can be used
as expected costs and responses in allocation (a coupon's expected cost is P(redeem) x cost).

Saved without pickle: ``meta.json`` (parameters, feature names, metrics), the LightGBM model in
its text format (``base.txt``), and the logistic coefficients and scaler and the calibration map
in ``arrays.npz``. The base models are the ones the uplift learners use
(:func:`campaignrec.campaigns.uplift.fit_base_model`). Predictions after :meth:`ResponseModel.load` are identical
to those before saving.

Example
-------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(2000, 3)); y = (rng.random(2000) < 1 / (1 + np.exp(-X[:, 0]))).astype(int)
>>> p = ResponseModel(base_model="logistic").fit(X, y).predict_proba(X)
>>> bool(0 <= p.min() and p.max() <= 1)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.campaigns.uplift import (
    BaseModelSettings,
    dump_base_model,
    fit_base_model,
    load_base_model,
    read_model_meta,
    write_model_folder,
)
from campaignrec.errors import NotFittedError, ValidationError

__all__ = ["ResponseModel", "response_features"]

FORMAT_VERSION = 1


def response_features(
    user_features: ArrayLike,
    campaign_features: ArrayLike,
    user_idx: ArrayLike,
    campaign_idx: ArrayLike,
) -> NDArray[np.float64]:
    """Rows of (user features, campaign features) for logged (user, campaign) pairs.

    Parameters
    ----------
    user_features : array-like of shape (n_users, n_user_features)
    campaign_features : array-like of shape (n_campaigns, n_campaign_features)
    user_idx, campaign_idx : array-like of shape (n_rows,)
        Internal indices of each impression's user and campaign.

    Returns
    -------
    ndarray of shape (n_rows, n_user_features + n_campaign_features)
    """
    U = np.asarray(user_features, dtype=np.float64)
    C = np.asarray(campaign_features, dtype=np.float64)
    u = np.asarray(user_idx, dtype=np.int64)
    c = np.asarray(campaign_idx, dtype=np.int64)
    if U.ndim != 2 or C.ndim != 2:
        raise ValidationError("user_features/campaign_features", "must be 2-D arrays")
    if u.shape != c.shape:
        raise ValidationError("user_idx/campaign_idx", "lengths differ", value=(u.shape, c.shape))
    if len(u) and (u.min() < 0 or u.max() >= len(U) or c.min() < 0 or c.max() >= len(C)):
        raise ValidationError("user_idx/campaign_idx", "index out of range")
    return np.hstack([U[u], C[c]])


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-z))


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


@dataclass(kw_only=True, eq=False, repr=False)
class ResponseModel(BaseModelSettings):
    """Calibrated response classifier (scikit-learn style).

    Parameters
    ----------
    base_model, n_estimators, learning_rate, num_leaves, min_child_samples, C, n_jobs, random_state
        The classifier's settings: see :class:`~campaignrec.campaigns.uplift.BaseModelSettings`.
        ``random_state`` also seeds the calibration split.
    calibration : {"isotonic", "sigmoid", "none"}
        Isotonic regression or Platt scaling fitted on the held-out fold.
    calibration_fraction : float
        Share of rows (stratified by outcome) held out for calibration, in (0, 0.9].
    """

    calibration: Literal["isotonic", "sigmoid", "none"] = "isotonic"
    calibration_fraction: float = 0.25

    # ---- fitting ----
    def _check_params(self) -> None:
        self.check_base_model()
        if self.calibration not in ("isotonic", "sigmoid", "none"):
            raise ValidationError(
                "calibration",
                "unknown",
                value=self.calibration,
                hint="use 'isotonic', 'sigmoid' or 'none'",
            )
        if not 0.0 < self.calibration_fraction <= 0.9:
            raise ValidationError(
                "calibration_fraction", "must be in (0, 0.9]", value=self.calibration_fraction
            )

    def fit(
        self, X: ArrayLike, y: ArrayLike, *, feature_names: list[str] | None = None
    ) -> ResponseModel:
        """Fit the classifier and its calibration.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)
            One row per impression: user and campaign features (see :func:`response_features`).
        y : array-like of shape (n_rows,)
            1 if the impression got a response (click, claim, redemption), else 0.
        feature_names : list of str, optional
            Kept with the model and checked by nobody; for explanations and reports.

        Returns
        -------
        ResponseModel
            ``self``.
        """
        self._check_params()
        Xa = np.asarray(X, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64).ravel()
        if Xa.ndim != 2 or Xa.shape[0] != ya.shape[0]:
            raise ValidationError(
                "X/y", "X must be 2-D with one row per outcome", value=(Xa.shape, ya.shape)
            )
        if not np.all(np.isfinite(Xa)):
            raise ValidationError("X", "contains NaN or infinite values", hint="impute them first")
        if not np.all((ya == 0) | (ya == 1)):
            raise ValidationError("y", "responses must be 0 or 1")
        n_pos = int(ya.sum())
        if n_pos < 2 or n_pos > len(ya) - 2:
            raise ValidationError(
                "y", "needs at least 2 responses and 2 non-responses", value=n_pos
            )
        if feature_names is not None and len(feature_names) != Xa.shape[1]:
            raise ValidationError(
                "feature_names", f"needs {Xa.shape[1]} names", value=len(feature_names)
            )
        rng = np.random.default_rng(self.random_state)
        fit_rows, cal_rows = self._split(ya, rng)
        self.n_features_in_ = Xa.shape[1]
        self.feature_names_ = list(feature_names) if feature_names else None
        self.base_rate_ = float(ya.mean())
        self._fit_base(Xa[fit_rows], ya[fit_rows])
        raw = self._raw(Xa[cal_rows])
        self._fit_calibration(raw, ya[cal_rows])
        cal = self.predict_proba(Xa[cal_rows])
        yc = ya[cal_rows]
        self.holdout_metrics_ = {
            "rows": len(cal_rows),
            "brier_raw": float(np.mean((raw - yc) ** 2)),
            "brier": float(np.mean((cal - yc) ** 2)),
            "log_loss": float(
                -np.mean(
                    yc * np.log(np.clip(cal, 1e-12, 1))
                    + (1 - yc) * np.log(np.clip(1 - cal, 1e-12, 1))
                )
            ),
        }
        return self

    def _split(
        self, y: NDArray[np.float64], rng: np.random.Generator
    ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        if self.calibration == "none":
            rows = np.arange(len(y))
            return rows, rows
        fit_parts, cal_parts = [], []
        for cls in (0.0, 1.0):
            idx = rng.permutation(np.flatnonzero(y == cls))
            n_cal = max(1, round(self.calibration_fraction * len(idx)))
            n_cal = min(n_cal, len(idx) - 1)
            cal_parts.append(idx[:n_cal])
            fit_parts.append(idx[n_cal:])
        return np.sort(np.concatenate(fit_parts)), np.sort(np.concatenate(cal_parts))

    def _fit_base(self, X: NDArray[np.float64], y: NDArray[np.float64]) -> None:
        self.base_ = fit_base_model(
            X, y, task="classification", settings=self, seed=self.random_state
        )

    def _fit_calibration(self, raw: NDArray[np.float64], y: NDArray[np.float64]) -> None:
        self.iso_x_ = np.zeros(0)
        self.iso_y_ = np.zeros(0)
        self.platt_ = (1.0, 0.0)
        if self.calibration == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(raw, y)
            self.iso_x_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
            self.iso_y_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
        elif self.calibration == "sigmoid":
            from sklearn.linear_model import LogisticRegression

            lr = LogisticRegression(C=1e6, max_iter=1000)
            lr.fit(_logit(raw).reshape(-1, 1), y.astype(np.int64))
            self.platt_ = (float(lr.coef_[0, 0]), float(lr.intercept_[0]))

    # ---- prediction ----
    def _check_X(self, X: ArrayLike) -> NDArray[np.float64]:
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError("ResponseModel")
        Xa = np.asarray(X, dtype=np.float64)
        if Xa.ndim != 2 or Xa.shape[1] != self.n_features_in_:
            raise ValidationError(
                "X", f"must be 2-D with {self.n_features_in_} features", value=Xa.shape
            )
        return Xa

    def _raw(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return self.base_.predict(X)

    def predict_proba(self, X: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probability of a response for each row, shape ``(n_rows,)``."""
        Xa = self._check_X(X)
        raw = self._raw(Xa)
        if self.calibration == "isotonic":
            return np.interp(raw, self.iso_x_, self.iso_y_)
        if self.calibration == "sigmoid":
            a, b = self.platt_
            return _sigmoid(a * _logit(raw) + b)
        return raw

    # ---- persistence ----
    def save(self, path: str | Path) -> Path:
        """Write the fitted model into directory ``path`` (created); returns it."""
        if not hasattr(self, "n_features_in_"):
            raise NotFittedError("ResponseModel")
        arrays: dict[str, Any] = {"iso_x": self.iso_x_, "iso_y": self.iso_y_}
        texts: dict[str, str] = {}
        meta = {
            "format": "campaignrec.response",
            "version": FORMAT_VERSION,
            "params": self.get_params(),
            "n_features_in": self.n_features_in_,
            "feature_names": self.feature_names_,
            "base_rate": self.base_rate_,
            "holdout_metrics": self.holdout_metrics_,
            "platt": list(self.platt_),
            "base": dump_base_model(self.base_, "base", arrays, texts),
        }
        return write_model_folder(path, meta, arrays, texts)

    @classmethod
    def load(cls, path: str | Path) -> ResponseModel:
        """Read a model written by :meth:`save`."""
        d, meta = read_model_meta(
            path, fmt="campaignrec.response", version=FORMAT_VERSION, what="response model"
        )
        model = cls(**meta["params"])
        model.n_features_in_ = int(meta["n_features_in"])
        model.feature_names_ = meta["feature_names"]
        model.base_rate_ = float(meta["base_rate"])
        model.holdout_metrics_ = meta["holdout_metrics"]
        model.platt_ = (float(meta["platt"][0]), float(meta["platt"][1]))
        with np.load(d / "arrays.npz") as arrays:
            model.iso_x_ = arrays["iso_x"]
            model.iso_y_ = arrays["iso_y"]
            model.base_ = load_base_model(meta["base"], arrays, d)
        return model
