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
logistic / ridge regression from scikit-learn; their settings are defined once, in
:class:`BaseModelSettings`, which :class:`~campaignrec.campaigns.response.ResponseModel` shares.
Parameters are stored by ``__init__``; learned attributes end in ``_``; all randomness flows from
``random_state``.

The evaluation metrics (Qini, AUUC, uplift@k with bootstrap intervals) live in
:mod:`campaignrec.campaigns.uplift_metrics`.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import ConfigError, NotFittedError, ValidationError

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


@dataclass(frozen=True)
class _Linear:
    """``link((X - mean) / scale @ coef + intercept)``: fitted logistic or ridge regression."""

    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    coef: NDArray[np.float64]
    intercept: float
    logistic: bool

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        z = ((X - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z)) if self.logistic else z


class _Boosted:
    """A LightGBM booster: probabilities for a binary objective, values for regression."""

    def __init__(self, booster: Any) -> None:
        self.booster = booster

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(self.booster.predict(X), dtype=np.float64)


@dataclass(frozen=True)
class _Clipped:
    inner: Any
    clip: float

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.clip(self.inner.predict(X), self.clip, 1 - self.clip)


_Model = _Constant | _Linear | _Boosted | _Clipped


def _fit_linear(
    X: NDArray[np.float64], y: NDArray[np.float64], *, logistic: bool, C: float
) -> _Linear:
    from sklearn.linear_model import LogisticRegression, Ridge

    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Z = (X - mean) / scale
    if logistic:
        lr = LogisticRegression(C=C, max_iter=1000)
        lr.fit(Z, y.astype(np.int64))
        return _Linear(
            mean, scale, lr.coef_.ravel().astype(np.float64), float(lr.intercept_[0]), True
        )
    ridge = Ridge(alpha=1.0 / C)
    ridge.fit(Z, y)
    return _Linear(
        mean,
        scale,
        np.asarray(ridge.coef_, dtype=np.float64).ravel(),
        float(ridge.intercept_),
        False,
    )


