"""BG/NBD closed forms against lifetimes, Monte Carlo, and input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel

PAPER = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def _model() -> BetaGeoModel:
    return BetaGeoModel.from_params(**PAPER, time_unit=TimeUnit.WEEK)


def _customers(n: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    T = rng.uniform(5, 60, n).round(2)
    x = rng.poisson(2.0, n).astype(float)
    t_x = np.where(x > 0, (rng.uniform(0, 1, n) * T).round(2), 0.0)
    return x, t_x, T


def _lifetimes() -> object:
    from lifetimes import BetaGeoFitter

    f = BetaGeoFitter()
    f.params_ = pd.Series(PAPER)
    return f


def test_predictions_equal_lifetimes() -> None:
    x, t_x, T = _customers()
    model, ref = _model(), _lifetimes()
    for t in (1.0, 4.345, 39.0, 52.0):
        np.testing.assert_allclose(
            model.conditional_expected_purchases(t, x, t_x, T),
            ref.conditional_expected_number_of_purchases_up_to_time(t, x, t_x, T),  # type: ignore[attr-defined]
            rtol=1e-9,
        )
    np.testing.assert_allclose(
        model.p_alive(x, t_x, T),
        ref.conditional_probability_alive(x, t_x, T),
        rtol=1e-12,  # type: ignore[attr-defined]
    )
    np.testing.assert_allclose(
        model.expected_purchases_population([1, 10, 100]),
        ref.expected_number_of_purchases_up_to_time(np.array([1.0, 10.0, 100.0])),  # type: ignore[attr-defined]
        rtol=1e-12,
    )


def test_log_likelihood_equals_lifetimes_up_to_scaling() -> None:
    from lifetimes import BetaGeoFitter

    x, t_x, T = _customers()
    ll = _model().log_likelihood(x, t_x, T).sum()
    nll_mean = BetaGeoFitter._negative_log_likelihood(np.log(list(PAPER.values())), x, t_x, T, np.ones_like(x), 0.0)
    assert ll == pytest.approx(-nll_mean * len(x), rel=1e-10)


def test_p_no_purchase_new_customer_is_the_nbd_zero_class() -> None:
    t = np.array([1.0, 10.0, 52.0])
    expected = (PAPER["alpha"] / (PAPER["alpha"] + t)) ** PAPER["r"]
    got = [float(_model().p_no_purchase(tt, 0, 0, 0)[0]) for tt in t]
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_p_no_purchase_matches_simulation() -> None:
    """Simulate the BG/NBD story for one customer history by rejection and compare P(Y(t) = 0)."""
    rng = np.random.default_rng(0)
    r, alpha, a, b = PAPER.values()
    n = 400_000
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    T, t = 20.0, 10.0
    # history x = 0 over (0, T]: no purchase in T (a customer cannot drop out without purchasing)
    keep = rng.uniform(size=n) < np.exp(-lam * T)
    lam, p = lam[keep], p[keep]
    none_next = rng.uniform(size=len(lam)) < np.exp(-lam * t)
    got = float(_model().p_no_purchase(t, 0, 0, T)[0])
    assert got == pytest.approx(none_next.mean(), abs=0.005)
    assert 0.0 < got < 1.0


def test_more_recent_buyers_are_more_alive_and_buy_more() -> None:
    m = _model()
    alive = m.p_alive([3, 3], [5.0, 30.0], [32.0, 32.0])
    assert alive[1] > alive[0]
    buys = m.conditional_expected_purchases(10, [3, 3], [5.0, 30.0], [32.0, 32.0])
    assert buys[1] > buys[0]


def test_fit_recovers_parameters_of_simulated_data() -> None:
    # our own simulator of FHL (2005)'s story: dropout only after a repeat purchase (lifetimes' generator also
    # lets customers drop out after the first purchase, which is a different likelihood)
    rng = np.random.default_rng(5)
    n, T = 3000, 52.0
    lam, p = rng.gamma(0.5, 1 / 5.0, n), rng.beta(0.8, 2.5, n)
    x, t_x = np.zeros(n), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            x[i], t_x[i] = x[i] + 1, t
            if rng.uniform() < p[i]:
                break
    model = BetaGeoModel().fit(x, t_x, np.full(n, T))
    assert model.r_ / model.alpha_ == pytest.approx(0.1, rel=0.15)  # the mean purchase rate is well identified
    assert model.log_params_covariance_.shape == (4, 4)
    sd = np.sqrt(np.diag(model.log_params_covariance_))
    truth = np.log([0.5, 5.0, 0.8, 2.5])
    assert np.all(np.abs(np.log(list(model.params_.values())) - truth) < 3.5 * sd)  # the Hessian's sd is honest
    assert np.all(np.linalg.eigvalsh(model.log_params_covariance_) > 0)
    restored = BetaGeoModel.from_dict(model.to_dict())
    assert restored.params_ == model.params_
    assert restored.time_unit == TimeUnit.WEEK


def test_bad_inputs_name_column_and_row() -> None:
    m = _model()
    with pytest.raises(UserInputError, match="recency: row 1"):
        m.p_alive([1, 2], [3.0, 9.0], [5.0, 8.0])
    with pytest.raises(UserInputError, match="frequency: row 0"):
        m.p_alive([1.5], [1.0], [2.0])
    with pytest.raises(UserInputError, match="frequency 0 must have recency 0"):
        m.p_alive([0], [1.0], [2.0])
    with pytest.raises(UserInputError, match="no customer made a repeat purchase"):
        BetaGeoModel().fit([0, 0, 0], [0, 0, 0], [3.0, 4.0, 5.0])
