"""B2B roll-up: account-level signals, tier and health computed per account."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from models.account_rollup import account_policy, rollup_accounts


def _users() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["u1", "u2", "u3", "u4"],
            "tenure_days": [300, 100, 50, 200],
            "active_days_30d": [10, 2, 0, 0],
            "core_actions_30d": [40, 5, 0, 0],
            "core_actions_prev_30d": [50, 5, 0, 10],
            "core_modules_used_90d": [2, 3, 1, 1],
            "aha_reached": [1, 1, 0, 1],
            "weeks_below_aha_bar": [0, 3, 4, 5],
            "idle_ratio": [0.5, 2.0, np.nan, 6.0],
            "days_since_last_event": [1, 10, np.nan, 100],
            "tickets_90d": [1, 0, 0, 0],
            "tickets_open": [1, 0, 0, 0],
            "nps_last": [9, np.nan, 5, np.nan],
            "churn_probability": [0.1, 0.5, 0.6, 0.8],
            "predicted_ltv": [100.0, 50.0, 10.0, 40.0],
        }
    )


ACCOUNTS = pd.Series(["acme", "acme", "acme", "solo"], index=["u1", "u2", "u3", "u4"])


def test_rollup_aggregation_rules() -> None:
    accounts = rollup_accounts(_users(), ACCOUNTS).set_index("account_id")
    acme = accounts.loc["acme"]
    assert acme["users"] == 3
    assert acme["core_actions_30d"] == 45
    assert acme["core_trend_ratio"] == pytest.approx(45 / 55)  # ratio of sums, not mean of ratios
    assert acme["active_days_30d"] == 10
    assert acme["core_modules_used_90d"] == 3
    assert acme["weeks_below_aha_bar"] == 0  # below the bar only when every user is
    assert acme["days_since_last_event"] == 1
    assert acme["nps_last"] == pytest.approx(7.0)
    assert acme["churn_probability"] == pytest.approx(0.4)
    assert acme["predicted_ltv"] == pytest.approx(160.0)
    assert acme["segment"] == "b2b"
    assert accounts.loc["solo", "core_trend_ratio"] == 0.0


def test_account_tier_and_health_at_account_level() -> None:
    result = account_policy(_users(), ACCOUNTS).set_index("account_id")
    # acme: a 18% drop and no user idle -> only the 0.4 probability band fires (medium)
    assert result.loc["acme", "risk_tier"] == "medium"
    # solo: idle 100 days, 6x its rhythm, P(churn) 0.8 -> high
    assert result.loc["solo", "risk_tier"] == "high"
    assert result["health_score"]["acme"] > result["health_score"]["solo"]
    assert result.loc["solo", "stage_b2b"] == "churn"


def test_account_id_column_and_cutoffs() -> None:
    frame = pd.concat([_users().assign(as_of="2024-01-01"), _users().assign(as_of="2024-02-01")], ignore_index=True)
    frame["account_id"] = ["acme", "acme", "acme", "solo"] * 2
    accounts = rollup_accounts(frame)
    assert len(accounts) == 4
    assert set(accounts["as_of"]) == {"2024-01-01", "2024-02-01"}


def test_user_without_account_is_an_error() -> None:
    frame = _users().assign(account_id=pd.Series(["acme", None, "acme", "solo"], dtype=object))
    with pytest.raises(UserInputError, match="customer 'u2' has no account_id"):
        rollup_accounts(frame)
    with pytest.raises(UserInputError, match="account_id"):
        rollup_accounts(_users())


def test_account_nps_is_the_users_mean_rounded_to_a_whole_score() -> None:
    # 9 and 6 -> 7.5 -> 8 (passive); 10, 9, 5 -> 8 exactly; 5 and 6 -> 5.5 -> 6 (detractor); none answered -> missing
    users = pd.DataFrame(
        {
            "customer_id": ["a1", "a2", "b1", "b2", "b3", "c1", "c2", "d1"],
            "account_id": ["a", "a", "b", "b", "b", "c", "c", "d"],
            "nps_last": [9, 6, 10, 9, 5, 5, 6, np.nan],
            "churn_probability": [0.1] * 8,
        }
    )
    result = account_policy(users).set_index("account_id")  # raised on a fractional NPS before
    assert result["nps_last"].tolist()[:3] == [8.0, 8.0, 6.0]
    assert np.isnan(result.loc["d", "nps_last"])
    assert result["nps_segment"].tolist() == ["passive", "passive", "detractor", None]
    assert result.loc["a", "health_feedback"] == pytest.approx(80.0)


def _buyer_and_never_buyer() -> pd.DataFrame:
    # acme: u1 bought (BG/NBD says P(alive) 0.1), u2 never bought (P(alive) is the model's prior, 1.0);
    # solo: u3 never bought
    return pd.DataFrame(
        {
            "customer_id": ["u1", "u2", "u3"],
            "account_id": ["acme", "acme", "solo"],
            "days_since_last_event": [2.0, 1.0, 3.0],
            "churn_probability": [0.1, 0.1, 0.1],
            "btyd_frequency": [4.0, np.nan, np.nan],
            "p_alive": [0.1, 1.0, 1.0],
        }
    )


def test_account_p_alive_is_over_buyers_only_and_keeps_purchase_history() -> None:
    accounts = rollup_accounts(_buyer_and_never_buyer()).set_index("account_id")
    # the never-buyer's prior must not hide the buyer's low P(alive)
    assert accounts.loc["acme", "p_alive"] == pytest.approx(0.1)
    assert accounts.loc["acme", "btyd_frequency"] == 4.0
    # no buyer: no purchase rhythm, so no P(alive) and no purchase history
    assert np.isnan(accounts.loc["solo", "p_alive"])
    assert np.isnan(accounts.loc["solo", "btyd_frequency"])


def test_a_never_buyer_does_not_hide_the_accounts_low_p_alive_warning() -> None:
    result = account_policy(_buyer_and_never_buyer()).set_index("account_id")
    acme = [t["trigger"] for t in result.loc["acme", "triggers"]]
    assert "low_p_alive" in acme
    assert result.loc["acme", "risk_tier"] == "high"
    assert "low_p_alive" not in [t["trigger"] for t in result.loc["solo", "triggers"]]