@dataclass(kw_only=True, eq=False, repr=False)
class BaseModelSettings:
    """The base-model settings every response model and uplift learner takes, defined once.

    Estimators inherit from this dataclass and add their own fields with
    ``@dataclass(kw_only=True, eq=False, repr=False)``: the generated ``__init__`` only stores
    keyword parameters (the scikit-learn contract), ``eq=False`` keeps identity equality and
    hashing, and :meth:`get_params` lists every field, so it always matches the constructor.

    Parameters
    ----------
    base_model : {"lightgbm", "logistic"}
        Family of the base models ("logistic" means logistic regression for classification and
        ridge regression for regression, both on standardised features).
    n_estimators, learning_rate, num_leaves, min_child_samples : LightGBM parameters.
    C : float
        Inverse regularisation strength of the linear models.
    n_jobs : int
        Threads for LightGBM.
    random_state : int
        Seed of every stochastic step.
    """

    base_model: BaseModelName = "lightgbm"
    n_estimators: int = 200
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 50
    C: float = 1.0
    n_jobs: int = 1
    random_state: int = 0

    def get_params(self) -> dict[str, Any]:
        """The constructor parameters (scikit-learn style)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def check_base_model(self) -> None:
        """Raise :class:`ValidationError` unless ``base_model`` names a known family."""
        if self.base_model not in ("lightgbm", "logistic"):
            raise ValidationError(
                "base_model",
                "unknown base model",
                value=self.base_model,
                hint="use 'lightgbm' or 'logistic'",
            )


def fit_base_model(
    X: NDArray[np.float64],
    y: NDArray[np.float64],
    *,
    task: Literal["classification", "regression"],
    settings: BaseModelSettings,
    seed: int,
) -> _Model:
    """Fit one base model (shared with :mod:`campaignrec.campaigns.response`).

    ``settings`` gives the family (``settings.base_model``) and its hyper-parameters; ``seed``
    overrides ``settings.random_state`` so that one estimator can fit several seeded models.
    Returns a small predictor whose ``predict(X)`` gives probabilities (classification) or values
    (regression); a constant target gives a constant model instead of a crash. The predictor is
    saved by :func:`dump_base_model` and restored by :func:`load_base_model` without pickle.
    """
    settings.check_base_model()
    if y.size == 0:
        raise ValidationError(
            "outcome", "a learner group has no rows", hint="check treatment labels"
        )
    if np.all(y == y[0]):
        return _Constant(float(y[0]))
    if settings.base_model == "lightgbm":
        import lightgbm as lgb

        common: dict[str, Any] = {
            "n_estimators": settings.n_estimators,
            "learning_rate": settings.learning_rate,
            "num_leaves": settings.num_leaves,
            "min_child_samples": settings.min_child_samples,
            "subsample": 0.8,
            "subsample_freq": 1,
            "colsample_bytree": 0.8,
            "reg_lambda": 1.0,
            "random_state": seed,
            "n_jobs": settings.n_jobs,
            "verbose": -1,
        }
        if task == "classification":
            model: Any = lgb.LGBMClassifier(**common)
            model.fit(X, y.astype(np.int64))
        else:
            model = lgb.LGBMRegressor(**common)
            model.fit(X, y)
        return _Boosted(model.booster_)
    return _fit_linear(X, y, logistic=task == "classification", C=settings.C)


# ---- persistence of fitted components (no pickle) -----------------------------------------------


def dump_base_model(
    m: _Model, prefix: str, arrays: dict[str, Any], texts: dict[str, str]
) -> dict[str, Any]:
    """JSON description of a fitted base model; its arrays and model texts go to the side tables.

    ``arrays`` is later written with ``numpy.savez`` and every ``texts[key]`` to ``<key>.txt``.
    """
    if isinstance(m, _Constant):
        return {"kind": "constant", "value": m.value}
    if isinstance(m, _Linear):
        for name in ("mean", "scale", "coef"):
            arrays[f"{prefix}_{name}"] = getattr(m, name)
        return {"kind": "linear", "key": prefix, "intercept": m.intercept, "logistic": m.logistic}
    if isinstance(m, _Boosted):
        texts[prefix] = m.booster.model_to_string()
        return {"kind": "lightgbm", "key": prefix}
    if isinstance(m, _Clipped):
        return {
            "kind": "clipped",
            "clip": m.clip,
            "inner": dump_base_model(m.inner, prefix, arrays, texts),
        }
    raise TypeError(f"cannot save {type(m).__name__}")  # pragma: no cover


def load_base_model(spec: dict[str, Any], arrays: Any, folder: Path) -> _Model:
    """Rebuild a base model from :func:`dump_base_model`'s description, arrays and folder."""
    kind = spec["kind"]
    if kind == "constant":
        return _Constant(float(spec["value"]))
    if kind == "linear":
        k = spec["key"]
        return _Linear(
            np.asarray(arrays[f"{k}_mean"]),
            np.asarray(arrays[f"{k}_scale"]),
            np.asarray(arrays[f"{k}_coef"]),
            float(spec["intercept"]),
            bool(spec["logistic"]),
        )
    if kind == "lightgbm":
        import lightgbm as lgb

        text = (folder / f"{spec['key']}.txt").read_text(encoding="utf-8")
        return _Boosted(lgb.Booster(model_str=text))
    if kind == "clipped":
        return _Clipped(load_base_model(spec["inner"], arrays, folder), float(spec["clip"]))
    raise ConfigError(f"unknown component kind {kind!r} in a saved uplift learner")


