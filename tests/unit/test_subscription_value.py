"""Contractual CLV of subscribers from the churn probability (models.subscription_value) and its bundle settings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import block_diag

from features.errors import UserInputError
from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel
from models.contractual_clv import retention_clv
from models.customer_value import LtvPredictor, monthly_discount_rate
from models.gamma_gamma import GammaGammaModel
from models.ltv_settings import LtvSettings, load_ltv_settings
from models.parameter_draws import ParameterDraws
from models.subscription_value import (
    METHOD_CONTRACTUAL,
    METHOD_NO_CHURN_HORIZON,
    METHOD_NO_MRR,
    SubscriptionValue,
)

MONTH = 365.25 / 12


def _value(**overrides: object) -> SubscriptionValue:
    kw: dict[str, object] = {
        "horizon_months": 12,
        "monthly_discount": 0.01,
        "cost_share_of_mrr": 0.0,
        "cost_per_month": 0.0,
        "pay_after_service": True,
    }
    return SubscriptionValue(**{**kw, **overrides})  # type: ignore[arg-type]


def _by_hand(  # noqa: PLR0917 - the formula's inputs
    mrr: float, p: float, horizon_days: float, months: int, d: float, first: int, margin: float
) -> float:
    r = (1 - p) ** (MONTH / horizon_days)
    return sum(margin * mrr * (r / (1 + d)) ** t for t in range(first, first + months))


def test_value_is_the_retention_series_with_the_churn_horizon_converted_to_months() -> None:
    active = np.array([True, True, True, False])
    mrr = np.array([29.0, 9.99, 19.99, 50.0])
    p = np.array([0.05, 0.4, 0.0, 0.3])
    value, method = _value().predict(active, mrr, p, 30.0)
    for i in range(3):
        assert value[i] == pytest.approx(_by_hand(mrr[i], p[i], 30, 12, 0.01, 1, 1.0), rel=1e-12)
    assert list(method[:3]) == [METHOD_CONTRACTUAL] * 3  # row 3 is not a subscriber: the caller ignores it
    # a 90-day churn model: the same 90-day probability means a higher monthly retention than a 30-day one
    longer, _ = _value().predict(active, mrr, p, 90.0)
    assert longer[1] > value[1]
    assert longer[1] == pytest.approx(_by_hand(9.99, 0.4, 90, 12, 0.01, 1, 1.0), rel=1e-12)
    # higher churn, lower value; a subscriber who never churns is 12 discounted months of MRR
    assert value[0] > _value().predict(active[:1], mrr[:1], np.array([0.2]), 30.0)[0][0]
    assert value[2] == pytest.approx(sum(19.99 / 1.01**t for t in range(1, 13)), rel=1e-12)


def test_cost_to_serve_timing_and_lifetime_settings() -> None:
    active, mrr, p = np.array([True]), np.array([100.0]), np.array([0.1])
    costly, _ = _value(cost_share_of_mrr=0.2, cost_per_month=5.0).predict(active, mrr, p, 30.0)
    assert costly[0] == pytest.approx(_by_hand(100.0, 0.1, 30, 12, 0.01, 1, 0.75), rel=1e-12)  # (100 - 20 - 5)
    advance, _ = _value(pay_after_service=False).predict(active, mrr, p, 30.0)
    assert advance[0] == pytest.approx(_by_hand(100.0, 0.1, 30, 12, 0.01, 0, 1.0), rel=1e-12)
    lifetime, _ = _value(horizon_months=None, pay_after_service=False).predict(active, mrr, p, 30.0)
    r = 0.9 ** (MONTH / 30)
    assert lifetime[0] == pytest.approx(retention_clv(100.0, 0.0, r, 0.01)[0], rel=1e-12)  # (M-R)(1+d)/(1+d-r)
    after, _ = _value(horizon_months=None).predict(active, mrr, p, 30.0)
    assert after[0] == pytest.approx(retention_clv(100.0, 0.0, r, 0.01, pay_after_service=True)[0], rel=1e-12)
    with pytest.raises(UserInputError, match="discount rate > 0"):
        _value(horizon_months=None, monthly_discount=0.0)


def test_missing_inputs_say_why_and_bad_ones_are_errors() -> None:
    active = np.array([True, True])
    value, method = _value().predict(active, np.array([np.nan, 10.0]), np.array([0.1, 0.1]), 30.0)
    assert np.isnan(value[0])
    assert method[0] == METHOD_NO_MRR
    assert method[1] == METHOD_CONTRACTUAL
    value, method = _value().predict(active, np.array([5.0, 10.0]), np.array([0.1, 0.1]), None)
    assert np.isnan(value).all()
    assert list(method) == [METHOD_NO_CHURN_HORIZON] * 2
    with pytest.raises(UserInputError) as err:
        _value().predict(active, np.array([5.0, -3.0]), np.array([0.1, 0.1]), 30.0)
    assert str(err.value) == "sub_mrr: row 1 has value -3.0, but MRR cannot be negative"
    # a negative MRR of a customer without an active subscription is not used, so it is not an error
    _value().predict(np.array([False, True]), np.array([-3.0, 5.0]), np.array([0.1, 0.1]), 30.0)


def test_predictor_builds_it_from_the_bundle_settings() -> None:
    bg = BetaGeoModel.from_params(0.243, 4.414, 0.793, 2.426, time_unit=TimeUnit.WEEK)
    gg = GammaGammaModel.from_params(6.25, 3.74, 15.44)
    cov = block_diag(np.diag([0.05, 0.08, 0.2, 0.3]) ** 2, np.diag([0.2, 0.08, 0.27]) ** 2)
    draws = ParameterDraws.from_log_normal(("r", "alpha", "a", "b", "p", "q", "v"), bg_gg(bg, gg), cov, 50, 1)
    settings = LtvSettings(horizon_months=24, contractual_cost_share_of_mrr=0.3).model_dump(mode="json")
    predictor = LtvPredictor(bg, gg, draws, {"settings": settings})
    sub = predictor.subscription
    assert sub.horizon_months == 24
    assert sub.cost_share_of_mrr == 0.3
    assert sub.monthly_discount == pytest.approx(monthly_discount_rate(0.10, "annual"))
    assert sub.pay_after_service is True
    old = LtvPredictor(bg, gg, draws, {"settings": {"horizon_months": 6}})  # a bundle from before these settings
    assert old.subscription.horizon_months == 6
    assert old.subscription.cost_share_of_mrr == 0.0
    lifetime = LtvPredictor(bg, gg, draws, {"settings": {**settings, "contractual_horizon": "lifetime"}})
    assert lifetime.subscription.horizon_months is None


def bg_gg(bg: BetaGeoModel, gg: GammaGammaModel) -> np.ndarray:
    return np.array([*bg.params_.values(), *gg.params_.values()])


def test_settings_refuse_an_infinite_lifetime_value() -> None:
    with pytest.raises(UserInputError, match="CONTRACTUAL_HORIZON=lifetime needs CHURNLTV_LTV_DISCOUNT_RATE > 0"):
        load_ltv_settings(contractual_horizon="lifetime", discount_rate=0.0)
    with pytest.raises(UserInputError, match="CHURNLTV_LTV_CONTRACTUAL_COST_SHARE_OF_MRR"):
        load_ltv_settings(contractual_cost_share_of_mrr=1.5)
