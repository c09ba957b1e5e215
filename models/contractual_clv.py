"""Contractual (subscription) CLV formulas of docs/DOMAIN.md section 6, vectorised over customers.

Subscription customers get these; transactional customers get BG/NBD + Gamma-Gamma (``models.customer_value``);
every number says which method produced it. Per-period quantities must share one period (a month, usually):
margin and cost per month with a lifetime in months, or revenue and cost per period with a retention rate and
discount rate per period.

* simple: (monthly margin - monthly cost) x expected lifetime in months; article example (45 - 20) x 36 = 900;
* with retention r and discount d per period, cash at the start of each period (M revenue, R cost):
  CLV = (M - R)(1 + d) / (1 + d - r) = sum_{t>=0} (M - R) r^t / (1 + d)^t; article example M = 2000, R = 500,
  r = 0.8, d = 0.05 gives 1500 x 1.05 / 0.25 = 6300;
* pay-after-service (the first period not yet earned): CLV = (M - R) r / (1 + d - r);
* SaaS shortcut: MRR x average lifetime in months - cost to serve;
* r can come from the churn model: r = 1 - P(churn in one period); a churn model with a horizon of H days gives
  r = (1 - P(churn within H))^(period / H) per period (``retention_per_period``: a constant churn hazard);
* over a finite horizon of N periods (``retention_clv_over_periods``): the first N terms of the same series,
  (M - R) q^s (1 - q^N) / (1 - q) with q = r / (1 + d) and s = 0 (paid in advance) or 1 (after service).
Raising r or lowering d raises CLV. r >= 1 + d makes the infinite series diverge: that is an error, not a number.

``models.subscription_value`` applies these to every customer with an active subscription.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from features.errors import UserInputError
from features.value_repr import shown
from models.btyd_inputs import FloatArray, as_float_array

METHOD_SIMPLE = "contractual_simple"
METHOD_RETENTION = "contractual_retention"
METHOD_SAAS = "contractual_saas"


def _broadcast(**arrays: Any) -> dict[str, FloatArray]:
    values = {name: as_float_array(value, name) for name, value in arrays.items()}
    try:
        shaped = np.broadcast_arrays(*values.values())
    except ValueError:
        lengths = ", ".join(f"{name}={len(v)}" for name, v in values.items())
        raise UserInputError(f"inputs must have one length (or be scalars): {lengths}") from None
    out: dict[str, FloatArray] = {}
    for name, arr in zip(values, shaped, strict=True):
        bad = ~np.isfinite(arr)
        if np.any(bad):
            pos = int(np.flatnonzero(bad)[0])
            raise UserInputError(f"{name}: row {pos} is not a finite number (value: {shown(arr[pos])})")
        out[name] = np.asarray(arr, dtype="float64")
    return out


def _require(mask: Any, name: str, values: FloatArray, rule: str) -> None:
    mask = np.asarray(mask)
    if np.any(mask):
        pos = int(np.flatnonzero(mask)[0])
        raise UserInputError(f"{name}: row {pos} has value {shown(values[pos])}, but {rule}")


def simple_clv(monthly_margin: Any, monthly_cost: Any, expected_lifetime_months: Any) -> FloatArray:
    """(monthly margin - monthly cost) x expected lifetime in months; (45 - 20) x 36 = 900."""
    v = _broadcast(
        monthly_margin=monthly_margin, monthly_cost=monthly_cost, expected_lifetime_months=expected_lifetime_months
    )
    life = v["expected_lifetime_months"]
    _require(life < 0, "expected_lifetime_months", life, "a lifetime cannot be negative")
    result: FloatArray = (v["monthly_margin"] - v["monthly_cost"]) * life
    return result


def retention_clv(
    revenue: Any, cost: Any, retention: Any, discount: Any, pay_after_service: bool = False
) -> FloatArray:
    """(M - R)(1 + d)/(1 + d - r), or (M - R) r/(1 + d - r) when paid after service; 6300 for the example."""
    v = _broadcast(revenue=revenue, cost=cost, retention=retention, discount=discount)
    r, d = v["retention"], v["discount"]
    _require((r < 0) | (r > 1), "retention", r, "a retention rate is a probability between 0 and 1")
    _require(d < 0, "discount", d, "a discount rate per period cannot be negative")
    _require(
        r >= 1 + d,
        "retention",
        r,
        "retention must be below 1 + discount, otherwise the value is infinite (no churn and no discounting)",
    )
    margin = v["revenue"] - v["cost"]
    numerator = r if pay_after_service else 1.0 + d
    result: FloatArray = margin * numerator / (1.0 + d - r)
    return result


def saas_clv(mrr: Any, average_lifetime_months: Any, cost_to_serve: Any) -> FloatArray:
    """MRR x average lifetime in months - cost to serve (over the lifetime)."""
    v = _broadcast(mrr=mrr, average_lifetime_months=average_lifetime_months, cost_to_serve=cost_to_serve)
    life = v["average_lifetime_months"]
    _require(life < 0, "average_lifetime_months", life, "a lifetime cannot be negative")
    result: FloatArray = v["mrr"] * life - v["cost_to_serve"]
    return result


def retention_from_churn(p_churn_one_period: Any) -> FloatArray:
    """r = 1 - P(churn in one period): lets the churn model's probability drive contractual CLV."""
    p = _broadcast(p_churn_one_period=p_churn_one_period)["p_churn_one_period"]
    _require((p < 0) | (p > 1), "p_churn_one_period", p, "a churn probability is between 0 and 1")
    result: FloatArray = 1.0 - p
    return result


