"""Best action = largest positive incremental value, else no_action; the budget goes by value per cost."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from models.retention_decision import allocate_budget, decide, greedy_by_value_per_cost, spend_run_rate


def test_decide_takes_the_largest_positive_value_and_spares_sleeping_dogs() -> None:
    uplift = {"email": np.array([0.10, 0.02, -0.2, 0.0]), "offer": np.array([0.05, 0.20, -0.1, 0.0])}
    spend = {"email": np.array([0.0, 0.0, 0.0, 0.0])}
    ltv = np.array([100.0, 100.0, 500.0, np.nan])
    d = decide(uplift, spend, ltv, {"email": 1.0, "offer": 10.0})
    # email: 10-1=9, 2-1=1, -101, -1 ; offer: 5-10=-5, 20-10=10, -60, -10
    assert d.best_action.tolist() == ["email", "offer", "no_action", "no_action"]
    np.testing.assert_allclose(d.incremental_value, [9.0, 10.0, 0.0, 0.0])
    np.testing.assert_allclose(d.expected_uplift, [0.10, 0.20, 0.0, 0.0])
    np.testing.assert_allclose(d.cost, [1.0, 10.0, 0.0, 0.0])


def test_decide_validates_inputs() -> None:
    with pytest.raises(UserInputError, match="no cost"):
        decide({"email": [0.1]}, {}, [1.0], {})
    with pytest.raises(UserInputError, match="non-negative"):
        decide({"email": [0.1]}, {}, [1.0], {"email": -1.0})
    with pytest.raises(UserInputError, match="LTV"):
        decide({"email": [0.1]}, {}, [-1.0], {"email": 1.0})


def test_greedy_by_value_per_cost() -> None:
    gain = np.array([10.0, 9.0, 4.0, -1.0, 3.0])
    cost = np.array([10.0, 3.0, 1.0, 1.0, 0.0])
    # ratios: 1, 3, 4, -, inf  -> order 4, 2, 1, 0 ; budget 5 fits 4 (0), 2 (1), 1 (3) -> 4 spent, 0 does not fit
    assert greedy_by_value_per_cost(gain, cost, 5.0).tolist() == [4, 2, 1]
    assert greedy_by_value_per_cost(gain, cost, 0.0).tolist() == [4]
    with pytest.raises(UserInputError, match="budget"):
        greedy_by_value_per_cost(gain, cost, -1.0)


def test_allocate_budget_ranks_and_accumulates() -> None:
    frame = pd.DataFrame(
        {"customer_id": ["a", "b", "c"], "incremental_value": [5.0, 8.0, 0.0], "action_cost": [1.0, 4.0, 1.0]}
    )
    out = allocate_budget(frame, 5.0)
    assert out["customer_id"].tolist() == ["a", "b"]
    assert out["rank"].tolist() == [1, 2]
    assert out["cumulative_cost"].tolist() == [1.0, 5.0]


def test_spend_run_rate() -> None:
    frame = pd.DataFrame({"txn_amount_90d": [90.0, np.nan]})
    np.testing.assert_allclose(spend_run_rate(frame), [365.0, 0.0])
    assert spend_run_rate(pd.DataFrame({"x": [1]})).tolist() == [0.0]
