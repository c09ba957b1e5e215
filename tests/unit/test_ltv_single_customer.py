"""LtvPredictor.predict_one / predict_rows (the one-customer fast path) against predict and lifetimes.

No timings here (they live in benchmarks/bench_ltv.py): only that the fast path gives the vectorised path's numbers
(1e-12 relative), lifetimes' numbers, and the vectorised path's errors.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import block_diag

from features.errors import UserInputError
from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel
from models.btyd_inputs import check_summary, summary_row_is_valid
from models.customer_value import (
    BTYD_PARAMS,
    METHOD_BTYD,
    METHOD_POPULATION_SPEND,
    METHOD_ZERO_SPEND,
    LtvPredictor,
)
from models.gamma_gamma import GammaGammaModel
from models.parameter_draws import ParameterDraws

BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
GG = {"p": 6.25, "q": 3.74, "v": 15.44}
GG_COV = np.array([[0.0362, -0.0099, -0.0497], [-0.0099, 0.0060, 0.0172], [-0.0497, 0.0172, 0.0725]])
COV = block_diag(np.diag([0.052, 0.086, 0.234, 0.291]) ** 2, GG_COV)
SETTINGS = {
    "prediction_horizon_days": 30,
    "horizon_months": 12,
    "discount_rate": 0.01,
    "discount_period": "monthly",
    "interval_level": 0.9,
    "month_convention": "lifetimes",  # lifetimes' month steps (4.345 weeks), so the lifetimes comparison is exact
}
FLOATS = ("p_alive", "expected_purchases", "p_no_purchase", "expected_spend", "predicted_ltv", "ltv_lower", "ltv_upper")
RTOL = 1e-12

# (frequency, recency, T, monetary): never bought, frequency 0, recency 0, T tiny, huge frequency, free purchases,
# no spend recorded, recency = T, recency a rounding error above T
EDGE_CASES = [
    (0.0, 0.0, 0.0, math.nan),
    (0.0, 0.0, 1e-9, math.nan),
    (0.0, 0.0, 52.0, 10.0),
    (1.0, 0.0, 10.0, 20.0),
    (1.0, 1e-9, 1e-9, 20.0),
    (3.0, 1e-6, 2e-6, 5.0),
    (5_000.0, 99.0, 100.0, 30.0),
    (100_000.0, 500.0, 500.0, 1e4),
    (4.0, 20.0, 30.0, 0.0),
    (4.0, 20.0, 30.0, math.nan),
    (4.0, 20.0, 30.0, math.inf),
    (2.0, 30.0, 30.0, 1e-9),
    (2.0, 30.0 + 1e-10, 30.0, 12.0),
]


@pytest.fixture(scope="module")
def predictor() -> LtvPredictor:
    bg = BetaGeoModel.from_params(**BG, time_unit=TimeUnit.WEEK)
    gg = GammaGammaModel.from_params(**GG)
    draws = ParameterDraws.from_log_normal(BTYD_PARAMS, np.array([*BG.values(), *GG.values()]), COV, 300, 11)
    return LtvPredictor(bg, gg, draws, {"settings": SETTINGS})


def _customers(n: int = 400) -> list[tuple[float, float, float, float]]:
    rng = np.random.default_rng(8)
    T = rng.integers(1, 730, n) / 7.0
    x = rng.poisson(1.5, n).astype(float)
    x[:20] = rng.integers(20, 3000, 20)
    t_x = np.where(x > 0, np.floor(rng.uniform(0, 1, n) * T * 7) / 7, 0.0)
    m = np.where(x > 0, rng.gamma(3, 8, n), np.nan)
    return [*zip(x.tolist(), t_x.tolist(), T.tolist(), m.tolist(), strict=True), *EDGE_CASES]


def _assert_same(one: dict[str, Any], batch: dict[str, Any], i: int) -> None:
    assert one["ltv_method"] == batch["ltv_method"][i]
    for key in FLOATS:
        assert isinstance(one[key], float)
        np.testing.assert_allclose(one[key], batch[key][i], rtol=RTOL, atol=0.0, err_msg=f"{key}, row {i}")


def test_predict_one_equals_predict_on_a_batch_and_on_one_row(predictor: LtvPredictor) -> None:
    rows = _customers()
    batch = predictor.predict(*(np.array(col) for col in zip(*rows, strict=True)))
    for i, row in enumerate(rows):
        one = predictor.predict_one(*row)
        _assert_same(one, batch, i)
        _assert_same(one, predictor.predict(*([v] for v in row)), 0)


def test_edge_cases(predictor: LtvPredictor) -> None:
    new = predictor.predict_one(0, 0, 0, math.nan)  # never bought: BG/NBD's prior
    assert new["p_alive"] == 1.0
    assert new["ltv_method"] == METHOD_POPULATION_SPEND
    assert new["expected_spend"] == pytest.approx(GG["v"] * GG["p"] / (GG["q"] - 1.0))
    assert 0 < new["ltv_lower"] < new["predicted_ltv"] < new["ltv_upper"]
    free = predictor.predict_one(4, 20, 30, 0.0)
    assert free["ltv_method"] == METHOD_ZERO_SPEND
    assert free["predicted_ltv"] == free["ltv_lower"] == free["ltv_upper"] == 0.0
    assert predictor.predict_one(2, 10, 30, 12.0)["ltv_method"] == METHOD_BTYD
    for row in EDGE_CASES:
        out = predictor.predict_one(*row)
        assert all(math.isfinite(out[key]) for key in FLOATS), row
        assert 0.0 <= out["p_alive"] <= 1.0
        assert 0.0 <= out["p_no_purchase"] <= 1.0
        assert out["ltv_lower"] <= out["predicted_ltv"] <= out["ltv_upper"]


@settings(max_examples=150, deadline=None)
@given(
    x=st.one_of(st.integers(0, 30), st.integers(0, 200_000)),
    T=st.one_of(st.floats(0.0, 1e-6), st.floats(0.0, 1_000.0)),
    frac=st.floats(0.0, 1.0),
    m=st.one_of(st.floats(0.0, 1e5), st.just(math.nan)),
)
def test_predict_one_equals_predict_for_any_customer(
    predictor: LtvPredictor, x: int, T: float, frac: float, m: float
) -> None:
    recency = frac * T if x > 0 else 0.0
    _assert_same(predictor.predict_one(x, recency, T, m), predictor.predict([x], [recency], [T], [m]), 0)


def test_predict_one_agrees_with_lifetimes(predictor: LtvPredictor) -> None:
    from lifetimes import BetaGeoFitter, GammaGammaFitter

    bgf = BetaGeoFitter()
    bgf.params_ = pd.Series(BG)
    bgf.predict = bgf.conditional_expected_number_of_purchases_up_to_time
    ggf = GammaGammaFitter()
    ggf.params_ = pd.Series(GG)
    rows = [row for row in _customers(150)[20:] if row[2] > 0]  # lifetimes' CLV runs one customer at a time here
    rel = 1e-8  # at x ~ 1e5, lifetimes' own hyp2f1/Euler evaluation differs from ours at ~2e-9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for x, t_x, T, m in rows:
            out = predictor.predict_one(x, t_x, T, m)
            alive = np.ravel(bgf.conditional_probability_alive(x, t_x, T))[0]
            assert out["p_alive"] == pytest.approx(float(alive), rel=1e-10)
            purchases = np.ravel(bgf.conditional_expected_number_of_purchases_up_to_time(30 / 7, x, t_x, T))[0]
            assert out["expected_purchases"] == pytest.approx(float(purchases), rel=rel)
            if out["ltv_method"] != METHOD_BTYD and x > 0:
                continue  # our documented fallbacks (free purchases, no spend recorded): lifetimes has none
            clv = ggf.customer_lifetime_value(
                bgf,
                *(pd.Series([v]) for v in (x, t_x, T, 0.0 if math.isnan(m) else m)),
                time=12,
                discount_rate=0.01,
                freq="W",
            )
            assert out["predicted_ltv"] == pytest.approx(float(clv.iloc[0]), rel=rel)


@pytest.mark.parametrize(
    "row",
    [
        (-1.0, 0.0, 5.0, 1.0),
        (1.5, 1.0, 5.0, 1.0),
        (math.nan, 0.0, 5.0, 1.0),
        (2.0, 6.0, 5.0, 1.0),
        (0.0, 1.0, 5.0, 1.0),
        (2.0, -1.0, 5.0, 1.0),
        (2.0, 1.0, math.inf, 1.0),
        ("two", 1.0, 5.0, 1.0),
        (2.0, 1.0, 5.0, "much"),
    ],
)
def test_invalid_input_raises_what_predict_raises(predictor: LtvPredictor, row: tuple[Any, ...]) -> None:
    with pytest.raises(UserInputError) as vectorised:
        predictor.predict(*([v] for v in row))
    with pytest.raises(UserInputError) as single:
        predictor.predict_one(*row)
    assert str(single.value) == str(vectorised.value)
    with pytest.raises(UserInputError) as rows:
        predictor.predict_rows(*([v] for v in row))
    assert str(rows.value) == str(vectorised.value)


@pytest.mark.parametrize("n", [1, 3, 8, 9, 50])
def test_predict_rows_equals_predict(predictor: LtvPredictor, n: int) -> None:
    rows = _customers()[-n:]
    columns = [np.array(col) for col in zip(*rows, strict=True)]
    got, want = predictor.predict_rows(*columns), predictor.predict(*columns)
    assert set(got) == set(want)
    assert list(got["ltv_method"]) == list(want["ltv_method"])
    for key in FLOATS:
        assert got[key].dtype == np.float64
        np.testing.assert_allclose(got[key], want[key], rtol=RTOL, atol=0.0, err_msg=key)


@settings(max_examples=200, deadline=None)
@given(
    x=st.one_of(st.sampled_from([0.0, 1.0, 2.5, -1.0, math.nan, math.inf]), st.floats(-5, 5)),
    t_x=st.one_of(st.sampled_from([0.0, 1e-10, 5.0, 5.0 + 1e-10, 5.0 + 1e-8, -1e-12, math.nan]), st.floats(-1, 10)),
    T=st.one_of(st.sampled_from([0.0, 5.0, -1.0, math.inf]), st.floats(-1, 10)),
)
def test_row_check_matches_check_summary(x: float, t_x: float, T: float) -> None:
    try:
        check_summary([x], [t_x], [T])
        valid = True
    except UserInputError:
        valid = False
    assert summary_row_is_valid(x, t_x, T) == valid
