"""Expected value at risk and the retention list for the CRM (docs/DOMAIN.md section 3).

VaR_i = P(churn_i) x predicted LTV_i: the value expected to be lost if nothing is done. The CRM
works the list from the top.

Budget-constrained selection: contacting customer i costs c_i and saves them with probability s
(the expected save rate of the action), so the expected net gain is g_i = s * VaR_i - c_i. We
want the set with the largest sum of g_i whose total cost fits the budget: a 0/1 knapsack. With
one cost for everyone the greedy order by g_i (equivalently by VaR) is optimal: any selection
of k customers is beaten by the k with the largest VaR. With differing costs we use the classic
greedy by gain per unit cost, skipping customers who no longer fit; it is within one item of the
LP-relaxation optimum (Dantzig 1957), which is close enough when each contact is a small share of
the budget. Customers with g_i <= 0 are never selected: contacting them loses money in
expectation.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.errors import UserInputError
from models.policy_frame import FloatArray, numeric_column, require_columns
from models.retention_decision import greedy_by_value_per_cost


def value_at_risk(churn_probability: npt.ArrayLike, predicted_ltv: npt.ArrayLike) -> FloatArray:
    """P(churn) x predicted LTV, elementwise (NaN where either input is missing)."""
    p = np.asarray(churn_probability, dtype=np.float64)
    ltv = np.asarray(predicted_ltv, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        bad = (p < 0) | (p > 1)
    if bad.any():
        raise UserInputError(
            f"churn_probability must be within 0..1; row {int(np.flatnonzero(bad)[0]) + 1} is {p[bad][0]:g}"
        )
    return p * ltv


def _inputs(frame: pd.DataFrame) -> tuple[FloatArray, FloatArray]:
    p = numeric_column(frame, "churn_probability")
    ltv = numeric_column(frame, "predicted_ltv")
    if p is None or ltv is None:
        raise UserInputError("value at risk needs the columns 'churn_probability' and 'predicted_ltv'")
    return p, ltv


def retention_list(frame: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """Customers ranked by value at risk, largest first (rows with unknown VaR last, never dropped).

    Needs customer_id, churn_probability, predicted_ltv. Returns rank (1-based), customer_id,
    churn_probability, predicted_ltv, value_at_risk and any risk_tier / action_key columns the
    frame carries (so the CRM gets the action with the rank).
    """
    require_columns(frame, ("customer_id", "churn_probability", "predicted_ltv"), "retention_list")
    p, ltv = _inputs(frame)
    var = value_at_risk(p, ltv)
    order = np.argsort(np.where(np.isnan(var), np.inf, -var), kind="stable")
    if top is not None:
        if top < 0:
            raise UserInputError(f"retention_list: top must be >= 0, got {top}")
        order = order[:top]
    keep = [c for c in ("customer_id", "churn_probability", "predicted_ltv", "risk_tier", "action_key") if c in frame]
    out = frame[keep].iloc[order].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.insert(4, "value_at_risk", var[order])
    return out


def select_for_budget(
    frame: pd.DataFrame,
    budget: float,
    cost_per_action: float | npt.ArrayLike,
    save_rate: float,
) -> pd.DataFrame:
    """Customers to contact to maximise expected saved value within ``budget`` (see module docstring).

    ``cost_per_action`` is one number or one per row. Returns the selected rows in selection
    order with customer_id, value_at_risk, cost, expected_saved_value (= save_rate x VaR),
    expected_net_gain and cumulative_cost.
    """
    require_columns(frame, ("customer_id", "churn_probability", "predicted_ltv"), "select_for_budget")
    if budget < 0:
        raise UserInputError(f"budget must be >= 0, got {budget:g}")
    if not 0.0 <= save_rate <= 1.0:
        raise UserInputError(f"save_rate must be within 0..1, got {save_rate:g}")
    p, ltv = _inputs(frame)
    var = np.nan_to_num(value_at_risk(p, ltv), nan=0.0)
    cost = np.broadcast_to(np.asarray(cost_per_action, dtype=np.float64), var.shape).astype(np.float64)
    if (cost < 0).any() or np.isnan(cost).any():
        raise UserInputError("cost_per_action must be a non-negative number for every customer")
    saved = save_rate * var
    gain = saved - cost
    chosen = greedy_by_value_per_cost(gain, cost, budget)
    return pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy()[chosen],
            "value_at_risk": var[chosen],
            "cost": cost[chosen],
            "expected_saved_value": saved[chosen],
            "expected_net_gain": gain[chosen],
            "cumulative_cost": np.cumsum(cost[chosen]),
        }
    )
