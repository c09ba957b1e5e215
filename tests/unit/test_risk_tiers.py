"""Risk tiers on hand-made customers, including the article's examples (docs/DOMAIN.md section 3)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.policy_settings import PolicySettings
from models.risk_tiers import assign_risk_tiers


def _one(**cols: object) -> pd.DataFrame:
    return pd.DataFrame({k: [v] for k, v in cols.items()})


def test_thirty_percent_drop_fires_low_and_twenty_nine_does_not() -> None:
    # 10 core actions in the prior 30 days, then 7 (30% down) or 7.1 (29% down)
    frame = pd.DataFrame({"core_trend_ratio": [7 / 10, 71 / 100]})
    result = assign_risk_tiers(frame)
    assert result.tier.tolist() == ["low", "none"]
    assert result.action_key.tolist() == ["care_email_feature_tips", "no_action"]
    fired = result.triggers[0][0]
    assert fired["trigger"] == "core_frequency_drop"
    assert fired["value"] == pytest.approx(0.7)
    assert fired["threshold"] == pytest.approx(0.7)
    assert result.triggers[1] == []


def test_two_weeks_below_aha_bar_fires_medium_one_does_not() -> None:
    result = assign_risk_tiers(pd.DataFrame({"weeks_below_aha_bar": [2, 1, 5]}))
    assert result.tier.tolist() == ["medium", "none", "medium"]
    assert result.action_key[0] == "account_manager_callback"
    assert result.triggers[0][0]["trigger"] == "below_aha_bar"


def test_high_tier_from_own_rhythm_or_p_alive() -> None:
    frame = pd.DataFrame(
        {
            "idle_ratio": [3.0, 2.9, 1.0, 1.0],
            "p_alive": [0.9, 0.9, 0.29, 0.9],
            "days_since_last_event": [10, 10, 10, 90],
        }
    )
    result = assign_risk_tiers(frame)
    # row 4 idled 90 days but at its own rhythm: the old absolute 90-day rule no longer fires
    assert result.tier.tolist() == ["high", "none", "high", "none"]
    assert [t["trigger"] for t in result.triggers[0]] == ["idle_vs_own_rhythm"]
    assert [t["trigger"] for t in result.triggers[2]] == ["low_p_alive"]
    assert result.triggers[3] == []
    assert result.action_key[0] == "time_limited_offer"


def test_low_frequency_buyer_with_long_normal_gaps_is_not_high_tier() -> None:
    # docs/DOMAIN.md section 9: a customer who buys (and logs in) every ~4 months, last seen 150 days ago, and one whose
    # 180-day event window is empty (no idle_ratio) but whose purchase rhythm says alive (P(alive) 0.75)
    frame = pd.DataFrame(
        {
            "usual_gap_days": [120.0, np.nan],
            "idle_ratio": [150 / 120, np.nan],
            "days_since_last_event": [150.0, 240.0],
            "tenure_days": [900.0, 900.0],
            "p_alive": [0.8, 0.75],
        }
    )
    result = assign_risk_tiers(frame)
    assert result.tier.tolist() == ["none", "none"]
    assert result.triggers == [[], []]
    # the same customers under a rhythm-blind 90-day rule would both be high tier
    blind = assign_risk_tiers(frame, PolicySettings(high_idle_days=90))
    assert blind.tier.tolist() == ["high", "high"]
    assert [t["trigger"] for t in blind.triggers[0]] == ["idle_too_long"]


def test_customer_without_any_rhythm_falls_back_to_days_idle() -> None:
    frame = pd.DataFrame(
        {
            "idle_ratio": [np.nan, np.nan, 1.0],
            "p_alive": [np.nan, np.nan, np.nan],
            "days_since_last_event": [200.0, 170.0, 200.0],
        }
    )
    result = assign_risk_tiers(frame)
    # with no rhythm at all the lapse rule's 90-day fallback says the first two have left: lost, not at risk
    assert result.tier.tolist() == ["none", "none", "none"]
    assert result.action_key.tolist() == ["win_back_campaign", "win_back_campaign", "no_action"]
    assert result.lost is not None
    assert result.lost.tolist() == [True, True, False]
    fired = result.triggers[0][0]  # the evidence stays listed
    assert fired["trigger"] == "idle_without_rhythm"
    assert (fired["value"], fired["threshold"]) == (200.0, 180.0)
    off = assign_risk_tiers(frame, PolicySettings(high_idle_days_without_rhythm=None))
    assert off.tier.tolist() == ["none", "none", "none"]
    assert "idle_without_rhythm" not in off.not_evaluated  # switched off, not missing input


def test_never_buyers_prior_p_alive_is_not_a_rhythm() -> None:
    # scoring gives a customer with no purchase BG/NBD's prior P(alive) = 1.0; that is not a measured rhythm,
    # so the idle-without-rhythm rule still applies to them (but not to a buyer with the same P(alive))
    frame = pd.DataFrame(
        {
            "idle_ratio": [np.nan, np.nan],
            "p_alive": [1.0, 1.0],
            "btyd_frequency": [np.nan, 0.0],
            "days_since_last_event": [400.0, 400.0],
        }
    )
    result = assign_risk_tiers(frame)
    # the never-buyer has no rhythm: lost by the lapse fallback (the trigger is the evidence); the buyer's
    # measured P(alive) says alive, so the fallback does not apply to them
    assert result.tier.tolist() == ["none", "none"]
    assert result.action_key.tolist() == ["win_back_campaign", "no_action"]
    assert [t["trigger"] for t in result.triggers[0]] == ["idle_without_rhythm"]


def test_never_active_customer_is_idle_since_signup() -> None:
    result = assign_risk_tiers(_one(days_since_last_event=np.nan, tenure_days=200))
    assert result.tier[0] == "high"
    assert result.triggers[0][0]["trigger"] == "idle_without_rhythm"
    assert result.triggers[0][0]["value"] == 200.0
    assert assign_risk_tiers(_one(days_since_last_event=np.nan, tenure_days=120)).tier[0] == "none"


def test_tier_is_max_of_rule_and_probability_band() -> None:
    frame = pd.DataFrame(
        {
            "core_trend_ratio": [0.5, 1.0, 1.0, 0.5, 1.0],
            "churn_probability": [0.1, 0.45, 0.6, 0.7, 0.19],
        }
    )
    result = assign_risk_tiers(frame)
    assert result.tier.tolist() == ["low", "medium", "high", "high", "none"]
    band = next(t for t in result.triggers[3] if t["trigger"] == "churn_probability_band")
    assert band["tier"] == "high"
    assert band["threshold"] == pytest.approx(0.6)
    # a rule can raise the tier the model gives, never lower it
    assert len(result.triggers[3]) == 2


def test_every_fired_trigger_is_listed_with_value_and_threshold() -> None:
    result = assign_risk_tiers(_one(core_trend_ratio=0.5, weeks_below_aha_bar=3, idle_ratio=4.0))
    assert result.tier[0] == "high"
    names = {t["trigger"]: t for t in result.triggers[0]}
    assert set(names) == {"core_frequency_drop", "below_aha_bar", "idle_vs_own_rhythm"}
    assert names["below_aha_bar"]["value"] == 3.0
    assert names["idle_vs_own_rhythm"]["threshold"] == 3.0


def test_settings_change_thresholds_and_action_texts() -> None:
    settings = PolicySettings(low_frequency_drop=0.5, action_low_key="nudge", action_low_text="Send a nudge.")
    result = assign_risk_tiers(pd.DataFrame({"core_trend_ratio": [0.6, 0.5]}), settings)
    assert result.tier.tolist() == ["none", "low"]
    assert result.action_key[1] == "nudge"
    assert result.action_text[1] == "Send a nudge."


def test_absent_columns_are_not_evaluated_and_nan_does_not_fire() -> None:
    frame = pd.DataFrame({"customer_id": ["a", "b"], "core_trend_ratio": [np.nan, 0.2]})
    result = assign_risk_tiers(frame)
    assert result.tier.tolist() == ["none", "low"]
    assert set(result.not_evaluated) == {
        "below_aha_bar",
        "idle_vs_own_rhythm",
        "low_p_alive",
        "idle_without_rhythm",
        "churn_probability_band",
        "lost_by_rhythm (no days_since_last_event)",
        "lost_by_p_alive (no p_alive)",
    }


def test_nullable_dtypes_are_read() -> None:
    frame = pd.DataFrame({"weeks_below_aha_bar": pd.array([2, None], dtype="Int64")})
    assert assign_risk_tiers(frame).tier.tolist() == ["medium", "none"]


def test_empty_frame() -> None:
    result = assign_risk_tiers(pd.DataFrame({"idle_ratio": pd.Series([], dtype=float)}))
    assert result.tier.shape == (0,)
    assert result.triggers == []
