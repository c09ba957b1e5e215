"""Lifecycle stages on hand-made histories, including docs/DOMAIN.md's non-linear paths."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.lifecycle_stage import assign_lifecycle_stages

BASE = {
    "tenure_days": 200.0,
    "aha_reached": 1.0,
    "active_days_30d": 12.0,
    "days_since_last_event": 1.0,
    "core_trend_ratio": 1.0,
    "days_since_reactivation": np.nan,
    "sub_active": 0.0,
    "sub_ended_count": 0.0,
    "days_since_last_txn": np.nan,
    "nps_last": np.nan,
}


def _history(*snapshots: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([BASE | s for s in snapshots])


def _stages(frame: pd.DataFrame) -> list[tuple[str, str]]:
    stages = assign_lifecycle_stages(frame)
    return list(zip(stages.b2c.tolist(), stages.b2b.tolist(), strict=True))


def test_new_active_loyal() -> None:
    frame = _history(
        {"tenure_days": 3, "aha_reached": 0, "active_days_30d": 2},
        {"tenure_days": 30, "active_days_30d": 10},
        {"tenure_days": 120, "active_days_30d": 18, "sub_active": 1},
        {"tenure_days": 300, "active_days_30d": 20, "sub_active": 1, "nps_last": 10},
    )
    assert _stages(frame) == [
        ("acquisition", "acquisition"),
        ("retention", "growth"),
        ("monetization", "maturity"),
        ("referral", "maturity"),
    ]


def test_new_inactive_churned() -> None:
    frame = _history(
        {"tenure_days": 5, "aha_reached": 0, "active_days_30d": 1, "days_since_last_event": 4},
        {"tenure_days": 40, "aha_reached": 0, "active_days_30d": 0, "days_since_last_event": 35},
        {"tenure_days": 100, "aha_reached": 0, "active_days_30d": 0, "days_since_last_event": 95},
    )
    assert _stages(frame) == [
        ("acquisition", "acquisition"),
        ("acquisition", "acquisition"),
        ("lost", "churn"),  # idle 95 days without a rhythm: gone by the lapse rule's fallback (90 days)
    ]


def test_churned_returned_active_loyal() -> None:
    frame = _history(
        {"active_days_30d": 0, "days_since_last_event": 80},
        {"active_days_30d": 3, "days_since_last_event": 1, "days_since_reactivation": 5},
        {"active_days_30d": 10, "days_since_reactivation": 45, "sub_active": 1},
        {"active_days_30d": 20, "days_since_reactivation": 200, "sub_active": 1, "nps_last": 9},
    )
    assert _stages(frame) == [
        ("activation", "churn"),
        ("reactivated", "reactivated"),
        ("monetization", "maturity"),
        ("referral", "maturity"),
    ]


def test_active_inactive_churned() -> None:
    frame = _history(
        {"active_days_30d": 15, "days_since_last_txn": 10},
        {"active_days_30d": 1, "days_since_last_event": 20, "core_trend_ratio": 0.3, "days_since_last_txn": 40},
        {"active_days_30d": 0, "days_since_last_event": 70, "core_trend_ratio": np.nan},
    )
    assert _stages(frame) == [
        ("monetization", "maturity"),
        ("activation", "maintenance"),
        ("activation", "churn"),
    ]


def test_paying_but_usage_falling_is_maintenance() -> None:
    frame = _history({"sub_active": 1, "core_trend_ratio": 0.8})
    assert _stages(frame) == [("monetization", "maintenance")]


def test_ended_contract_is_churn_and_young_payer_is_growth() -> None:
    frame = _history({"sub_ended_count": 1, "sub_active": 0}, {"tenure_days": 40, "sub_active": 1})
    assert _stages(frame) == [("retention", "churn"), ("monetization", "growth")]


def test_reactivated_customer_who_went_dormant_again_is_churn() -> None:
    frame = _history({"days_since_reactivation": 10, "days_since_last_event": 65, "active_days_30d": 0})
    assert _stages(frame)[0][1] == "churn"


def test_without_payment_data_stage_uses_usage_and_tenure() -> None:
    frame = pd.DataFrame(
        {"tenure_days": [200], "aha_reached": [1], "active_days_30d": [12], "days_since_last_event": [1]}
    )
    stages = assign_lifecycle_stages(frame)
    assert (stages.b2c[0], stages.b2b[0]) == ("retention", "maturity")
    assert any("paying" in s for s in stages.not_evaluated)
    assert any("reactivated" in s for s in stages.not_evaluated)
