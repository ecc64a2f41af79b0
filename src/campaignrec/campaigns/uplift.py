"""Uplift learners: the change a campaign causes, not who would respond anyway.

Every learner follows one small scikit-learn style contract::

    learner = TLearner(random_state=0).fit(X, treatment, outcome)
    tau = learner.predict_uplift(X)

* ``X``: 2-D float array (n_rows, n_features), finite.
* ``treatment``: 1-D array of arm labels; rows equal to ``control`` (default ``0``) are the control
  group, every other distinct value is a treatment arm. Several arms are handled one-vs-control.
* ``outcome``: 1-D numeric array; binary (0/1) outcomes are modelled with classifiers
  (probabilities), anything else with regressors.
* ``predict_uplift`` returns shape ``(n_rows,)`` when there is exactly one treatment arm, and
  ``(n_rows, n_treatments)`` otherwise, the columns in the order of ``treatments_``.
  ``predict_uplift_matrix`` always returns the 2-D form.

Learners: :class:`SLearner`, :class:`TLearner`, :class:`XLearner` and
:class:`TransformedOutcomeLearner`. The base models are LightGBM (default) or (regularised)
logistic / ridge regression from scikit-learn. Parameters are stored by ``__init__``; learned
attributes end in ``_``; all randomness flows from ``random_state``.

The evaluation metrics (Qini, AUUC, uplift@k with bootstrap intervals) live in
:mod:`campaignrec.campaigns.uplift_metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import NotFittedError, ValidationError

BaseModelName = Literal["lightgbm", "logistic"]
OutcomeType = Literal["auto", "binary", "continuous"]

__all__ = [
    "LEARNERS",
    "BaseUpliftLearner",
    "SLearner",
    "TLearner",
    "TransformedOutcomeLearner",
    "XLearner",
    "make_uplift_learner",
]


# ---- base models -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Constant:
    """A model for a group whose outcome never varies (e.g. no conversions at all)."""

    value: float

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.full(X.shape[0], self.value, dtype=np.float64)


class _Fitted:
    """A fitted base model that predicts a probability (classifier) or a value (regressor)."""

    def __init__(self, model: Any, *, proba: bool) -> None:
        self.model = model
        self.proba = proba

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.proba:
            return np.asarray(self.model.predict_proba(X)[:, 1], dtype=np.float64)
        return np.asarray(self.model.predict(X), dtype=np.float64)


def _fit_base(
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    *,
    task: Literal["classification", "regression"],
    base_model: BaseModelName,
    params: dict[str, Any],
    seed: int,
) -> _Fitted | _Constant:
    """Fit one base model; a constant target gives a constant model instead of a crash."""
    if y.size == 0:
        raise ValidationError(
            "outcome", "a learner group has no rows", hint="check treatment labels"
        )
    if np.all(y == y[0]):
        return _Constant(float(y[0]))
    if base_model == "lightgbm":
        import lightgbm as lgb

        common = {
            "n_estimators": params["n_estimators"],
            "learning_rate": params["learning_rate"],
            "num_leaves": params["num_leaves"],
            "min_child_samples": params["min_child_samples"],
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
            "random_state": seed,
            "n_jobs": params["n_jobs"],
            "verbose": -1,
        }
        if task == "classification":
            model: Any = lgb.LGBMClassifier(**common)
            model.fit(X, y.astype(np.int64))
            return _Fitted(model, proba=True)
        model = lgb.LGBMRegressor(**common)
        model.fit(X, y)
        return _Fitted(model, proba=False)
    if base_model == "logistic":
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if task == "classification":
            model = make_pipeline(
                StandardScaler(), LogisticRegression(C=params["C"], max_iter=1000)
            )
            model.fit(X, y.astype(np.int64))
            return _Fitted(model, proba=True)
        model = make_pipeline(StandardScaler(), Ridge(alpha=1.0 / params["C"]))
        model.fit(X, y)
        return _Fitted(model, proba=False)
    raise ValidationError(
        "base_model", "unknown base model", value=base_model, hint="use 'lightgbm' or 'logistic'"
    )


# ---- input checks ------------------------------------------------------------------------------


def _check_X(X: ArrayLike, name: str = "X") -> NDArray[np.float64]:
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValidationError(name, "must be a 2-D array (rows x features)", value=arr.shape)
    if not np.all(np.isfinite(arr)):
        raise ValidationError(name, "contains NaN or infinite values", hint="impute them first")
    return arr


def _check_fit_inputs(
    X: ArrayLike, treatment: ArrayLike, outcome: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[Any], NDArray[np.float64]]:
    Xa = _check_X(X)
    t = np.asarray(treatment)
    y = np.asarray(outcome, dtype=np.float64)
    if t.ndim != 1 or y.ndim != 1:
        raise ValidationError("treatment/outcome", "must be 1-D arrays", value=(t.shape, y.shape))
    if not (len(t) == len(y) == Xa.shape[0]):
        raise ValidationError(
            "treatment/outcome",
            "lengths differ from the number of rows of X",
            value=(Xa.shape[0], len(t), len(y)),
        )
    if not np.all(np.isfinite(y)):
        raise ValidationError("outcome", "contains NaN or infinite values")
    return Xa, t, y


# ---- learners ----------------------------------------------------------------------------------


class BaseUpliftLearner:
    """Shared bookkeeping of every uplift learner (see the module docstring for the contract).

    Parameters
    ----------
    base_model : {"lightgbm", "logistic"}
        Family of the outcome models ("logistic" means logistic regression for binary outcomes
        and ridge regression for continuous ones, both on standardised features).
    control : scalar
        The treatment label of the control group.
    outcome_type : {"auto", "binary", "continuous"}
        "auto" treats an outcome whose values are all 0 or 1 as binary.
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM parameters.
    C : float
        Inverse regularisation strength of the linear models.
    n_jobs : int
        Threads for LightGBM.
    random_state : int
        Seed of every stochastic step.
    """

    name = "base"

    def __init__(
        self,
        *,
        base_model: BaseModelName = "lightgbm",
        control: Any = 0,
        outcome_type: OutcomeType = "auto",
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 50,
        C: float = 1.0,
        n_jobs: int = 1,
        random_state: int = 0,
    ) -> None:
        self.base_model = base_model
        self.control = control
        self.outcome_type = outcome_type
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.C = C
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- helpers for subclasses --
    def _params(self) -> dict[str, Any]:
        return {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "C": self.C,
            "n_jobs": self.n_jobs,
        }

    def _fit_outcome(
        self, X: NDArray[np.float64], y: NDArray[np.float64], seed_offset: int
    ) -> _Fitted | _Constant:
        task: Literal["classification", "regression"] = (
            "classification" if self.binary_outcome_ else "regression"
        )
        return _fit_base(
            X,
            y,
            task=task,
            base_model=self.base_model,
            params=self._params(),
            seed=self.random_state + seed_offset,
        )

    def _fit_effect(
        self, X: NDArray[np.float64], y: NDArray[np.float64], seed_offset: int
    ) -> _Fitted | _Constant:
        return _fit_base(
            X,
            y,
            task="regression",
            base_model=self.base_model,
            params=self._params(),
            seed=self.random_state + seed_offset,
        )

    def _prepare(
        self, X: ArrayLike, treatment: ArrayLike, outcome: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[Any], NDArray[np.float64]]:
        if self.base_model not in ("lightgbm", "logistic"):
            raise ValidationError(
                "base_model",
                "unknown base model",
                value=self.base_model,
                hint="use 'lightgbm' or 'logistic'",
            )
        Xa, t, y = _check_fit_inputs(X, treatment, outcome)
        is_control = t == self.control
        if not np.any(is_control):
            raise ValidationError(
                "treatment",
                f"no control rows (label {self.control!r})",
                hint="pass control=<label of the untreated group>",
            )
        arms = [a for a in np.unique(t) if a != self.control]
        if not arms:
            raise ValidationError("treatment", "no treated rows: every row is control")
        if self.outcome_type == "auto":
            self.binary_outcome_ = bool(np.all((y == 0.0) | (y == 1.0)))
        elif self.outcome_type in ("binary", "continuous"):
            self.binary_outcome_ = self.outcome_type == "binary"
            if self.binary_outcome_ and not np.all((y == 0.0) | (y == 1.0)):
                raise ValidationError("outcome", "outcome_type='binary' needs 0/1 outcomes")
        else:
            raise ValidationError("outcome_type", "unknown", value=self.outcome_type)
        self.treatments_ = np.asarray(arms)
        self.n_features_in_ = Xa.shape[1]
        return Xa, t, y

    def _check_fitted(self, X: ArrayLike) -> NDArray[np.float64]:
        if not hasattr(self, "treatments_"):
            raise NotFittedError(type(self).__name__)
        Xa = _check_X(X)
        if Xa.shape[1] != self.n_features_in_:
            raise ValidationError(
                "X",
                f"has {Xa.shape[1]} features but the learner was fitted on {self.n_features_in_}",
            )
        return Xa

    # -- public contract --
    def fit(self, X: ArrayLike, treatment: ArrayLike, outcome: ArrayLike) -> BaseUpliftLearner:
        """Fit on logged treatment assignments and outcomes; returns ``self``."""
        Xa, t, y = self._prepare(X, treatment, outcome)
        is_control = t == self.control
        self.models_: list[Any] = []
        for k, arm in enumerate(self.treatments_):
            mask = is_control | (t == arm)
            w = (t[mask] == arm).astype(np.float64)
            self.models_.append(self._fit_arm(Xa[mask], w, y[mask], seed_offset=17 * k))
        return self

    def _fit_arm(
        self,
        X: NDArray[np.float64],
        w: NDArray[np.float64],
        y: NDArray[np.float64],
        seed_offset: int,
    ) -> Any:
        raise NotImplementedError

    def _predict_arm(self, fitted: Any, X: NDArray[np.float64]) -> NDArray[np.float64]:
        raise NotImplementedError

    def predict_uplift_matrix(self, X: ArrayLike) -> NDArray[np.float64]:
        """Uplift of every arm versus control, shape ``(n_rows, n_treatments)``."""
        Xa = self._check_fitted(X)
        return np.column_stack([self._predict_arm(m, Xa) for m in self.models_])

    def predict_uplift(self, X: ArrayLike) -> NDArray[np.float64]:
        """Estimated uplift: ``(n_rows,)`` with one treatment arm, else ``(n_rows, n_arms)``.

        Parameters
        ----------
        X : array-like of shape (n_rows, n_features)

        Returns
        -------
        ndarray
            Expected outcome under treatment minus expected outcome under control.
        """
        out = self.predict_uplift_matrix(X)
        return out[:, 0] if out.shape[1] == 1 else out

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (scikit-learn style)."""
        return {
            "base_model": self.base_model,
            "control": self.control,
            "outcome_type": self.outcome_type,
            **self._params(),
            "random_state": self.random_state,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_model={self.base_model!r}, random_state={self.random_state})"


