"""PolicySettings: defaults from the articles, environment overrides, validation errors naming the setting."""

from __future__ import annotations

import pytest

from features.errors import UserInputError
from models.policy_settings import PolicySettings, default_policy_settings, load_policy_settings


def test_defaults_are_the_article_figures() -> None:
    s = PolicySettings()
    assert s.low_frequency_drop == pytest.approx(0.30)
    assert s.low_trend_ratio_max == pytest.approx(0.70)
    assert s.medium_weeks_below_aha == 2
    assert (s.weight_activity, s.weight_penetration, s.weight_service, s.weight_feedback) == (0.4, 0.3, 0.2, 0.1)
    assert (s.budget_proven_share, s.budget_test_share, s.budget_reserve_share) == (0.6, 0.3, 0.1)
    assert s.ltv_cac_min == 3.0
    assert s.action_low_key == "care_email_feature_tips"
    assert s.action_medium_key == "account_manager_callback"
    assert s.action_high_key == "time_limited_offer"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNLTV_POLICY_HIGH_IDLE_RATIO", "4.5")
    monkeypatch.setenv("CHURNLTV_POLICY_ACTION_HIGH_KEY", "free_upgrade")
    s = PolicySettings()
    assert s.high_idle_ratio == 4.5
    assert s.action_high_key == "free_upgrade"


def test_weights_must_sum_to_one() -> None:
    with pytest.raises(UserInputError, match=r"health weights must sum to 1, got 1\.1.*weight_activity=0\.5"):
        load_policy_settings(weight_activity=0.5)


def test_bands_must_be_ordered() -> None:
    with pytest.raises(UserInputError, match=r"band_low < band_medium < band_high.*band_medium=0\.1"):
        load_policy_settings(band_medium=0.1)


def test_budget_shares_must_sum_to_one() -> None:
    with pytest.raises(UserInputError, match="budget shares must sum to 1"):
        load_policy_settings(budget_reserve_share=0.2)


def test_out_of_range_value_names_setting_and_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHURNLTV_POLICY_LOW_FREQUENCY_DROP", "1.5")
    with pytest.raises(UserInputError, match=r"low_frequency_drop \(CHURNLTV_POLICY_LOW_FREQUENCY_DROP\)"):
        load_policy_settings()


def test_unknown_setting_is_rejected() -> None:
    with pytest.raises(UserInputError, match="weight_actvity"):
        load_policy_settings(weight_actvity=0.4)


def test_nps_cutoffs_must_not_overlap() -> None:
    with pytest.raises(UserInputError, match="nps_detractor_max"):
        load_policy_settings(nps_detractor_max=9)


def test_default_settings_are_cached_until_cleared(monkeypatch: pytest.MonkeyPatch) -> None:
    default_policy_settings.cache_clear()
    first = default_policy_settings()
    assert default_policy_settings() is first
    monkeypatch.setenv("CHURNLTV_POLICY_HIGH_IDLE_DAYS", "120")
    default_policy_settings.cache_clear()
    assert default_policy_settings().high_idle_days == 120
    monkeypatch.delenv("CHURNLTV_POLICY_HIGH_IDLE_DAYS")
    default_policy_settings.cache_clear()


def test_idle_defaults_follow_the_customers_rhythm() -> None:
    s = PolicySettings()
    assert s.high_idle_days is None  # the rhythm-blind backstop is off (docs/DOMAIN.md section 9)
    assert s.high_idle_days_without_rhythm == 180.0
    assert PolicySettings(high_idle_days_without_rhythm=None).high_idle_days_without_rhythm is None


def test_health_claim_and_retention_horizons_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    s = PolicySettings()
    assert (s.healthy_score, s.healthy_renewal_rate, s.retention_horizons_days) == (85.0, 0.92, (30, 90))
    monkeypatch.setenv("CHURNLTV_POLICY_RETENTION_HORIZONS_DAYS", "[14, 60]")
    monkeypatch.setenv("CHURNLTV_POLICY_HEALTHY_RENEWAL_RATE", "0.8")
    s = load_policy_settings()
    assert (s.retention_horizons_days, s.healthy_renewal_rate) == ((14, 60), 0.8)


@pytest.mark.parametrize("horizons", [(90, 30), (30, 30), (0, 30)])
def test_retention_horizons_must_be_positive_and_increasing(horizons: tuple[int, ...]) -> None:
    with pytest.raises(UserInputError, match="retention_horizons_days must be positive whole days in increasing"):
        load_policy_settings(retention_horizons_days=horizons)
    with pytest.raises(UserInputError, match="retention_horizons_days"):
        load_policy_settings(retention_horizons_days=())
