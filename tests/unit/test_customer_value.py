"""Discounted CLV: time units, discounting, intervals, the predictor and the bundle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy.linalg import block_diag

from features.errors import UserInputError
from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel
from models.customer_value import (
    METHOD_BTYD,
    METHOD_POPULATION_SPEND,
    METHOD_ZERO_SPEND,
    LtvPredictor,
    clv_interval,
    discounted_clv,
    monthly_discount_rate,
)
from models.gamma_gamma import GammaGammaModel
from models.ltv_bundle import load_ltv_bundle, save_ltv_bundle
from models.parameter_draws import ParameterDraws

BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}
# log-parameter covariance like the CDNOW fit's: BG/NBD sds (correlations dropped), the Gamma-Gamma block as fitted
GG_COV = np.array([[0.0362, -0.0099, -0.0497], [-0.0099, 0.0060, 0.0172], [-0.0497, 0.0172, 0.0725]])
COV = block_diag(np.diag([0.052, 0.086, 0.234, 0.291]) ** 2, GG_COV)


def _models() -> tuple[BetaGeoModel, GammaGammaModel]:
    return BetaGeoModel.from_params(**BG, time_unit=TimeUnit.WEEK), GammaGammaModel.from_params(**GG)


def _draws(n: int = 300) -> ParameterDraws:
    estimate = np.array([*BG.values(), *GG.values()])
    return ParameterDraws.from_log_normal(("r", "alpha", "a", "b", "p", "q", "v"), estimate, COV, n, 11)


def _customers(n: int = 300) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(4)
    T = rng.integers(190, 273, n) / 7.0
    x = rng.poisson(1.5, n).astype(float)
    t_x = np.where(x > 0, np.floor(rng.uniform(0, 1, n) * T * 7) / 7, 0.0)
    m = np.where(x > 0, rng.gamma(3, 8, n), np.nan)
    return x, t_x, T, m


KW = {"horizon_months": 12, "discount_rate": 0.1, "discount_period": "annual"}


def test_time_unit_of_inputs_is_converted_not_ignored() -> None:
    """The classic bug: a model fitted in weeks fed recency/T in days (or a horizon taken as periods)."""
    bg, gg = _models()
    x, t_x, T, m = _customers()
    weekly = discounted_clv(bg, gg, x, t_x, T, m, time_unit=TimeUnit.WEEK, **KW)  # type: ignore[arg-type]
    daily = discounted_clv(bg, gg, x, t_x * 7, T * 7, m, time_unit=TimeUnit.DAY, **KW)  # type: ignore[arg-type]
    np.testing.assert_allclose(daily, weekly, rtol=1e-10)
    # 12 months on weekly data is ~52 weeks of purchases, not 12 weeks
    one_year = bg.conditional_expected_purchases(52.14, x, t_x, T)
    twelve_weeks = bg.conditional_expected_purchases(12.0, x, t_x, T)
    undiscounted = discounted_clv(
        bg, gg, x, t_x, T, m, horizon_months=12, discount_rate=0.0, discount_period="monthly", time_unit=TimeUnit.WEEK
    )
    spend = gg.conditional_expected_average_profit(x, m)
    np.testing.assert_allclose(undiscounted, spend * one_year, rtol=1e-3)
    assert np.all(undiscounted > 3 * spend * twelve_weeks)


def test_discounting() -> None:
    assert monthly_discount_rate(0.1, "annual") == pytest.approx(1.1 ** (1 / 12) - 1)
    assert monthly_discount_rate(0.01, "monthly") == 0.01
    with pytest.raises(UserInputError):
        monthly_discount_rate(0.1, "weekly")  # type: ignore[arg-type]
    bg, gg = _models()
    x, t_x, T, m = _customers()
    kw = {"horizon_months": 24, "discount_period": "annual", "time_unit": TimeUnit.WEEK}
    low = discounted_clv(bg, gg, x, t_x, T, m, discount_rate=0.0, **kw)  # type: ignore[arg-type]
    high = discounted_clv(bg, gg, x, t_x, T, m, discount_rate=0.3, **kw)  # type: ignore[arg-type]
    assert np.all(high < low)


def test_delta_interval_agrees_with_exact_quantiles_over_draws() -> None:
    bg, gg = _models()
    x, t_x, T, m = _customers()
    draws = _draws()
    point = discounted_clv(bg, gg, x, t_x, T, m, time_unit=TimeUnit.WEEK, **KW)  # type: ignore[arg-type]
    lo_d, hi_d = clv_interval(draws, x, t_x, T, m, time_unit=TimeUnit.WEEK, method="delta", **KW)  # type: ignore[arg-type]
    lo_q, hi_q = clv_interval(draws, x, t_x, T, m, time_unit=TimeUnit.WEEK, method="draws", **KW)  # type: ignore[arg-type]
    assert np.all((lo_d <= point) & (point <= hi_d))
    assert np.all(hi_d > lo_d)
    assert np.median(np.abs(lo_d / lo_q - 1)) < 0.05
    assert np.median(np.abs(hi_d / hi_q - 1)) < 0.05
    narrow_lo, narrow_hi = clv_interval(draws, x, t_x, T, m, time_unit=TimeUnit.WEEK, level=0.5, **KW)  # type: ignore[arg-type]
    assert np.all(narrow_hi - narrow_lo < hi_d - lo_d)


def _bundle(tmp_path: Path) -> Path:
    bg, gg = _models()
    settings = {"prediction_horizon_days": 30, "horizon_months": 12, "discount_rate": 0.1, "discount_period": "annual"}
    return save_ltv_bundle(tmp_path / "bundle", bg, gg, _draws(), {"settings": {**settings, "interval_level": 0.9}})


def test_bundle_is_plain_json_and_round_trips(tmp_path: Path) -> None:
    path = _bundle(tmp_path)
    assert sorted(p.name for p in path.iterdir()) == sorted(
        ["bgnbd.json", "gamma_gamma.json", "parameter_draws.json", "metadata.json"]
    )
    for file in path.iterdir():
        json.loads(file.read_text())
    bg, gg, draws, meta = load_ltv_bundle(path)
    assert bg.params_ == BG
    assert gg.params_ == GG
    assert draws.draws.shape == (300, 7)
    assert meta["kind"] == "churnltv-ltv"
    (path / "gamma_gamma.json").unlink()
    with pytest.raises(UserInputError, match=r"gamma_gamma\.json is missing"):
        load_ltv_bundle(path)


def test_predictor_outputs_and_methods(tmp_path: Path) -> None:
    predictor = LtvPredictor.from_bundle(_bundle(tmp_path))
    assert predictor.horizon_days == 30
    assert predictor.time_unit == TimeUnit.WEEK
    x, t_x, T, m = _customers()
    x[:3], t_x[:3], m[:3] = [0, 0, 2], [0, 0, 10], [np.nan, np.nan, 0.0]
    out = predictor.predict(x, t_x, T, m)
    bg, gg = _models()
    np.testing.assert_allclose(out["p_alive"], bg.p_alive(x, t_x, T))
    np.testing.assert_allclose(out["expected_purchases"], bg.conditional_expected_purchases(30 / 7, x, t_x, T))
    np.testing.assert_allclose(out["p_no_purchase"], bg.p_no_purchase(30 / 7, x, t_x, T))
    clv = discounted_clv(bg, gg, x, t_x, T, m, time_unit=TimeUnit.WEEK, **KW)  # type: ignore[arg-type]
    np.testing.assert_allclose(out["predicted_ltv"], np.where(np.arange(len(x)) == 2, 0.0, clv))
    assert list(out["ltv_method"][:3]) == [METHOD_POPULATION_SPEND, METHOD_POPULATION_SPEND, METHOD_ZERO_SPEND]
    assert out["ltv_method"][5] in (METHOD_BTYD, METHOD_POPULATION_SPEND)
    assert out["expected_spend"][0] == pytest.approx(gg.population_mean_spend)
    assert out["predicted_ltv"][2] == 0.0
    assert out["ltv_lower"][2] == 0.0
    assert np.all(out["ltv_lower"] <= out["predicted_ltv"])
    assert np.all(out["predicted_ltv"] <= out["ltv_upper"])
    one = predictor.predict([x[5]], [t_x[5]], [T[5]], [m[5]])
    assert one["predicted_ltv"][0] == pytest.approx(out["predicted_ltv"][5])
    new = predictor.predict([0], [0], [0], [np.nan])  # never bought: scored like a new customer
    assert new["p_alive"][0] == 1.0
    assert new["predicted_ltv"][0] > 0


def _in_unit(unit: TimeUnit) -> tuple[BetaGeoModel, tuple[np.ndarray, ...]]:
    """The same BG/NBD model and customers expressed in ``unit`` (alpha, recency and T scale with the period)."""
    factor = TimeUnit.WEEK.convert(1.0, unit)  # weeks -> periods of unit
    x, t_x, T, m = _customers()
    bg = BetaGeoModel.from_params(BG["r"], BG["alpha"] * factor, BG["a"], BG["b"], time_unit=unit)
    return bg, (x, t_x * factor, T * factor, m)


def test_a_month_is_the_same_span_in_every_time_unit_by_default() -> None:
    """Default month = 365.25/12 days: D, W and M models of the same customers give the same CLV (to rounding)."""
    gg = GammaGammaModel.from_params(**GG)
    values = {}
    for unit in (TimeUnit.DAY, TimeUnit.WEEK, TimeUnit.MONTH):
        bg, (x, t_x, T, m) = _in_unit(unit)
        values[unit] = discounted_clv(bg, gg, x, t_x, T, m, time_unit=unit, **KW)  # type: ignore[arg-type]
    np.testing.assert_allclose(values[TimeUnit.DAY], values[TimeUnit.WEEK], rtol=1e-9)
    np.testing.assert_allclose(values[TimeUnit.MONTH], values[TimeUnit.WEEK], rtol=1e-9)


def test_lifetimes_month_convention_is_kept_only_on_request() -> None:
    """lifetimes steps 30 days or 4.345 weeks: on identical customers D is ~0.989x W. Only the explicit setting
    does that, and the predictor reads it from the bundle's settings."""
    gg = GammaGammaModel.from_params(**GG)
    kw = {**KW, "month_convention": "lifetimes"}
    bg_d, (x, t_x, T, m) = _in_unit(TimeUnit.DAY)
    daily = discounted_clv(bg_d, gg, x, t_x, T, m, time_unit=TimeUnit.DAY, **kw)  # type: ignore[arg-type]
    bg_w, (xw, t_xw, Tw, mw) = _in_unit(TimeUnit.WEEK)
    weekly = discounted_clv(bg_w, gg, xw, t_xw, Tw, mw, time_unit=TimeUnit.WEEK, **kw)  # type: ignore[arg-type]
    ratio = daily / weekly
    assert np.all((ratio > 0.985) & (ratio < 0.993))
    with pytest.raises(UserInputError, match="month convention"):
        discounted_clv(bg_w, gg, xw, t_xw, Tw, mw, time_unit=TimeUnit.WEEK, **{**KW, "month_convention": "julian"})  # type: ignore[arg-type]
    draws = _draws()
    compat = LtvPredictor(bg_w, gg, draws, {"settings": {**KW, "month_convention": "lifetimes"}})
    default = LtvPredictor(bg_w, gg, draws, {"settings": KW})  # a bundle from before the setting: the default
    assert default.month_convention == "calendar"
    np.testing.assert_allclose(compat.predict(xw, t_xw, Tw, mw)["predicted_ltv"], weekly, rtol=1e-12)
    calendar = discounted_clv(bg_w, gg, xw, t_xw, Tw, mw, time_unit=TimeUnit.WEEK, **KW)  # type: ignore[arg-type]
    np.testing.assert_allclose(default.predict(xw, t_xw, Tw, mw)["predicted_ltv"], calendar, rtol=1e-12)


def test_error_messages_quote_values_as_numbers_not_numpy_reprs() -> None:
    bg, gg = _models()
    with pytest.raises(UserInputError) as err:
        discounted_clv(bg, gg, [1.5], [1.0], [2.0], [3.0], time_unit=TimeUnit.WEEK, **KW)  # type: ignore[arg-type]
    assert "value 1.5," in str(err.value)
    assert "np.float64" not in str(err.value)
    with pytest.raises(UserInputError) as err:
        GammaGammaModel().fit([1, 2, 3], [5.0, -2.5, 4.0])
    assert "value -2.5;" in str(err.value)
    assert "np." not in str(err.value)
