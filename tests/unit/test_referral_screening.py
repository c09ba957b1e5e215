"""Referral candidates and anti-fraud de-duplication (docs/DOMAIN.md section 8)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.policy_settings import PolicySettings
from models.referral_screening import referral_candidates, screen_referrals


def test_candidates_are_promoters_with_high_ltv() -> None:
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d", "e"],
            "nps_last": [10, 9, 10, 6, np.nan],
            "predicted_ltv": [500.0, 900.0, 10.0, 1000.0, 800.0],
        }
    )
    out = referral_candidates(frame, PolicySettings(referral_ltv_quantile=0.25))
    assert out["customer_id"].tolist() == ["b", "a"]  # c: low LTV, d: detractor, e: never answered
    assert out["ltv_threshold"].iloc[0] == 500.0


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "referrer_id": ["a", "a", "b", "c", "d", "e"],
            "referred_id": ["x1", "x2", "x3", "c", "x1", "x5"],
            "occurred_at": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06"]
            ),
            "ip": ["1.1.1.1", "1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4", None],
            "device_id": ["d1", "d2", "d2", "d4", "d5", None],
        }
    )


def test_duplicates_rejected_with_reason() -> None:
    result = screen_referrals(_events())
    assert result.accepted["referred_id"].tolist() == ["x1", "x5"]
    reasons = dict(zip(result.rejected["input_row"], result.rejected["reason"], strict=True))
    assert reasons == {2: "duplicate_ip", 3: "duplicate_device", 4: "self_referral", 5: "duplicate_referred"}
    detail = str(result.rejected.set_index("input_row").loc[2, "detail"])
    assert "1.1.1.1" in detail
    assert "input row 1" in detail
    assert len(result.accepted) + len(result.rejected) == len(_events())


def test_dedup_is_configurable() -> None:
    settings = PolicySettings(referral_dedup_ip=False, referral_dedup_device=False)
    result = screen_referrals(_events(), settings)
    assert result.accepted["referred_id"].tolist() == ["x1", "x2", "x3", "x5"]


def test_time_order_decides_which_is_first() -> None:
    events = _events().iloc[:2].copy()
    events["occurred_at"] = pd.to_datetime(["2024-02-01", "2024-01-01"])
    result = screen_referrals(events)
    assert result.accepted["referred_id"].tolist() == ["x2"]
    assert result.rejected["referred_id"].tolist() == ["x1"]
