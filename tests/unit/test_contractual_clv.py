"""Contractual CLV: the article examples of DOMAIN.md section 6 and the invalid inputs."""

from __future__ import annotations

import numpy as np
import pytest

from features.errors import UserInputError
from models.contractual_clv import (
    expected_lifetime_from_churn,
    retention_clv,
    retention_from_churn,
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
