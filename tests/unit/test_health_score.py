"""Health score card (docs/DOMAIN.md section 4): components, weights, neutral fallbacks, the >= 85 check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from models.health_score import compute_health_score, retention_by_health
from models.policy_settings import PolicySettings

FULL = {
    "active_days_30d": 15,
    "core_modules_used_90d": 5,
    "tickets_90d": 0,
    "tickets_open": 0,
    "ticket_satisfaction_mean": np.nan,
    "ticket_resolution_hours_mean": np.nan,
    "nps_last": 10,
}


def _frame(**overrides: object) -> pd.DataFrame:
    return pd.DataFrame({k: [v] for k, v in (FULL | overrides).items()})


def test_perfect_customer_without_tickets() -> None:
    result = compute_health_score(_frame())
    assert result.components["activity"][0] == 100.0
    assert result.components["penetration"][0] == 100.0
    assert result.components["service"][0] == 80.0  # no ticket: service_no_ticket_score
    assert result.components["feedback"][0] == 100.0
    assert result.score[0] == pytest.approx(0.4 * 100 + 0.3 * 100 + 0.2 * 80 + 0.1 * 100)


def test_hand_computed_mixed_customer() -> None:
    # activity 6/15 -> 40; penetration 3/5 -> 60; service: satisfaction 4 -> 75, one open ticket -20,
    # resolution 72h vs 48h target -> half of the 30-point slowness penalty -> 40; feedback NPS 7 -> 70
    frame = _frame(
        active_days_30d=6,
        core_modules_used_90d=3,
        tickets_90d=2,
        tickets_open=1,
        ticket_satisfaction_mean=4.0,
        ticket_resolution_hours_mean=72.0,
        nps_last=7,
    )
    result = compute_health_score(frame)
    assert result.components["activity"][0] == pytest.approx(40.0)
    assert result.components["penetration"][0] == pytest.approx(60.0)
    assert result.components["service"][0] == pytest.approx(40.0)
    assert result.components["feedback"][0] == pytest.approx(70.0)
    assert result.score[0] == pytest.approx(0.4 * 40 + 0.3 * 60 + 0.2 * 40 + 0.1 * 70)
    assert not any(flag[0] for flag in result.neutral.values())


def test_components_are_clipped_to_0_100() -> None:
    frame = _frame(active_days_30d=30, core_modules_used_90d=9, tickets_90d=3, tickets_open=9)
    result = compute_health_score(frame)
    assert result.components["activity"][0] == 100.0
    assert result.components["penetration"][0] == 100.0
    assert result.components["service"][0] == 0.0


def test_absent_tables_give_neutral_flagged_components() -> None:
    frame = pd.DataFrame({"active_days_30d": [15], "core_modules_used_90d": [5]})
    result = compute_health_score(frame)
    assert result.components["service"][0] == 50.0
    assert result.components["feedback"][0] == 50.0
    assert result.neutral["service"][0]
    assert result.neutral["feedback"][0]
    assert not result.neutral["activity"][0]
    assert set(result.absent_inputs) == {"tickets_90d", "nps_last"}
    assert result.score[0] == pytest.approx(40 + 30 + 0.2 * 50 + 0.1 * 50)


def test_never_answered_nps_is_neutral_for_that_customer_only() -> None:
    frame = pd.concat([_frame(nps_last=np.nan), _frame(nps_last=0)], ignore_index=True)
    result = compute_health_score(frame)
    assert result.components["feedback"].tolist() == [50.0, 0.0]
    assert result.neutral["feedback"].tolist() == [True, False]


def test_weights_come_from_settings() -> None:
    settings = PolicySettings(weight_activity=1.0, weight_penetration=0.0, weight_service=0.0, weight_feedback=0.0)
    result = compute_health_score(_frame(active_days_30d=3), settings)
    assert result.score[0] == pytest.approx(20.0)


def test_retention_by_health_table() -> None:
    scores = [90, 95, 86, 40, 60, 85]
    churned_30 = [0, 0, 1, 1, 0, 0]
    churned_90 = [0, 1, 1, 1, 1, np.nan]
    table = retention_by_health(scores, {90: churned_90, 30: churned_30})
    assert table["horizon_days"].tolist() == [30, 30, 90, 90]
    healthy_30 = table.iloc[0]
    assert healthy_30["group"] == "score >= 85"
    assert healthy_30["customers"] == 4
    assert healthy_30["retention_rate"] == pytest.approx(3 / 4)
    rest_30 = table.iloc[1]
    assert rest_30["retention_rate"] == pytest.approx(1 / 2)
    healthy_90 = table.iloc[2]
    assert healthy_90["labelled"] == 3  # the NaN outcome is counted, not labelled
    assert healthy_90["retention_rate"] == pytest.approx(1 / 3)


def test_retention_by_health_rejects_bad_flags() -> None:
    with pytest.raises(UserInputError, match="churned-within-30-days flag at position 1 is 2"):
        retention_by_health([90, 10], {30: [0, 2]})
    with pytest.raises(UserInputError, match="3 values, scores have 2"):
        retention_by_health([90, 10], {30: [0, 1, 1]})


def test_retention_by_health_threshold_defaults_to_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from models.policy_settings import default_policy_settings

    monkeypatch.setenv("CHURNLTV_POLICY_HEALTHY_SCORE", "50")
    default_policy_settings.cache_clear()
    try:
        table = retention_by_health([60, 40], {30: [0, 1]})
    finally:
        monkeypatch.delenv("CHURNLTV_POLICY_HEALTHY_SCORE")
        default_policy_settings.cache_clear()
    assert table["group"].tolist() == ["score >= 50", "score < 50"]
    assert table["customers"].tolist() == [1, 1]


def test_neutral_flags_are_returned_per_component_for_absent_tables() -> None:
    # no ticket and no NPS columns (tables absent): both components neutral and flagged, the others measured
    result = compute_health_score(pd.DataFrame({"active_days_30d": [15], "core_modules_used_90d": [5]}))
    assert {name: bool(flags[0]) for name, flags in result.neutral.items()} == {
        "activity": False,
        "penetration": False,
        "service": True,
        "feedback": True,
    }
    assert result.components["service"][0] == PolicySettings().neutral_score
    assert set(result.absent_inputs) == {"tickets_90d", "nps_last"}
