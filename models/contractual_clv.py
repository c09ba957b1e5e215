"""Contractual (subscription) CLV formulas of DOMAIN.md section 6, vectorised over customers.

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
* r can come from the churn model: r = 1 - P(churn in one period).
Raising r or lowering d raises CLV. r >= 1 + d makes the series diverge: that is an error, not a number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from features.errors import UserInputError
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
            raise UserInputError(f"{name}: row {pos} is not a finite number (value: {arr[pos]!r})")
        out[name] = np.asarray(arr, dtype="float64")
    return out


def _require(mask: Any, name: str, values: FloatArray, rule: str) -> None:
    mask = np.asarray(mask)
    if np.any(mask):
        pos = int(np.flatnonzero(mask)[0])
        raise UserInputError(f"{name}: row {pos} has value {values[pos]!r}, but {rule}")


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