def expected_lifetime_from_churn(p_churn_one_period: Any) -> FloatArray:
    """Mean lifetime in periods of a constant per-period churn p (geometric): 1 / p."""
    p = _broadcast(p_churn_one_period=p_churn_one_period)["p_churn_one_period"]
    _require((p <= 0) | (p > 1), "p_churn_one_period", p, "churn must be in (0, 1] for a finite lifetime")
    result: FloatArray = 1.0 / p
    return result


def retention_clv_over_periods(  # noqa: PLR0917 - the formula's parameter list
    revenue: Any, cost: Any, retention: Any, discount: Any, periods: Any, pay_after_service: bool = False
) -> FloatArray:
    """The retention series cut after ``periods`` periods: (M - R) sum_{t=s}^{s+N-1} (r / (1+d))^t.

    s = 0 when cash comes at the start of each period (the first period counts in full), s = 1 when paid after
    service. Closed form (M - R) q^s (1 - q^N) / (1 - q), q = r / (1 + d), and N (M - R) q^s when q = 1. Tends to
    ``retention_clv`` as N grows; finite for any r in [0, 1], so r = 1 with d = 0 is allowed here.
    """
    v = _broadcast(revenue=revenue, cost=cost, retention=retention, discount=discount, periods=periods)
    r, d, n = v["retention"], v["discount"], v["periods"]
    _require((r < 0) | (r > 1), "retention", r, "a retention rate is a probability between 0 and 1")
    _require(d < 0, "discount", d, "a discount rate per period cannot be negative")
    _require((n < 0) | (n != np.round(n)), "periods", n, "the number of periods is a whole number >= 0")
    result: FloatArray = (v["revenue"] - v["cost"]) * discounted_survival_sum(r / (1.0 + d), n, pay_after_service)
    return result


def discounted_survival_sum(q: Any, periods: Any, pay_after_service: bool) -> Any:
    """sum_{t=s}^{s+N-1} q^t = q^s (1 - q^N) / (1 - q) (N q^s at q = 1), s = 1 if ``pay_after_service`` else 0.

    Plain arithmetic on validated inputs (0 <= q <= 1, N >= 0), shared by ``retention_clv_over_periods`` and the
    per-customer path of ``models.subscription_value`` (which skips the validation on its hot path).
    """
    q = np.asarray(q, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):  # q = 1 divides 0 by 0; np.where keeps N there
        geometric = np.where(q == 1.0, periods, (1.0 - q**periods) / (1.0 - q))
    return geometric * q if pay_after_service else geometric


def retention_per_period(p_churn_horizon: Any, horizon_days: float, period_days: float) -> FloatArray:
    """r per period from P(churn within ``horizon_days``), with a constant churn hazard over the horizon.

    Survival over the horizon is 1 - p = r^(H / period), so r = (1 - p)^(period / H): a 30-day churn probability
    of 0.1 gives a monthly (30.4375-day) retention of 0.9^(30.4375/30) = 0.8986, not 0.9. When the horizon is one
    period this is ``retention_from_churn``.
    """
    p = _broadcast(p_churn_horizon=p_churn_horizon)["p_churn_horizon"]
    _require((p < 0) | (p > 1), "p_churn_horizon", p, "a churn probability is between 0 and 1")
    if not (np.isfinite(horizon_days) and horizon_days > 0 and np.isfinite(period_days) and period_days > 0):
        raise UserInputError(
            f"horizon_days and period_days must be positive numbers, got {shown(horizon_days)} and {shown(period_days)}"
        )
    result: FloatArray = (1.0 - p) ** (period_days / horizon_days)
    return result
