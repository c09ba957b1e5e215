"""Contractual CLV: the article examples of docs/DOMAIN.md section 6 and the invalid inputs."""

from __future__ import annotations

import numpy as np
import pytest

from features.errors import UserInputError
from models.contractual_clv import (
    expected_lifetime_from_churn,
    retention_clv,
    retention_clv_over_periods,
    retention_from_churn,
    retention_per_period,
    saas_clv,
    simple_clv,
)


def test_simple_article_example() -> None:
    assert simple_clv(45, 20, 36)[0] == pytest.approx(900.0)


def test_retention_article_example_and_series() -> None:
    assert retention_clv(2000, 500, 0.8, 0.05)[0] == pytest.approx(6300.0)
    series = sum(1500 * 0.8**t / 1.05**t for t in range(2000))
    assert retention_clv(2000, 500, 0.8, 0.05)[0] == pytest.approx(series)


def test_pay_after_service() -> None:
    assert retention_clv(2000, 500, 0.8, 0.05, pay_after_service=True)[0] == pytest.approx(1500 * 0.8 / 0.25)


def test_monotone_in_retention_and_discount() -> None:
    values = retention_clv(2000, 500, [0.5, 0.7, 0.9], 0.05)
    assert np.all(np.diff(values) > 0)
    assert retention_clv(2000, 500, 0.8, 0.02)[0] > retention_clv(2000, 500, 0.8, 0.1)[0]


def test_saas_and_churn_link() -> None:
    assert saas_clv(100, 24, 300)[0] == pytest.approx(2100.0)
    r = retention_from_churn([0.2, 0.05])
    np.testing.assert_allclose(r, [0.8, 0.95])
    assert retention_clv(2000, 500, r, 0.05)[0] == pytest.approx(6300.0)
    assert expected_lifetime_from_churn(0.25)[0] == pytest.approx(4.0)


def test_invalid_inputs() -> None:
    with pytest.raises(UserInputError, match="retention: row 0"):
        retention_clv(2000, 500, 1.0, 0.0)
    with pytest.raises(UserInputError, match="discount"):
        retention_clv(2000, 500, 0.8, -0.1)
    with pytest.raises(UserInputError, match="expected_lifetime_months: row 1"):
        simple_clv(45, 20, [36, -1])
    with pytest.raises(UserInputError, match="p_churn_one_period"):
        retention_from_churn(1.2)
    with pytest.raises(UserInputError, match="one length"):
        saas_clv([1, 2, 3], [1, 2], 0)


def test_finite_horizon_is_the_first_terms_of_the_series() -> None:
    for pay_after in (False, True):
        start = 1 if pay_after else 0
        by_hand = sum(1500 * 0.8**t / 1.05**t for t in range(start, start + 12))
        got = retention_clv_over_periods(2000, 500, 0.8, 0.05, 12, pay_after_service=pay_after)[0]
        assert got == pytest.approx(by_hand, rel=1e-12)
        infinite = retention_clv(2000, 500, 0.8, 0.05, pay_after_service=pay_after)[0]
        assert retention_clv_over_periods(2000, 500, 0.8, 0.05, 2000, pay_after_service=pay_after)[0] == (
            pytest.approx(infinite, rel=1e-12)
        )
    # r = 1 with no discounting is finite over a horizon: N x margin (the infinite formula refuses it)
    assert retention_clv_over_periods(2000, 500, 1.0, 0.0, 12)[0] == pytest.approx(12 * 1500)
    assert retention_clv_over_periods(2000, 500, 1.0, 0.0, 12, pay_after_service=True)[0] == pytest.approx(12 * 1500)
    assert retention_clv_over_periods(2000, 500, 0.0, 0.05, 12)[0] == pytest.approx(1500)  # only the paid month
    assert retention_clv_over_periods(2000, 500, 0.0, 0.05, 12, pay_after_service=True)[0] == 0.0
    with pytest.raises(UserInputError, match=r"periods: row 0 has value 2\.5,"):
        retention_clv_over_periods(2000, 500, 0.8, 0.05, 2.5)


def test_retention_per_period_from_a_horizon_probability() -> None:
    """Constant hazard: surviving H days is 1 - p, so a month of 30.4375 days retains (1 - p)^(30.4375 / H)."""
    r = retention_per_period([0.1, 0.0, 1.0], horizon_days=30, period_days=365.25 / 12)
    np.testing.assert_allclose(r, [0.9 ** (30.4375 / 30), 1.0, 0.0], rtol=1e-15)
    assert r[0] < 0.9  # a month is longer than 30 days
    # 90-day probability of 0.271 = 1 - 0.9^3 gives 0.9 per 30 days
    assert retention_per_period(0.271, 90, 30)[0] == pytest.approx(0.9)
    np.testing.assert_allclose(retention_per_period([0.2, 0.05], 30, 30), retention_from_churn([0.2, 0.05]))
    with pytest.raises(UserInputError, match=r"p_churn_horizon: row 0 has value 1\.5,"):
        retention_per_period(1.5, 30, 30)
    with pytest.raises(UserInputError, match="horizon_days and period_days must be positive"):
        retention_per_period(0.1, 0, 30)


def test_invalid_values_are_quoted_as_plain_numbers() -> None:
    with pytest.raises(UserInputError) as err:
        retention_clv(2000, 500, np.float64(1.2), 0.05)
    assert "value 1.2," in str(err.value)
    assert "np.float64" not in str(err.value)
