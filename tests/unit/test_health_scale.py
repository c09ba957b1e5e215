"""The health score's activity scale comes from the training population (models/health_scale.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.health_scale import HEALTH_SCALE_KEY, fit_health_scale, scaled_policy
from models.health_score import compute_health_score
from models.policy_settings import PolicySettings


def test_the_scale_is_a_quantile_of_active_days_within_bounds() -> None:
    days = np.arange(0, 11, dtype=float)  # 0..10
    assert fit_health_scale(days, 0.9)["activity_full_days"] == 9.0
    assert fit_health_scale([0.0, 0.0, np.nan], 0.9) == {"activity_full_days": 1.0, "quantile": 0.9, "customers": 2}
    assert fit_health_scale([], 0.9)["activity_full_days"] is None


def test_the_policy_takes_the_models_scale_unless_fixed() -> None:
    meta = {HEALTH_SCALE_KEY: {"activity_full_days": 6.0, "quantile": 0.9, "customers": 100}}
    assert scaled_policy(PolicySettings(), meta).activity_full_days == 6.0
    assert scaled_policy(PolicySettings(health_scale="fixed"), meta).activity_full_days == 15.0
    assert scaled_policy(PolicySettings(), {}).activity_full_days == 15.0  # an older bundle: the setting
    assert scaled_policy(PolicySettings(), {HEALTH_SCALE_KEY: {"activity_full_days": None}}).activity_full_days == 15.0


def test_a_fitted_scale_spreads_the_score_of_a_low_activity_base() -> None:
    # a product used a few days a month: with a fixed 15-day scale nobody can be healthy
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "active_days_30d": rng.poisson(2.5, 2000).astype(float),
            "core_modules_used_90d": rng.integers(1, 6, 2000).astype(float),
            "tickets_90d": np.zeros(2000),
            "tickets_open": np.zeros(2000),
            "nps_last": rng.integers(0, 11, 2000).astype(float),
        }
    )
    fixed = compute_health_score(frame, PolicySettings(health_scale="fixed")).score
    meta = {HEALTH_SCALE_KEY: fit_health_scale(frame["active_days_30d"], 0.9)}
    fitted = compute_health_score(frame, scaled_policy(PolicySettings(), meta)).score
    assert (fixed >= 85).sum() == 0
    assert (fitted >= 85).sum() >= 50
    assert np.std(fitted) > 1.3 * np.std(fixed)