class SLearner(BaseUpliftLearner):
    """One outcome model with the treatment indicator as an extra feature.

    Uplift is ``f(x, 1) - f(x, 0)``. Cheap, but a tree model may ignore a weak treatment feature
    (its uplift shrinks towards zero).
    """

    name = "s"

    def _fit_arm(self, X, w, y, seed_offset):  # type: ignore[no-untyped-def]
        return self._fit_outcome(np.column_stack([X, w]), y, seed_offset)

    def _predict_arm(self, fitted, X):  # type: ignore[no-untyped-def]
        ones = np.ones((X.shape[0], 1))
        return fitted.predict(np.hstack([X, ones])) - fitted.predict(np.hstack([X, 0 * ones]))


class TLearner(BaseUpliftLearner):
    """Two outcome models, one on treated and one on control rows: ``mu1(x) - mu0(x)``."""

    name = "t"

    def _fit_arm(self, X, w, y, seed_offset):  # type: ignore[no-untyped-def]
        treated = w == 1.0
        mu0 = self._fit_outcome(X[~treated], y[~treated], seed_offset)
        mu1 = self._fit_outcome(X[treated], y[treated], seed_offset + 1)
        return (mu0, mu1)

    def _predict_arm(self, fitted, X):  # type: ignore[no-untyped-def]
        mu0, mu1 = fitted
        return mu1.predict(X) - mu0.predict(X)


