"""apply_policy: all per-customer rules in one call, absent optional tables, a 1-row call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.customer_policy import POLICY_COLUMNS, apply_policy
from models.policy_settings import PolicySettings

EVENTS_ONLY = {
    "customer_id": ["a", "b", "c"],
    "as_of": pd.to_datetime(["2024-06-01"] * 3),
    "segment": ["b2c", "b2b", "b2c"],
    "acquisition_channel": ["ads", "seo", "ads"],
    "tenure_days": [200, 120, 10],
    "events_30d": [60, 3, 4],
    "active_days_30d": [15, 1, 3],
    "core_actions_30d": [30, 2, 1],
    "core_actions_prev_30d": [30, 10, 0],
    "core_trend_ratio": [1.0, 0.2, np.nan],
    "days_since_last_event": [1, 25, 2],
    "days_since_last_core_action": [1, 25, 5],
    "core_modules_used_90d": [5, 1, 1],
    "uses_3plus_modules": [1, 0, 0],
    "aha_reached": [1, 1, 0],
    "weeks_below_aha_bar": [0, 3, 1],
    "usual_gap_days": [1, 5, 2],
    "idle_ratio": [1.0, 5.0, 1.0],
}


def test_events_only_frame_never_keyerrors() -> None:
    out = apply_policy(pd.DataFrame(EVENTS_ONLY))
    assert set(POLICY_COLUMNS) <= set(out.columns)
    assert out["risk_tier"].tolist() == ["none", "high", "none"]
    assert out["nps_segment"].tolist() == [None, None, None]
    assert out["value_at_risk"].isna().all()
    assert out["health_neutral_components"].tolist() == ["service,feedback"] * 3
    assert out["health_service"].tolist() == [50.0] * 3
    not_evaluated = out.attrs["policy_not_evaluated"]
    assert "low_p_alive" in not_evaluated["risk_triggers"]
    assert "churn_probability_band" in not_evaluated["risk_triggers"]
    assert not_evaluated["value_at_risk"]
    assert out["stage_b2c"].tolist() == ["retention", "activation", "acquisition"]


def test_full_frame_with_model_outputs() -> None:
    frame = pd.DataFrame(EVENTS_ONLY).assign(
        nps_last=[10, 4, np.nan],
        tickets_90d=[0, 2, 0],
        tickets_open=[0, 1, 0],
        ticket_satisfaction_mean=[np.nan, 2.0, np.nan],
        sub_active=[1, 1, 0],
        days_since_last_txn=[5, 30, np.nan],
        txn_count_total=[10, 3, 0],
        days_since_reactivation=[np.nan, np.nan, np.nan],
        churn_probability=[0.05, 0.7, 0.3],
        p_alive=[0.99, 0.4, 0.9],
        predicted_ltv=[1000.0, 500.0, 100.0],
    )
    out = apply_policy(frame)
    assert out["risk_tier"].tolist() == ["none", "high", "low"]
    assert out["action_key"].tolist() == ["no_action", "time_limited_offer", "care_email_feature_tips"]
    assert out["nps_segment"].tolist() == ["promoter", "detractor", None]
    assert out["value_at_risk"].tolist() == pytest.approx([50.0, 350.0, 30.0])
    assert out["stage_b2c"].tolist() == ["referral", "activation", "acquisition"]
    assert out["stage_b2b"].tolist() == ["maturity", "maintenance", "acquisition"]
    assert out["health_score"].iloc[0] == pytest.approx(0.4 * 100 + 0.3 * 100 + 0.2 * 80 + 0.1 * 100)
    assert out["health_neutral_components"].iloc[0] == ""
    # the input columns pass through untouched and rows keep their order and index
    assert out["customer_id"].tolist() == ["a", "b", "c"]
    assert (out.index == frame.index).all()


def test_one_row_call_and_rerun_replaces_columns() -> None:
    one = pd.DataFrame(EVENTS_ONLY).iloc[[1]]
    out = apply_policy(one, PolicySettings())
    assert len(out) == 1
    assert out["risk_tier"].iloc[0] == "high"
    assert isinstance(out["triggers"].iloc[0], list)
    again = apply_policy(out)
    assert list(again.columns) == list(out.columns)
    assert again["risk_tier"].iloc[0] == "high"


def test_empty_frame() -> None:
    out = apply_policy(pd.DataFrame(EVENTS_ONLY).iloc[0:0])
    assert len(out) == 0
    assert set(POLICY_COLUMNS) <= set(out.columns)


def test_minimal_frame_without_any_feature() -> None:
    out = apply_policy(pd.DataFrame({"customer_id": ["x"]}))
    assert out["risk_tier"].iloc[0] == "none"
    assert out["health_score"].iloc[0] == pytest.approx(50.0)
    assert out["stage_b2c"].iloc[0] == "acquisition"


@settings(max_examples=60, deadline=None)
@given(
    probability=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20),
    idle=st.one_of(st.just(float("nan")), st.floats(0.0, 10.0)),
    active=st.one_of(st.just(float("nan")), st.floats(0.0, 30.0)),
    nps=st.one_of(st.none(), st.integers(0, 10)),
)
def test_properties_bounds_and_monotone_tier(
    probability: list[float], idle: float, active: float, nps: int | None
) -> None:
    n = len(probability)
    frame = pd.DataFrame(
        {
            "churn_probability": probability,
            "idle_ratio": [idle] * n,
            "active_days_30d": [active] * n,
            "nps_last": pd.array([nps] * n, dtype="Int64"),
        }
    )
    out = apply_policy(frame)
    assert out["health_score"].between(0, 100).all()
    order = np.argsort(probability, kind="stable")
    level = out["risk_tier"].map({"none": 0, "low": 1, "medium": 2, "high": 3}).to_numpy()[order]
    assert (np.diff(level) >= 0).all()  # more churn risk never lowers the tier
