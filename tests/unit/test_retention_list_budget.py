"""``/v1/retention-list?budget=``: on an uplift run the budget goes by incremental value per unit cost of each
customer's best action, never to the run's control group; a run without uplift keeps value at risk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from service.api.routes.retention import select_for_budget


def _run(basis: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "churn_probability": [0.9, 0.8, 0.5, 0.2, 0.9],
            "predicted_ltv": [1000.0, 500.0, 100.0, 50.0, 2000.0],
            "value_at_risk": [900.0, 400.0, 50.0, 10.0, 1800.0],
            "decision_basis": basis,
            # a: sleeping dog (highest value at risk but contact harms); e: held out as control
            "best_action": ["no_action", "offer", "email", "email", "offer"],
            "incremental_value": [0.0, 30.0, 8.0, 3.0, 500.0],
            "action_cost": [0.0, 6.0, 0.2, 0.2, 6.0],
            "holdout_control": [0.0, 0.0, 0.0, 0.0, 1.0],
        }
    )


def test_uplift_run_spends_by_incremental_value_per_cost_and_skips_the_control_group() -> None:
    basis, chosen = select_for_budget(_run("uplift"), budget=6.5, cost_per_action=10.0, save_rate=0.2)
    assert basis == "uplift"
    # c (40 per unit), d (15 per unit), b (5 per unit): 6.4 of 6.5; a has no positive value; e is the control group
    assert list(chosen["customer_id"]) == ["c", "d", "b"]
    assert list(chosen["cost"]) == pytest.approx([0.2, 0.2, 6.0])
    assert list(chosen["expected_net_gain"]) == pytest.approx([8.0, 3.0, 30.0])
    assert list(chosen["cumulative_cost"]) == pytest.approx([0.2, 0.4, 6.4])


def test_risk_x_value_run_keeps_value_at_risk_without_the_control_group() -> None:
    run = _run("risk_x_value").assign(incremental_value=np.nan, action_cost=np.nan)
    basis, chosen = select_for_budget(run, budget=20.0, cost_per_action=10.0, save_rate=0.2)
    assert basis == "risk_x_value"
    assert list(chosen["customer_id"]) == ["a", "b"]  # e has the largest value at risk but is held out


def test_a_run_of_an_older_release_is_risk_x_value() -> None:
    old = _run("uplift").drop(columns=["decision_basis", "best_action", "incremental_value", "holdout_control"])
    basis, chosen = select_for_budget(old, budget=10.0, cost_per_action=10.0, save_rate=0.2)
    assert basis == "risk_x_value"
    assert list(chosen["customer_id"]) == ["e"]
