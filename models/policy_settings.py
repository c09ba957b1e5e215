"""Every threshold of the customer policy, as typed settings (env prefix ``CHURNLTV_POLICY_``).

The source articles (docs/DOMAIN.md sections 3-5, 7, 8) give example figures: a 30% drop in
key-behaviour frequency, two weeks below the Aha bar, weights 40/30/20/10, "score >= 85 renews at
92%" read at 30 and 90 days, NPS cut-offs 0-6 / 9-10, LTV/CAC > 3, a 60/30/10 budget split. They
are defaults here, never constants in the rules, because every product has its own rhythm.
Validation fails early with a message naming the setting, so a bad environment variable is
caught when the service starts rather than as odd tiers later.
"""

from __future__ import annotations

from functools import lru_cache
from itertools import pairwise
from typing import Literal, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.errors import UserInputError

_SUM_TOLERANCE = 1e-6


class PolicySettings(BaseSettings):
    """Thresholds, weights and action texts of the per-customer policy rules."""

    model_config = SettingsConfigDict(env_prefix="CHURNLTV_POLICY_", extra="forbid", frozen=True)

    # --- risk tiers: rule triggers (docs/DOMAIN.md section 3) ---
    low_frequency_drop: float = Field(
        0.30, gt=0.0, lt=1.0, description="Low tier fires when core_trend_ratio <= 1 - this (30% drop)."
    )
    medium_weeks_below_aha: int = Field(
        2, ge=1, description="Medium tier fires after this many consecutive weeks below the Aha bar."
    )
    high_idle_ratio: float = Field(
        3.0, gt=0.0, description="High tier fires when idle_ratio (idle days / usual gap) >= this."
    )
    high_p_alive_below: float = Field(0.3, ge=0.0, le=1.0, description="High tier fires when P(alive) < this.")
    high_idle_days_without_rhythm: float | None = Field(
        180.0,
        gt=0.0,
        description=(
            "High tier fires for a customer with no measurable rhythm (no idle_ratio and no P(alive)) idle at least "
            "this many days; 180 = not one active day in the window usual_gap_days is measured over. None: off."
        ),
    )
    high_idle_days: float | None = Field(
        None,
        gt=0.0,
        description=(
            "Absolute backstop: high tier for anyone idle at least this many days, whatever their rhythm. Off (None) "
            "by default because docs/DOMAIN.md section 9 judges idleness against each customer's own rhythm."
        ),
    )
    # --- risk tiers: calibrated churn-probability bands ---
    band_low: float = Field(0.2, ge=0.0, le=1.0, description="churn_probability >= this is at least low tier.")
    band_medium: float = Field(0.4, ge=0.0, le=1.0, description="churn_probability >= this is at least medium.")
    band_high: float = Field(0.6, ge=0.0, le=1.0, description="churn_probability >= this is high tier.")
    # --- risk tiers: recommended actions (keys go to the CRM, texts to people) ---
    action_none_key: str = "no_action"
    action_none_text: str = "No action: the customer shows no churn warning."
    action_low_key: str = "care_email_feature_tips"
    action_low_text: str = "Send the automated care email with tips on the features the customer does not use yet."
    action_medium_key: str = "account_manager_callback"
    action_medium_text: str = "Account manager calls back and agrees a tailored plan to reach the Aha moment again."
    action_high_key: str = "time_limited_offer"
    action_high_text: str = "Make a time-limited offer (e.g. a free upgrade) to win the customer back."
    # --- lost customers: already gone by their own rhythm (features/lapse.py), not at risk ---
    lost_p_alive_below: float | None = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="With an LTV model: a buyer whose P(alive) is below this is lost too (None: the lapse rule only).",
    )
    action_lost_key: str = "win_back_campaign"
    action_lost_text: str = (
        "Win-back: the customer has already left by their own rhythm; give them a reason to return, "
        "not a retention offer."
    )

    # --- control groups that keep measuring (docs/RETENTION_DECISIONS.md section 5) ---
    holdout_share: float = Field(
        0.10,
        ge=0.0,
        lt=1.0,
        description="Share of every action's targets held out as a random control group (holdout_control: not to "
        "be contacted), drawn per customer, deterministic by holdout_seed and the run's as_of date.",
    )
    holdout_seed: int = Field(0, ge=0, description="Seed of the holdout draw (change it to draw another group).")

    # --- health score (docs/DOMAIN.md section 4) ---
    weight_activity: float = Field(0.40, ge=0.0, le=1.0, description="Weight of activity frequency.")
    weight_penetration: float = Field(0.30, ge=0.0, le=1.0, description="Weight of core-module penetration.")
    weight_service: float = Field(0.20, ge=0.0, le=1.0, description="Weight of service interaction quality.")
    weight_feedback: float = Field(0.10, ge=0.0, le=1.0, description="Weight of feedback positivity (NPS).")
    activity_full_days: float = Field(
        15.0,
        gt=0.0,
        le=30.0,
        description="Active days in the last 30 that earn a full activity score (with health_scale=fixed, or when "
        "the churn model carries no fitted scale).",
    )
    health_scale: Literal["training_data", "fixed"] = Field(
        "training_data",
        description="training_data: full activity = the health_scale_quantile of active_days_30d over the churn "
        "model's training population (models/health_scale.py); fixed: activity_full_days.",
    )
    health_scale_quantile: float = Field(
        0.9, ge=0.5, le=1.0, description="Quantile of the training population's active days that earns full activity."
    )
    core_modules_total: int = Field(5, ge=1, description="Number of core modules the product has.")
    service_no_ticket_score: float = Field(
        80.0, ge=0.0, le=100.0, description="Service score of a customer without tickets (no friction, unproven)."
    )
    service_unrated_score: float = Field(
        70.0, ge=0.0, le=100.0, description="Service base score when tickets exist but none was rated."
    )
    service_open_ticket_penalty: float = Field(
        20.0, ge=0.0, le=100.0, description="Points taken off the service score per open ticket."
    )
    service_resolution_hours_target: float = Field(
        48.0, gt=0.0, description="Mean resolution time (hours) up to which no slowness penalty applies."
    )
    service_slow_penalty: float = Field(
        30.0, ge=0.0, le=100.0, description="Points taken off when mean resolution takes 2x the target or more."
    )
    neutral_score: float = Field(
        50.0, ge=0.0, le=100.0, description="Component score used when its input is missing (flagged)."
    )
    healthy_score: float = Field(85.0, ge=0.0, le=100.0, description="Score from which a customer counts as healthy.")
    healthy_renewal_rate: float = Field(
        0.92, ge=0.0, le=1.0, description="The article's claim checked by the report: healthy customers renew at this."
    )
    retention_horizons_days: tuple[int, ...] = Field(
        (30, 90),
        min_length=1,
        description="Horizons (days after the cutoff) at which the report reads retention by health, increasing.",
    )

    # --- NPS (docs/DOMAIN.md section 5) ---
    nps_promoter_min: int = Field(9, ge=0, le=10, description="Scores >= this are promoters.")
    nps_detractor_max: int = Field(6, ge=0, le=10, description="Scores <= this are detractors.")

    # --- lifecycle stages (docs/DOMAIN.md section 1) ---
    stage_habit_active_days: float = Field(
        4.0, ge=1.0, le=30.0, description="Active days in the last 30 that count as a habit (retention/maturity)."
    )
    stage_dormant_days: float = Field(
        60.0, gt=0.0, description="Days without any event after which a customer is dormant (B2B churn stage)."
    )
    stage_reactivated_days: float = Field(
        30.0, ge=0.0, description="A customer back from dormancy within this many days is 'reactivated'."
    )
    stage_maturity_tenure_days: float = Field(
        90.0, ge=0.0, description="Minimum tenure for the B2B maturity/maintenance stages (onboarding before)."
    )
    stage_declining_trend: float = Field(
        0.9, gt=0.0, description="core_trend_ratio below this is 'flat or falling' usage (B2B maintenance)."
    )
    stage_paying_window_days: float = Field(
        90.0, gt=0.0, description="A transaction within this many days counts as paying."
    )

    # --- acquisition economics (docs/DOMAIN.md section 7) ---
    ltv_cac_min: float = Field(3.0, gt=0.0, description="Channels with LTV/CAC above this are 'proven'.")
    budget_proven_share: float = Field(0.60, ge=0.0, le=1.0, description="Budget share of proven channels.")
    budget_test_share: float = Field(0.30, ge=0.0, le=1.0, description="Budget share of channels under test.")
    budget_reserve_share: float = Field(0.10, ge=0.0, le=1.0, description="Budget share kept in reserve.")

    # --- referral (docs/DOMAIN.md section 8) ---
    referral_ltv_quantile: float = Field(
        0.75, ge=0.0, le=1.0, description="Promoters at or above this predicted-LTV quantile are referral candidates."
    )
    referral_dedup_ip: bool = Field(True, description="Reject a referral whose IP was used by an earlier one.")
    referral_dedup_device: bool = Field(True, description="Reject a referral whose device was used by an earlier one.")

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        problems: list[str] = []
        weights = {
            "weight_activity": self.weight_activity,
            "weight_penetration": self.weight_penetration,
            "weight_service": self.weight_service,
            "weight_feedback": self.weight_feedback,
        }
        total = sum(weights.values())
        if abs(total - 1.0) > _SUM_TOLERANCE:
            listed = ", ".join(f"{k}={v:g}" for k, v in weights.items())
            problems.append(f"health weights must sum to 1, got {total:g} ({listed})")
        if not self.band_low < self.band_medium < self.band_high:
            problems.append(
                "probability bands must be ordered band_low < band_medium < band_high, got "
                f"band_low={self.band_low:g}, band_medium={self.band_medium:g}, band_high={self.band_high:g}"
            )
        shares = self.budget_proven_share + self.budget_test_share + self.budget_reserve_share
        if abs(shares - 1.0) > _SUM_TOLERANCE:
            problems.append(
                "budget shares must sum to 1, got "
                f"{shares:g} (budget_proven_share={self.budget_proven_share:g}, "
                f"budget_test_share={self.budget_test_share:g}, budget_reserve_share={self.budget_reserve_share:g})"
            )
        horizons = self.retention_horizons_days
        if any(h < 1 for h in horizons) or any(a >= b for a, b in pairwise(horizons)):
            problems.append(
                "retention_horizons_days must be positive whole days in increasing order, got "
                + ", ".join(str(h) for h in horizons)
            )
        if self.nps_detractor_max >= self.nps_promoter_min:
            problems.append(
                f"nps_detractor_max ({self.nps_detractor_max}) must be below nps_promoter_min ({self.nps_promoter_min})"
            )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def low_trend_ratio_max(self) -> float:
        """core_trend_ratio at or below which the low-tier trigger fires (1 - low_frequency_drop)."""
        return 1.0 - self.low_frequency_drop


def load_policy_settings(**overrides: object) -> PolicySettings:
    """Build settings from the environment plus ``overrides``; invalid values become a UserInputError.

    The message names every bad setting with its environment variable, which is what a user
    fixing a deployment needs (pydantic's own error names only the field).
    """
    try:
        return PolicySettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        lines = []
        for issue in err.errors():
            field = ".".join(str(p) for p in issue["loc"]) or "settings"
            where = f"{field} (CHURNLTV_POLICY_{field.upper()})" if issue["loc"] else "policy settings"
            lines.append(f"{where}: {issue['msg']}")
        raise UserInputError("invalid policy settings:\n  - " + "\n  - ".join(lines)) from err


@lru_cache(maxsize=1)
def default_policy_settings() -> PolicySettings:
    """Settings from the environment, read once per process.

    Rules called with ``settings=None`` use this: building BaseSettings reads the environment
    (~0.7 ms), more than a one-customer policy call costs. Call ``default_policy_settings.cache_clear()``
    after changing CHURNLTV_POLICY_* variables in a running process (tests do).
    """
    return load_policy_settings()