def write_model_folder(
    path: str | Path, meta: dict[str, Any], arrays: dict[str, Any], texts: dict[str, str]
) -> Path:
    """Write ``meta.json``, ``arrays.npz`` and every ``texts[key]`` as ``<key>.txt`` into ``path``.

    The folder is created; returns it. The tables are those filled by :func:`dump_base_model`.
    """
    d = Path(path)
    d.mkdir(parents=True, exist_ok=True)
    (d / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    np.savez(d / "arrays.npz", **arrays)
    for key, text in texts.items():
        (d / f"{key}.txt").write_text(text, encoding="utf-8")
    return d


def read_model_meta(
    path: str | Path, *, fmt: str, version: int, what: str
) -> tuple[Path, dict[str, Any]]:
    """The folder and ``meta.json`` of a model written by :func:`write_model_folder`.

    Raises :class:`ConfigError` unless ``meta.json`` exists and declares format ``fmt`` at
    ``version``; ``what`` names the model in the messages (``"uplift learner"``).
    """
    d = Path(path)
    meta_path = d / "meta.json"
    if not meta_path.is_file():
        raise ConfigError(f"no {what} at {str(d)!r} (meta.json missing)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != fmt or meta.get("version") != version:
        raise ConfigError(f"{str(meta_path)!r} is not a version-{version} campaignrec {what}")
    return d, meta


_FORMAT_VERSION = 1


def _plain(v: Any) -> Any:
    """numpy scalars to plain Python values for JSON."""
    return v.item() if isinstance(v, np.generic) else v


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


@dataclass(kw_only=True, eq=False, repr=False)
class BaseUpliftLearner(BaseModelSettings, ABC):
    """Shared bookkeeping of every uplift learner (see the module docstring for the contract).

    Parameters
    ----------
    base_model, n_estimators, learning_rate, num_leaves, min_child_samples, C, n_jobs, random_state
        The outcome and effect models' settings: see :class:`BaseModelSettings`.
    control : scalar
        The treatment label of the control group.
    outcome_type : {"auto", "binary", "continuous"}
        "auto" treats an outcome whose values are all 0 or 1 as binary.
    """

    name = "base"

    control: Any = 0
    outcome_type: OutcomeType = "auto"

    # -- helpers for subclasses --
    def _fit_outcome(
        self, X: NDArray[np.float64], y: NDArray[np.float64], seed_offset: int
    ) -> _Model:
        task: Literal["classification", "regression"] = (
            "classification" if self.binary_outcome_ else "regression"
        )
        return fit_base_model(X, y, task=task, settings=self, seed=self.random_state + seed_offset)

    def _fit_effect(
        self, X: NDArray[np.float64], y: NDArray[np.float64], seed_offset: int
    ) -> _Model:
        return fit_base_model(
            X, y, task="regression", settings=self, seed=self.random_state + seed_offset
        )

    def _prepare(
        self, X: ArrayLike, treatment: ArrayLike, outcome: ArrayLike
    ) -> tuple[NDArray[np.float64], NDArray[Any], NDArray[np.float64]]:
        self.check_base_model()
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
            parts = self._fit_arm(Xa[mask], w, y[mask], seed_offset=17 * k)
            self.models_.append(parts if isinstance(parts, tuple) else (parts,))
        return self

    @abstractmethod
    def _fit_arm(
        self,
        X: NDArray[np.float64],
        w: NDArray[np.float64],
        y: NDArray[np.float64],
        seed_offset: int,
    ) -> Any:
        """Fit one treatment arm against control."""

    @abstractmethod
    def _predict_arm(self, fitted: Any, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """Uplift of one fitted arm for rows ``X``."""

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

    def save(self, path: str | Path) -> Path:
        """Write the fitted learner into directory ``path`` without pickle; returns it.

        ``meta.json`` holds the parameters, arms and the structure of every fitted component;
        ``arrays.npz`` the linear models' coefficients; ``<component>.txt`` LightGBM boosters in
        their own text format. :meth:`load` restores identical predictions.
        """
        if not hasattr(self, "models_"):
            raise NotFittedError(type(self).__name__)
        arrays: dict[str, Any] = {}
        texts: dict[str, str] = {}
        arms = [
            [dump_base_model(m, f"arm{k}_part{j}", arrays, texts) for j, m in enumerate(parts)]
            for k, parts in enumerate(self.models_)
        ]
        meta = {
            "format": "campaignrec.uplift",
            "version": _FORMAT_VERSION,
            "learner": self.name,
            "params": {k: _plain(v) for k, v in self.get_params().items()},
            "treatments": [_plain(t) for t in self.treatments_],
            "binary_outcome": self.binary_outcome_,
            "n_features_in": self.n_features_in_,
            "arms": arms,
        }
        return write_model_folder(path, meta, arrays, texts)

    @classmethod
    def load(cls, path: str | Path) -> BaseUpliftLearner:
        """Read a learner written by :meth:`save` (any learner class when called on the base)."""
        d, meta = read_model_meta(
            path, fmt="campaignrec.uplift", version=_FORMAT_VERSION, what="uplift learner"
        )
        learner_cls = LEARNERS.get(meta["learner"])
        if learner_cls is None or not issubclass(learner_cls, cls):
            raise ConfigError(
                f"{str(d / 'meta.json')!r} holds a {meta['learner']!r} learner, not a {cls.__name__}"
            )
        obj = learner_cls(**meta["params"])
        obj.treatments_ = np.asarray(meta["treatments"])
        obj.binary_outcome_ = bool(meta["binary_outcome"])
        obj.n_features_in_ = int(meta["n_features_in"])
        with np.load(d / "arrays.npz") as arrays:
            obj.models_ = [
                tuple(load_base_model(spec, arrays, d) for spec in parts) for parts in meta["arms"]
            ]
        return obj

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_model={self.base_model!r}, random_state={self.random_state})"


class SLearner(BaseUpliftLearner):
    """One outcome model with the treatment indicator as an extra feature.

    Uplift is ``f(x, 1) - f(x, 0)``. Cheap, but a tree model may ignore a weak treatment feature
    (its uplift shrinks towards zero).
    """

    name = "s"

    def _fit_arm(self, X, w, y, seed_offset):  # type: ignore[no-untyped-def]
        return (self._fit_outcome(np.column_stack([X, w]), y, seed_offset),)

    def _predict_arm(self, fitted, X):  # type: ignore[no-untyped-def]
        (model,) = fitted
        ones = np.ones((X.shape[0], 1))
        return model.predict(np.hstack([X, ones])) - model.predict(np.hstack([X, 0 * ones]))


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
) -> _Model:
    """P(treated | x) within one arm-vs-control subset: the share (randomised data) or a model."""
    if how == "constant":
        return _Constant(float(np.clip(w.mean(), clip, 1 - clip)))
    if how == "logistic":
        return _Clipped(_fit_linear(X, w, logistic=True, C=1.0), clip)
    raise ValidationError(
        "propensity", "unknown propensity model", value=how, hint="use 'constant' or 'logistic'"
    )


@dataclass(kw_only=True, eq=False, repr=False)
class _PropensityLearner(BaseUpliftLearner):
    """A learner that also models P(treated | x): the two propensity parameters."""

    propensity: Literal["constant", "logistic"] = "constant"
    propensity_clip: float = 0.05


class XLearner(_PropensityLearner):
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


class TransformedOutcomeLearner(_PropensityLearner):
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

    def _fit_arm(self, X, w, y, seed_offset):  # type: ignore[no-untyped-def]
        g = _propensity(
            X, w, self.propensity, self.propensity_clip, self.random_state + seed_offset + 4
        )
        p = g.predict(X)
        z = y * (w - p) / (p * (1.0 - p))
        return (self._fit_effect(X, z, seed_offset),)

    def _predict_arm(self, fitted, X):  # type: ignore[no-untyped-def]
        (model,) = fitted
        return model.predict(X)


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
