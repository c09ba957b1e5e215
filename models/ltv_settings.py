"""Settings of the lifetime-value models (env prefix ``CHURNLTV_LTV_``).

Every figure that shapes a BG/NBD + Gamma-Gamma fit or a CLV number is a setting with the unit in its name, so
a horizon in months is never mistaken for periods of the model's time unit (the classic bug: a 12 "month"
horizon on weekly data silently means 12 weeks). Defaults follow the usual practice: weekly periods, a
12-month CLV horizon discounted at 10% a year, a 30-day horizon for expected purchases and P(no purchase).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.errors import UserInputError
from features.time_units import TimeUnit


class LtvSettings(BaseSettings):
    """BG/NBD + Gamma-Gamma fitting, CLV horizon and discounting, interval and data-sufficiency minimums."""

    model_config = SettingsConfigDict(env_prefix="CHURNLTV_LTV_", extra="forbid", frozen=True)

    time_unit: TimeUnit = Field(TimeUnit.WEEK, description="Period of recency/T in the fitted model (D, W or M).")
    penalizer_coef: float = Field(0.0, ge=0.0, description="L2 penalty on the log-parameters (lifetimes' penalizer).")
    horizon_months: int = Field(12, ge=1, le=600, description="CLV horizon in months (converted to model periods).")
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


def load_ltv_settings(**overrides: object) -> LtvSettings:
    """Settings from the environment plus ``overrides``; a bad value becomes a ``UserInputError`` naming it."""
    try:
        return LtvSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as err:
        problems = "; ".join(
            f"CHURNLTV_LTV_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in err.errors()
        )
        raise UserInputError(f"invalid LTV settings: {problems}") from None
