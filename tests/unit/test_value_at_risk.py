"""Value at risk, the ranked retention list and the budget-constrained selection."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from models.value_at_risk import retention_list, select_for_budget, value_at_risk


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "churn_probability": [0.9, 0.1, 0.5, np.nan, 0.5],
            "predicted_ltv": [100.0, 5000.0, 400.0, 900.0, 10.0],
        }
    )


def test_value_at_risk_is_probability_times_ltv() -> None:
    assert value_at_risk([0.5, 0.2], [100.0, 50.0]).tolist() == [50.0, 10.0]
    with pytest.raises(UserInputError, match=r"within 0\.\.1"):
        value_at_risk([1.2], [1.0])


def test_retention_list_ranks_by_value_at_risk_unknown_last() -> None:
    ranked = retention_list(_frame())
    assert ranked["customer_id"].tolist() == ["b", "c", "a", "e", "d"]
    assert ranked["rank"].tolist() == [1, 2, 3, 4, 5]
    assert ranked["value_at_risk"].iloc[0] == pytest.approx(500.0)
    assert np.isnan(ranked["value_at_risk"].iloc[-1])
    assert retention_list(_frame(), top=2)["customer_id"].tolist() == ["b", "c"]


def test_equal_cost_budget_takes_largest_value_at_risk() -> None:
    chosen = select_for_budget(_frame(), budget=20.0, cost_per_action=10.0, save_rate=0.5)
    # gains: b 250-10, c 100-10, a 45-10, e 2.5-10 (never), d unknown (never)
    assert chosen["customer_id"].tolist() == ["b", "c"]
    assert chosen["cumulative_cost"].tolist() == [10.0, 20.0]
    assert chosen["expected_net_gain"].sum() == pytest.approx(240 + 90)


def test_customers_with_negative_gain_are_never_selected() -> None:
    chosen = select_for_budget(_frame(), budget=1000.0, cost_per_action=10.0, save_rate=0.5)
    assert set(chosen["customer_id"]) == {"a", "b", "c"}


def test_unequal_costs_greedy_close_to_brute_force() -> None:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(10)],
            "churn_probability": rng.uniform(0.1, 0.9, 10),
            "predicted_ltv": rng.uniform(50, 500, 10),
        }
    )
    cost = rng.uniform(5, 40, 10)
    budget, rate = 80.0, 0.4
    chosen = select_for_budget(frame, budget=budget, cost_per_action=cost, save_rate=rate)
    assert chosen["cost"].sum() <= budget + 1e-9
    gain = rate * frame["churn_probability"].to_numpy() * frame["predicted_ltv"].to_numpy() - cost
    best = max(
        sum(gain[list(s)])
        for k in range(11)
        for s in itertools.combinations(range(10), k)
        if cost[list(s)].sum() <= budget
    )
    assert chosen["expected_net_gain"].sum() >= 0.8 * best


def test_bad_budget_inputs() -> None:
    with pytest.raises(UserInputError, match="save_rate"):
        select_for_budget(_frame(), budget=10.0, cost_per_action=1.0, save_rate=1.5)
    with pytest.raises(UserInputError, match="budget"):
        select_for_budget(_frame(), budget=-1.0, cost_per_action=1.0, save_rate=0.5)
    with pytest.raises(UserInputError, match="'predicted_ltv'"):
        retention_list(_frame().drop(columns="predicted_ltv"))
