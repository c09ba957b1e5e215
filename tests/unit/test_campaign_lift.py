"""The measured lift of a campaign: treated minus its own control group, with a 95% interval that covers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.campaign_lift import measured_lift


def _outcomes(n: int, seed: int, lift: float, *, control: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "email"] if control else ["email", "offer"], n)
    treated = arm != "control"
    retained = (rng.random(n) < 0.5 + lift * treated).astype(float)
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "campaign_id": f"camp{seed}",
            "contacted_at": pd.Timestamp("2026-01-05"),
            "arm": arm,
            "observable": True,
            "retained": retained,
            "spend": 10.0 * retained + 5.0 * treated,
        }
    )


def test_lift_is_treated_minus_control_and_the_interval_covers() -> None:
    lifts = pd.concat([measured_lift(_outcomes(2000, s, 0.1)) for s in range(40)], ignore_index=True)
    assert len(lifts) == 40
    assert set(lifts["action"]) == {"email"}
    assert lifts["retention_lift"].mean() == pytest.approx(0.1, abs=0.01)
    covered = (lifts["retention_lift_low"] <= 0.1) & (lifts["retention_lift_high"] >= 0.1)
    assert covered.mean() >= 0.85  # 95% nominal, 40 campaigns
    one = lifts.iloc[0]
    assert one["retention_lift"] == pytest.approx(one["retained_treated"] - one["retained_control"])
    assert one["spend_lift"] == pytest.approx(one["spend_treated"] - one["spend_control"])
    assert one["n_treated"] + one["n_control"] == 2000


def test_without_a_control_arm_or_outcome_nothing_is_measured() -> None:
    no_control = measured_lift(_outcomes(500, 1, 0.1, control=False))
    assert sorted(no_control["action"]) == ["email", "offer"]
    assert no_control["n_control"].eq(0).all()
    assert no_control["retention_lift"].isna().all()
    too_recent = _outcomes(500, 2, 0.1).assign(observable=False)
    assert measured_lift(too_recent).empty
