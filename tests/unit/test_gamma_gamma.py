"""Gamma-Gamma: exclusions counted, shrinkage formula, errors on a non-finite mean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from models.gamma_gamma import GammaGammaModel


def _data(n: int = 1500, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p, q, v = 6.0, 4.0, 15.0
    x = rng.poisson(1.2, n).astype(float)
    nu = rng.gamma(q, 1 / v, n)
    m = np.array([rng.gamma(p * k, 1 / (nu_i * k)) if k > 0 else np.nan for k, nu_i in zip(x, nu, strict=True)])
    return x, m


def test_fit_counts_exclusions_and_measures_correlation() -> None:
    x, m = _data()
    m[np.flatnonzero(x > 0)[:7]] = 0.0  # zero-spend repeat customers
    model = GammaGammaModel().fit(x, m)
    assert model.n_excluded_one_time_ == int((x == 0).sum())
    assert model.n_excluded_zero_spend_ == 7
    assert model.n_fitted_ == int((x > 0).sum()) - 7
    assert abs(model.frequency_spend_correlation_) < 0.2
    assert model.population_mean_spend == pytest.approx(6.0 * 15.0 / 3.0, rel=0.15)


def test_expected_spend_equals_lifetimes_and_uses_population_mean_for_one_time_buyers() -> None:
    from lifetimes import GammaGammaFitter

    model = GammaGammaModel.from_params(6.25, 3.74, 15.44)
    ref = GammaGammaFitter()
    ref.params_ = pd.Series(model.params_)
    x = np.array([1.0, 2.0, 10.0])
    m = np.array([20.0, 5.0, 50.0])
    np.testing.assert_allclose(
        model.conditional_expected_average_profit(x, m), ref.conditional_expected_average_profit(x, m), rtol=1e-12
    )
    one_time = model.conditional_expected_average_profit([0, 0], [np.nan, 99.0])
    np.testing.assert_allclose(one_time, model.population_mean_spend)


def test_errors() -> None:
    with pytest.raises(UserInputError, match="negative"):
        GammaGammaModel().fit([1, 2], [3.0, -1.0])
    with pytest.raises(UserInputError, match="found 0"):
        GammaGammaModel().fit([0, 0, 1], [np.nan, np.nan, 0.0])
    with pytest.raises(UserInputError, match=r"q = 0\.9"):
        GammaGammaModel.from_dict({"params": {"p": 1.0, "q": 0.9, "v": 1.0}})
    restored = GammaGammaModel.from_dict(GammaGammaModel.from_params(6.0, 4.0, 15.0).to_dict())
    assert restored.params_ == {"p": 6.0, "q": 4.0, "v": 15.0}
