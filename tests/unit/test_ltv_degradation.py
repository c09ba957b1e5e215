"""Graceful degradation of the LTV fit (issue 16): constant spend, a boundary maximum, and data that identifies
nothing, on small synthetic bases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from features.time_units import TimeUnit
from models.btyd_family import detect_opportunity_grid, fit_count_model
from models.customer_value import LtvPredictor
from models.ltv_settings import LtvSettings
from training.ltv_job import fit_ltv

START = pd.Timestamp("2024-01-01")
AS_OF = pd.Timestamp("2025-01-01")


def _poisson_gamma_base(n: int, seed: int, *, dropout: bool, constant_spend: float | None) -> pd.DataFrame:
    """Purchases of n customers: Poisson(lambda ~ Gamma(0.8, 1/0.1 per week)), optionally BG dropout."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        first = START + pd.Timedelta(int(rng.integers(0, 120)), "D")
        lam = rng.gamma(0.8, 1 / 10.0) / 7.0  # per day
        t = 0.0
        span = (AS_OF - first).days - 1
        days = [0.0]
        while True:
            t += rng.exponential(1.0 / lam)
            if t > span:
                break
            days.append(t)
            if dropout and rng.uniform() < 0.3:
                break
        for d in sorted({int(d) for d in days}):  # one purchase a day: the summary merges same-day purchases
            amount = constant_spend if constant_spend is not None else float(rng.gamma(3.0, 10.0))
            rows.append((f"c{i}", first + pd.Timedelta(d, "D"), amount))
    return pd.DataFrame(rows, columns=["customer_id", "occurred_at", "amount"])


def test_constant_spend_fits_without_gamma_gamma_and_warns() -> None:
    tx = _poisson_gamma_base(600, 1, dropout=True, constant_spend=9.99)
    fit = fit_ltv(tx, AS_OF, LtvSettings(min_customers=100, n_parameter_draws=40))
    assert fit.gg is None
    assert fit.unit_value == pytest.approx(9.99)
    assert any("spend is constant" in w for w in fit.warnings)
    predictor = LtvPredictor(fit.count_model, None, fit.draws, {"spend_model": {"unit_value": fit.unit_value}})
    s = fit.summary
    out = predictor.predict(s["frequency"], s["recency"], s["T"], s["monetary_value"])
    np.testing.assert_allclose(out["expected_spend"], 9.99)
    assert set(out["ltv_method"]) == {"bgnbd_unit_value"}
    assert np.all(out["ltv_p10"] <= out["ltv_p90"])
    assert np.all(out["predicted_ltv"] > 0)
    # /v1/model and the report read describe(): no spend model is a null, not a crash, and the unit value is said
    described = predictor.describe()
    assert described["gamma_gamma"] is None
    assert described["count_model"] == "bgnbd"
    assert described["spend_model"] == {"unit_value": pytest.approx(9.99)}
    assert set(described["bgnbd"]) == {"r", "alpha", "a", "b"}


def test_no_spend_recorded_counts_purchases() -> None:
    tx = _poisson_gamma_base(600, 2, dropout=True, constant_spend=0.0)
    fit = fit_ltv(tx, AS_OF, LtvSettings(min_customers=100, n_parameter_draws=40))
    assert fit.gg is None
    assert fit.unit_value == 1.0
    assert any("no spend is recorded" in w and "purchase counts" in w for w in fit.warnings)


def test_boundary_base_without_dropout_gives_the_nbd_limit_with_a_warning() -> None:
    tx = _poisson_gamma_base(800, 3, dropout=False, constant_spend=None)
    fit = fit_ltv(tx, AS_OF, LtvSettings(min_customers=100, n_parameter_draws=40), model="bgnbd")
    assert fit.count_model.NAME == "nbd"
    assert any("BG/NBD" in w and "NBD (no dropout)" in w for w in fit.warnings)
    assert fit.count_model.params_["r"] == pytest.approx(0.8, rel=0.25)  # the generating r
    assert fit.count_model.params_["alpha"] == pytest.approx(10.0, rel=0.25)  # weeks, as generated
    # served like any model: P(alive) 1, interval ordered
    s = fit.summary
    predictor = LtvPredictor(fit.count_model, fit.gg, fit.draws, {"spend_model": {"unit_value": fit.unit_value}})
    out = predictor.predict(s["frequency"], s["recency"], s["T"], s["monetary_value"])
    np.testing.assert_allclose(out["p_alive"], 1.0)
    assert all(m.startswith("nbd_") or m == "population_mean_spend" for m in out["ltv_method"])
    assert np.all(out["ltv_p10"] <= out["ltv_p90"])


def test_data_that_identifies_nothing_is_refused_with_what_is_missing() -> None:
    x = np.zeros(50)
    with pytest.raises(UserInputError, match="no customer made a repeat purchase"):
        fit_count_model("pareto_nbd", x, x, np.full(50, 10.0), time_unit=TimeUnit.WEEK)
    with pytest.raises(UserInputError, match="T = 0"):
        fit_count_model("bgnbd", np.ones(5), np.zeros(5), np.zeros(5), time_unit=TimeUnit.WEEK)


def test_opportunity_grid_detection() -> None:
    annual = pd.date_range("2018-03-01", periods=6, freq="365D").to_numpy()
    assert detect_opportunity_grid(np.repeat(annual, 3)) == pytest.approx(365.0)
    daily = pd.date_range("2024-01-01", periods=60, freq="D").to_numpy()
    assert detect_opportunity_grid(daily) is None


def test_pareto_nbd_fit_is_deterministic() -> None:
    """The same base gives the same Pareto/NBD parameters and covariance on every run (lifetimes starts from a
    fixed point; nothing here draws at random), so a registered model can be reproduced."""
    tx = _poisson_gamma_base(300, 5, dropout=True, constant_spend=None)
    summary = fit_ltv(tx, AS_OF, LtvSettings(min_customers=100, n_parameter_draws=20)).summary
    first, second = (
        fit_count_model("pareto_nbd", summary["frequency"], summary["recency"], summary["T"], time_unit=TimeUnit.WEEK)
        for _ in range(2)
    )
    assert first.model.params_ == second.model.params_
    np.testing.assert_array_equal(first.model.log_params_covariance_, second.model.log_params_covariance_)
