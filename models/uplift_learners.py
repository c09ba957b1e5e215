"""Meta-learners of the individual effect of one retention action, on LightGBM, fitted with EconML.

For a customer with features x, the effect of action a on an outcome Y (retained over the horizon, or spend in
it) is tau_a(x) = E[Y | x, contacted with a] - E[Y | x, control]. Past campaigns assigned the control group at
random, so the contrast is identified; the learners differ in how they estimate it (Kunzel, Sekhon, Bickel & Yu
2019, "Metalearners for estimating heterogeneous treatment effects using machine learning", PNAS 116(10);
Kennedy 2023, "Towards optimal doubly robust estimation of heterogeneous causal effects", EJS 17(2)):

* ``t_learner``  two outcome models, mu_1 on the treated and mu_0 on the controls: tau = mu_1 - mu_0;
* ``x_learner``  imputes each side's effect with the other side's outcome model and fits one effect model per
                 side (tau_0 on the controls, tau_1 on the treated), blended by the propensity e:
                 tau = e tau_0 + (1 - e) tau_1 (good when one arm is much smaller, as control groups are);
* ``dr_learner`` regresses the doubly robust (AIPW) pseudo-outcome on x with cross-fitted nuisances:
                 tau = final(x).

EconML (PyWhy) does the fitting; ``EffectModel`` keeps only the LightGBM boosters the formula above needs and
the propensity, so a saved model is plain LightGBM text plus JSON and scoring needs neither EconML nor pickles
(``tests/unit/test_uplift_learners.py`` checks the export reproduces EconML's ``effect``). Assignment within a
campaign is random, so the propensity is the share of treated contacts (EconML's propensity model is a
``DummyClassifier(strategy="prior")``): a model of it from x could only learn noise.

Outcome models of retention use LightGBM's ``cross_entropy`` objective, so they predict probabilities in 0..1;
effect models (and every spend model) are least-squares regressions. Categorical features are LightGBM native
categories on integer codes (``models.churn_classifier.feature_matrix``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from features.errors import UserInputError

if TYPE_CHECKING:
    import lightgbm as lgb

LearnerName = Literal["t_learner", "x_learner", "dr_learner"]
LEARNERS: tuple[LearnerName, ...] = ("t_learner", "x_learner", "dr_learner")
OutcomeKind = Literal["binary", "continuous"]

# what each learner keeps, in the order the effect formula reads them
LEARNER_PARTS: dict[str, tuple[str, ...]] = {
    "t_learner": ("control", "treated"),
    "x_learner": ("tau_control", "tau_treated"),
    "dr_learner": ("tau",),
}

DEFAULT_PARAMS: dict[str, Any] = {
    "n_estimators": 150,
    "learning_rate": 0.04,
    "num_leaves": 15,
    "min_child_samples": 60,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 5.0,
}


@dataclass
class EffectModel:
    """A fitted effect estimator in plain form: LightGBM boosters combined by the learner's formula."""

    learner: str
    boosters: dict[str, lgb.Booster]
    propensity: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.learner not in LEARNER_PARTS:
            raise UserInputError(f"unknown uplift learner {self.learner!r}; known: {', '.join(LEARNER_PARTS)}")
        missing = [p for p in LEARNER_PARTS[self.learner] if p not in self.boosters]
        if missing:
            raise UserInputError(f"{self.learner} effect model lacks its part(s) {', '.join(missing)}")
        if self.learner == "x_learner" and (self.propensity is None or not 0.0 < self.propensity < 1.0):
            raise UserInputError(f"x_learner needs a propensity strictly between 0 and 1, got {self.propensity}")

    def _predict(self, part: str, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(self.boosters[part].predict(matrix, validate_features=False), dtype=np.float64)

    def effect(self, matrix: NDArray[np.float64]) -> NDArray[np.float64]:
        """tau(x) for every row of the encoded feature matrix."""
        if matrix.shape[0] == 0:
            return np.empty(0, dtype=np.float64)
        if self.learner == "t_learner":
            return self._predict("treated", matrix) - self._predict("control", matrix)
        if self.learner == "x_learner":
            e = float(self.propensity)  # type: ignore[arg-type]
            return e * self._predict("tau_control", matrix) + (1.0 - e) * self._predict("tau_treated", matrix)
        return self._predict("tau", matrix)


def _regressor_class() -> type:
    import lightgbm as lgb

    class CategoricalLGBMRegressor(lgb.LGBMRegressor):
        """LGBMRegressor that passes fixed categorical column indices to every ``fit`` (EconML fits clones on
        numpy arrays, where LightGBM cannot see which columns are categorical)."""

        def __init__(self, *, categorical_columns: tuple[int, ...] = (), **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.categorical_columns = categorical_columns

        def fit(self, X: Any, y: Any, **kwargs: Any) -> CategoricalLGBMRegressor:  # type: ignore[override]
            cats: Any = list(self.categorical_columns) if self.categorical_columns else "auto"
            super().fit(X, y, categorical_feature=cats, **kwargs)
            return self

    return CategoricalLGBMRegressor


def _regressor(objective: str, categorical: Sequence[int], seed: int, params: Mapping[str, Any]) -> Any:
    cls = _regressor_class()
    return cls(
        categorical_columns=tuple(categorical),
        objective=objective,
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
        num_threads=1,
        verbose=-1,
        **{**DEFAULT_PARAMS, **params},
    )


def _text_copy(model: Any) -> lgb.Booster:
    """The fitted booster re-read from its text, so it equals what a saved bundle loads."""
    import lightgbm as lgb

    return lgb.Booster(model_str=model.booster_.model_to_string())


def fit_effect_model(
    learner: LearnerName,
    matrix: NDArray[np.float64],
    treated: NDArray[np.bool_],
    outcome: NDArray[np.float64],
    *,
    kind: OutcomeKind,
    feature_names: Sequence[str],
    categorical: Sequence[int] = (),
    seed: int = 7,
    params: Mapping[str, Any] | None = None,
) -> EffectModel:
    """Fit ``learner`` on contacts (rows of ``matrix``) treated with one action or held out as control."""
    treated = np.asarray(treated, dtype=bool)
    y = np.asarray(outcome, dtype=np.float64)
    if matrix.shape[0] != y.size or treated.size != y.size:
        raise UserInputError(f"uplift fit: {matrix.shape[0]} rows of features, {treated.size} arms, {y.size} outcomes")
    if np.isnan(y).any():
        raise UserInputError("uplift fit: outcomes must be known for every contact (drop unobservable ones first)")
    n_treated, n_control = int(treated.sum()), int((~treated).sum())
    if min(n_treated, n_control) < 2:
        raise UserInputError(f"uplift fit needs treated and control contacts; got {n_treated} and {n_control}")
    if kind == "binary" and not np.isin(y, (0.0, 1.0)).all():
        raise UserInputError("uplift fit: a binary outcome must be 0 or 1")
    params = dict(params or {})
    outcome_objective = "cross_entropy" if kind == "binary" else "regression"
    X = np.asarray(matrix, dtype=np.float64)
    T = treated.astype(np.int64)
    propensity = n_treated / (n_treated + n_control)
    _, boosters = fit_estimator(
        learner, X, T, y, outcome_objective=outcome_objective, categorical=categorical, seed=seed, params=params
    )
    # LightGBM names columns Column_0..; the bundle's feature order is the contract, so name them
    for booster in boosters.values():
        if booster.num_feature() != len(feature_names):
            raise UserInputError(f"uplift fit: {booster.num_feature()} model features, {len(feature_names)} names")
    return EffectModel(
        learner=learner,
        boosters=boosters,
        propensity=propensity if learner == "x_learner" else None,
        info={"n_treated": n_treated, "n_control": n_control, "kind": kind, "seed": seed, "params": params},
    )


def fit_estimator(
    learner: LearnerName,
    X: NDArray[np.float64],
    T: NDArray[np.int64],
    y: NDArray[np.float64],
    *,
    outcome_objective: str,
    categorical: Sequence[int],
    seed: int,
    params: Mapping[str, Any],
) -> tuple[Any, dict[str, lgb.Booster]]:
    """The fitted EconML estimator and the boosters its effect needs (the test compares the two)."""
    with warnings.catch_warnings():
        # EconML warns that NaNs in X could break identification; here NaN means "never" and the assignment is
        # random, so the warning does not apply (LightGBM handles the missing values)
        warnings.filterwarnings("ignore", message="(Input|X) contains NaN", category=UserWarning)
        return _fit_estimator(learner, X, T, y, outcome_objective, categorical, seed, params)


def _fit_estimator(  # noqa: PLR0917 - the keyword-only public twin above names them
    learner: LearnerName,
    X: NDArray[np.float64],
    T: NDArray[np.int64],
    y: NDArray[np.float64],
    outcome_objective: str,
    categorical: Sequence[int],
    seed: int,
    params: Mapping[str, Any],
) -> tuple[Any, dict[str, lgb.Booster]]:
    from sklearn.dummy import DummyClassifier

    outcome_model = _regressor(outcome_objective, categorical, seed, params)
    effect_model = _regressor("regression", categorical, seed, params)
    if learner == "t_learner":
        from econml.metalearners import TLearner

        t = TLearner(models=outcome_model, allow_missing=True)
        t.fit(y, T, X=X)
        return t, {"control": _text_copy(t.models[0]), "treated": _text_copy(t.models[1])}
    if learner == "x_learner":
        from econml.metalearners import XLearner

        x = XLearner(
            models=outcome_model,
            cate_models=effect_model,
            propensity_model=DummyClassifier(strategy="prior"),
            allow_missing=True,
        )
        x.fit(y, T, X=X)
        return x, {
            "tau_control": _text_copy(x.cate_controls_models[0]),
            "tau_treated": _text_copy(x.cate_treated_models[0]),
        }
    if learner == "dr_learner":
        from econml.dr import DRLearner

        dr = DRLearner(
            model_propensity=DummyClassifier(strategy="prior"),
            model_regression=outcome_model,
            model_final=effect_model,
            cv=2,
            allow_missing=True,
            min_propensity=0.02,
            random_state=seed,
        )
        dr.fit(y, T, X=X)
        return dr, {"tau": _text_copy(dr.model_cate(T=1))}
    raise UserInputError(f"unknown uplift learner {learner!r}; known: {', '.join(LEARNERS)}")