def _propensity(
    X: NDArray[np.float64], w: NDArray[np.float64], how: str, clip: float, seed: int
) -> Any:
    """P(treated | x) within one arm-vs-control subset: the share (randomised data) or a model."""
    if how == "constant":
        return _Constant(float(np.clip(w.mean(), clip, 1 - clip)))
    if how == "logistic":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(X, w.astype(np.int64))
        return _Clipped(_Fitted(model, proba=True), clip)
    raise ValidationError(
        "propensity", "unknown propensity model", value=how, hint="use 'constant' or 'logistic'"
    )


@dataclass(frozen=True)
class _Clipped:
    inner: Any
    clip: float

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.clip(self.inner.predict(X), self.clip, 1 - self.clip)


class XLearner(BaseUpliftLearner):
    """X-learner (Künzel et al. 2019).

    Stage 1 fits ``mu0``, ``mu1`` as the T-learner does; stage 2 regresses the imputed effects
    ``y1 - mu0(x1)`` on treated rows and ``mu1(x0) - y0`` on control rows; the two effect models
    are blended with the propensity ``g(x)``: ``g * tau0 + (1 - g) * tau1``.

    Parameters
    ----------
    propensity : {"constant", "logistic"}
        "constant" (the treated share, right for randomised campaigns) or a logistic model.
    propensity_clip : float
        Propensities are clipped to ``[clip, 1 - clip]``.
    **kwargs
        See :class:`BaseUpliftLearner`.
    """

    name = "x"

    def __init__(
        self,
        *,
        propensity: Literal["constant", "logistic"] = "constant",
        propensity_clip: float = 0.05,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.propensity = propensity
        self.propensity_clip = propensity_clip

    def _fit_arm(self, X, w, y, seed_offset):  # type: ignore[no-untyped-def]
        treated = w == 1.0
        X0, y0, X1, y1 = X[~treated], y[~treated], X[treated], y[treated]
        mu0 = self._fit_outcome(X0, y0, seed_offset)
        mu1 = self._fit_outcome(X1, y1, seed_offset + 1)
        tau1 = self._fit_effect(X1, y1 - mu0.predict(X1), seed_offset + 2)
        tau0 = self._fit_effect(X0, mu1.predict(X0) - y0, seed_offset + 3)
        g = _propensity(
            X, w, self.propensity, self.propensity_clip, self.random_state + seed_offset + 4
        )
        return (tau0, tau1, g)

    def _predict_arm(self, fitted, X):  # type: ignore[no-untyped-def]
        tau0, tau1, g = fitted
        gx = g.predict(X)
        return gx * tau0.predict(X) + (1.0 - gx) * tau1.predict(X)

    def get_params(self) -> dict[str, Any]:
        return {
            **super().get_params(),
            "propensity": self.propensity,
            "propensity_clip": self.propensity_clip,
        }


class TransformedOutcomeLearner(BaseUpliftLearner):
    """Transformed-outcome (class-variable transformation) learner.

    With propensity ``p = P(treated | x)``, ``z = y (w - p) / (p (1 - p))`` has
    ``E[z | x] = uplift(x)``; one regressor is fitted to ``z``. Unbiased but noisy: it needs more
    data than the T- and X-learners for the same ranking quality.

    Parameters
    ----------
    propensity : {"constant", "logistic"}
        As in :class:`XLearner`.
    propensity_clip : float
        Propensities are clipped to ``[clip, 1 - clip]``.
    **kwargs
        See :class:`BaseUpliftLearner`.
    """

    name = "to"

    def __init__(
        self,
        *,
        propensity: Literal["constant", "logistic"] = "constant",
        propensity_clip: float = 0.05,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.propensity = propensity
        self.propensity_clip = propensity_clip

    def _fit_arm(self, X, w, y, seed_offset):  # type: ignore[no-untyped-def]
        g = _propensity(
            X, w, self.propensity, self.propensity_clip, self.random_state + seed_offset + 4
        )
        p = g.predict(X)
        z = y * (w - p) / (p * (1.0 - p))
        return self._fit_effect(X, z, seed_offset)

    def _predict_arm(self, fitted, X):  # type: ignore[no-untyped-def]
        return fitted.predict(X)

    def get_params(self) -> dict[str, Any]:
        return {
            **super().get_params(),
            "propensity": self.propensity,
            "propensity_clip": self.propensity_clip,
        }


LEARNERS: dict[str, type[BaseUpliftLearner]] = {
    "s": SLearner,
    "t": TLearner,
    "x": XLearner,
    "to": TransformedOutcomeLearner,
}


def make_uplift_learner(name: str, **params: Any) -> BaseUpliftLearner:
    """Build a learner by short name: ``"s"``, ``"t"``, ``"x"`` or ``"to"``.

    Parameters
    ----------
    name : str
        Short name of the learner.
    **params
        Constructor parameters of that learner.

    Returns
    -------
    BaseUpliftLearner
        An unfitted learner.
    """
    try:
        cls = LEARNERS[name]
    except KeyError:
        raise ValidationError(
            "learner", "unknown uplift learner", value=name, hint=f"use one of {sorted(LEARNERS)}"
        ) from None
    return cls(**params)
