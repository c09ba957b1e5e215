"""Lost is not at risk: the lapse rule of features/lapse.py (and P(alive) of buyers) takes customers out of the
early-warning tiers, gives them the win-back action and the B2B stage churn."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.lapse import LapseRule
from models.customer_policy import apply_policy
from models.lost_customers import lost_customers
from models.policy_frame import PolicyInputs
from models.policy_settings import PolicySettings


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            # daily user silent 40 days (lost: > 30), weekly user silent 40 days (not: 6x7=42), monthly user silent
            # 200 days (lost: > 180), no rhythm silent 100 days (lost: fallback 90), a buyer with P(alive) 0.01
            "days_since_last_event": [40.0, 40.0, 200.0, 100.0, 20.0],
            "usual_gap_days": [1.0, 7.0, 30.0, np.nan, 10.0],
            "idle_ratio": [40.0, 40 / 7, 200 / 30, np.nan, 2.0],
            "tenure_days": [400.0] * 5,
            "active_days_30d": [0.0, 0.0, 0.0, 0.0, 3.0],
            "churn_probability": [0.9, 0.5, 0.9, 0.7, 0.3],
            "p_alive": [np.nan, np.nan, np.nan, np.nan, 0.01],
            "btyd_frequency": [np.nan, np.nan, np.nan, np.nan, 4.0],
            "aha_reached": [1.0] * 5,
        }
    )


def test_lost_by_own_rhythm_and_by_p_alive() -> None:
    result = lost_customers(PolicyInputs(_frame()), PolicySettings())
    assert result.by_rhythm.tolist() == [True, False, True, True, False]
    assert result.by_p_alive.tolist() == [False, False, False, False, True]
    assert result.lost.tolist() == [True, False, True, True, True]
    strict = lost_customers(PolicyInputs(_frame()), PolicySettings(), LapseRule(multiplier=3.0))
    assert strict.by_rhythm[1]  # the weekly user is gone after 3x7 = 21 days under a stricter rule
    off = lost_customers(PolicyInputs(_frame()), PolicySettings(lost_p_alive_below=None))
    assert not off.lost[4]


def test_policy_keeps_tiers_for_the_active_base() -> None:
    scored = apply_policy(_frame(), PolicySettings())
    assert scored["risk_tier"].tolist() == ["none", "high", "none", "none", "none"]  # idle 5.7x: at risk, not gone
    assert scored["action_key"].tolist()[0] == "win_back_campaign"
    assert scored["action_key"].tolist()[1] == "time_limited_offer"
    assert (scored["stage_b2b"][[0, 2, 3, 4]] == "churn").all()
    assert scored.loc[1, "stage_b2b"] != "churn"


def test_lost_customers_have_the_b2c_stage_lost_and_the_flag() -> None:
    scored = apply_policy(_frame(), PolicySettings())
    assert scored["lost"].tolist() == [True, False, True, True, True]
    assert (scored["stage_b2c"][scored["lost"]] == "lost").all()
    assert scored.loc[1, "stage_b2c"] != "lost"


def test_win_back_list_ranks_the_lost_by_what_they_used_to_spend() -> None:
    from models.lost_customers import win_back_list

    frame = _frame().assign(customer_id=["a", "b", "c", "d", "e"], txn_amount_total=[10.0, 999.0, np.nan, 50.0, 30.0])
    listed = win_back_list(apply_policy(frame, PolicySettings()))
    assert listed["customer_id"].tolist() == ["d", "e", "a", "c"]  # b is active; unknown spend last, kept
    assert listed["rank"].tolist() == [1, 2, 3, 4]
    assert listed.attrs["value_column"] == "txn_amount_total"
    assert win_back_list(apply_policy(frame, PolicySettings()), top=2)["customer_id"].tolist() == ["d", "e"]
    by_stage = win_back_list(apply_policy(frame, PolicySettings()).drop(columns="lost"))
    assert by_stage["customer_id"].tolist() == ["d", "e", "a", "c"]


def test_win_back_list_needs_the_policy() -> None:
    import pytest

    from features.errors import UserInputError
    from models.lost_customers import win_back_list

    with pytest.raises(UserInputError, match="column lost"):
        win_back_list(pd.DataFrame({"customer_id": ["a"]}))
