"""Settings of the lifetime-value models (env prefix ``CHURNLTV_LTV_``).

Every figure that shapes a BG/NBD + Gamma-Gamma fit or a CLV number is a setting with the unit in its name, so
a horizon in months is never mistaken for periods of the model's time unit (the classic bug: a 12 "month"
horizon on weekly data silently means 12 weeks). Defaults follow the usual practice: weekly periods, a
12-month CLV horizon discounted at 10% a year, a 30-day horizon for expected purchases and P(no purchase).

Subscription customers (``sub_active`` = 1) get contractual CLV (docs/DOMAIN.md section 6,
``models.subscription_value``); its settings start with ``contractual_``. The defaults keep the two methods in one
currency and over one span, so their numbers (and the value at risk built on them) can be ranked together:

* cost to serve 0 (share and absolute): BG/NBD + Gamma-Gamma values spend (revenue), not margin, so a cost
  deducted on the subscription side only would make the two incomparable; set both sides' margins explicitly
  (e.g. ``CHURNLTV_LTV_CONTRACTUAL_COST_SHARE_OF_MRR=0.2``) when you want margin;
* capped at ``horizon_months`` (the BG/NBD CLV horizon), not the whole geometric lifetime;
* future payments only (pay-after-service form, (M-R) r/(1+d-r) summed over the horizon): BG/NBD counts purchases
  after the cutoff, and the current month of an active subscription is already billed.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.errors import UserInputError
from features.time_units import MonthConvention, TimeUnit


class LtvSettings(BaseSettings):
    """BG/NBD + Gamma-Gamma fitting, CLV horizon and discounting, interval, data sufficiency, contractual CLV."""

    model_config = SettingsConfigDict(env_prefix="CHURNLTV_LTV_", extra="forbid", frozen=True)

    time_unit: TimeUnit = Field(TimeUnit.WEEK, description="Period of recency/T in the fitted model (D, W or M).")
    penalizer_coef: float = Field(0.0, ge=0.0, description="L2 penalty on the parameters (lifetimes' penalizer).")
    horizon_months: int = Field(12, ge=1, le=600, description="CLV horizon in months (converted to model periods).")
    month_convention: MonthConvention = Field(
        "calendar",
        description=(
            "Length of a CLV month: 'calendar' = 365.25/12 days in every time unit (the same CLV on daily and weekly "
            "data); 'lifetimes' = lifetimes' steps (30 days, 4.345 weeks, 1 month), only to compare with lifetimes."
        ),
    )
    discount_rate: float = Field(0.10, ge=0.0, lt=10.0, description="Discount rate per discount_period (0.10 = 10%).")
    discount_period: Literal["annual", "monthly"] = Field(
        "annual", description="Whether discount_rate is per year (converted to monthly as (1+d)^(1/12)-1) or month."
    )
    prediction_horizon_days: int = Field(
        30, ge=1, le=3650, description="Horizon of expected purchases and P(no purchase), in days."
    )
    interval_level: float = Field(0.9, gt=0.0, lt=1.0, description="Coverage of the per-customer CLV interval.")
    n_parameter_draws: int = Field(
        200, ge=20, le=5000, description="Parameter draws kept in parameter_draws.json (the parameters' uncertainty)."
    )
    min_customers: int = Field(500, ge=1, description="Fewest customers with a purchase needed to fit BG/NBD.")
    min_repeat_customers: int = Field(50, ge=2, description="Fewest repeat buyers with positive spend for Gamma-Gamma.")
    min_history_days: int = Field(
        180, ge=1, description="Shortest span (days) between the first purchase and the cutoff needed to fit."
    )
    random_seed: int = Field(7, description="Seed of the parameter draws.")
    model: Literal["auto", "bgnbd", "pareto_nbd", "mbg_nbd", "mbg_cnbd_k", "bgbb"] = Field(
        "auto",
        description=(
            "Count model: 'auto' fits every applicable one on the calibration period and keeps the best on the "
            "holdout by selection_criterion; a name forces that model (the others are still scored side by side)."
        ),
    )
    selection_criterion: Literal["holdout_mae", "holdout_spend_mae", "holdout_total_error", "log_likelihood"] = Field(
        "holdout_mae",
        description=(
            "How 'auto' picks: per-customer MAE of holdout purchases (default), of holdout spend, the absolute "
            "relative error of total holdout purchases, or the calibration log-likelihood (continuous-time models)."
        ),
    )
    opportunity_days: float = Field(
        0.0,
        ge=0.0,
        description=(
            "Length of a discrete transaction opportunity in days, which makes BG/BB a candidate; 0 = detect a regular "
            "grid of purchase days (every gap within 10% of the median gap, >= 7 days), else BG/BB does not apply."
        ),
    )
    unit_value: float = Field(
        0.0,
        ge=0.0,
        description=(
            "Value of one purchase when spend is constant or absent (no Gamma-Gamma): 0 = the constant observed "
            "spend, or 1 (value counted in purchases) when no spend is recorded."
        ),
    )
    contractual_cost_share_of_mrr: float = Field(
        0.0, ge=0.0, le=1.0, description="Monthly cost to serve a subscriber as a share of their MRR (0.2 = 20%)."
    )
    contractual_cost_per_month: float = Field(
        0.0, ge=0.0, description="Monthly cost to serve a subscriber, in currency, on top of the share of MRR."
    )
    contractual_horizon: Literal["clv_horizon", "lifetime"] = Field(
        "clv_horizon",
        description=(
            "'clv_horizon': contractual CLV over horizon_months, like BG/NBD CLV (comparable numbers); 'lifetime': "
            "the article's infinite sum (M-R)(1+d)/(1+d-r) (needs discount_rate > 0)."
        ),
    )
    contractual_pay_after_service: bool = Field(
        True,
        description=(
            "True: only future months count, the first one if the customer is retained ((M-R) r/(1+d-r) form); "
            "False: the current month counts in full ((M-R)(1+d)/(1+d-r), the article's main example)."
        ),
    )

    @model_validator(mode="after")
    def _finite_lifetime_value(self) -> Self:
        if self.contractual_horizon == "lifetime" and self.discount_rate <= 0:
            # a subscriber with P(churn) = 0 would be worth an infinite sum: refuse the combination up front
            raise ValueError(
                "CHURNLTV_LTV_CONTRACTUAL_HORIZON=lifetime needs CHURNLTV_LTV_DISCOUNT_RATE > 0 (a subscriber who "
                "never churns would otherwise be worth an infinite sum)"
            )
        return self


def load_ltv_settings(**overrides: object) -> LtvSettings:
    """Settings from the environment plus ``overrides``; a bad value becomes a ``UserInputError`` naming it."""
    try:
        return LtvSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        problems = "; ".join(
            (f"CHURNLTV_LTV_{'.'.join(str(p) for p in e['loc']).upper()}: " if e["loc"] else "") + e["msg"]
            for e in err.errors()
        )
        raise UserInputError(f"invalid LTV settings: {problems}") from None
