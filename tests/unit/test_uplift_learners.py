"""The exported meta-learners reproduce EconML's effect, recover a known effect, and survive a save/load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.errors import UserInputError
from models.uplift_learners import LEARNERS, EffectModel, fit_effect_model, fit_estimator


def _data(n: int = 3000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 3, n).astype(float), rng.normal(size=n)])
    X[::11, 2] = np.nan  # "never": LightGBM's missing value
    treated = rng.random(n) < 0.7
    tau = np.where(X[:, 1] == 2, 0.35, np.where(X[:, 1] == 0, -0.2, 0.0))
    p = np.clip(0.45 + 0.1 * np.tanh(X[:, 0]) + treated * tau, 0, 1)
    y = (rng.random(n) < p).astype(float)
    return X, treated, y, tau


@pytest.mark.filterwarnings("ignore:Input contains NaN:UserWarning")  # EconML's own effect() on NaN features
@pytest.mark.parametrize("learner", LEARNERS)
def test_export_reproduces_econml_effect(learner: str) -> None:
    X, treated, y, _ = _data(1500)
    objective = "cross_entropy"
    est, boosters = fit_estimator(
        learner, X, treated.astype(np.int64), y, outcome_objective=objective, categorical=[1], seed=3, params={}
    )
    model = EffectModel(learner, boosters, propensity=float(treated.mean()) if learner == "x_learner" else None)
    np.testing.assert_allclose(model.effect(X), np.asarray(est.effect(X)).ravel(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("learner", LEARNERS)
def test_learner_recovers_heterogeneous_effect(learner: str) -> None:
    X, treated, y, tau = _data()
    model = fit_effect_model(learner, X, treated, y, kind="binary", feature_names=["a", "b", "c"], categorical=[1])
    effect = model.effect(X)
    groups = [effect[X[:, 1] == g].mean() for g in (0, 1, 2)]
    assert groups[2] > groups[1] > groups[0]  # persuadables > no effect > sleeping dogs
    assert groups[0] < -0.05
    assert groups[2] > 0.2
    assert abs(np.corrcoef(effect, tau)[0, 1]) > 0.6


def test_effect_model_round_trips_through_text(tmp_path: Path) -> None:
    import lightgbm as lgb

    X, treated, y, _ = _data(800)
    model = fit_effect_model("x_learner", X, treated, y, kind="binary", feature_names=["a", "b", "c"], categorical=[1])
    files = {}
    for part, booster in model.boosters.items():
        files[part] = tmp_path / f"{part}.txt"
        files[part].write_text(booster.model_to_string())
    again = EffectModel("x_learner", {p: lgb.Booster(model_file=str(f)) for p, f in files.items()}, model.propensity)
    np.testing.assert_array_equal(again.effect(X), model.effect(X))


def test_bad_fits_name_the_problem() -> None:
    X, treated, y, _ = _data(200)
    with pytest.raises(UserInputError, match="treated and control"):
        fit_effect_model("t_learner", X, np.ones(200, bool), y, kind="binary", feature_names=["a", "b", "c"])
    with pytest.raises(UserInputError, match="binary outcome"):
        fit_effect_model("t_learner", X, treated, y * 3, kind="binary", feature_names=["a", "b", "c"])
    with pytest.raises(UserInputError, match="propensity"):
        EffectModel("x_learner", {"tau_control": None, "tau_treated": None}, propensity=1.0)  # type: ignore[dict-item]
    with pytest.raises(UserInputError, match="unknown uplift learner"):
        EffectModel("s_learner", {})
