"""Whom to contact, with which action: the expected incremental value of every action, and the budget.

For customer i and action a (docs/RETENTION_DECISIONS.md):

    incremental_value[i, a] = uplift_retention[i, a] x LTV[i] + uplift_spend[i, a] - cost[a]

``uplift_retention`` is the change in the probability of still being a customer after the horizon if contacted
with ``a`` instead of left alone, ``uplift_spend`` the change in spend within the horizon (0 when not modelled),
``cost`` the cost of one contact. The best action is the one with the largest positive incremental value;
when none is positive the answer is ``no_action`` (the policy's ``action_none_key``): that covers the "sure
things" and "lost causes" contact does not move, and the "sleeping dogs" it harms (negative uplift).

A budget is spent greedily by incremental value per unit cost (the classic greedy for the 0/1 knapsack; within
one item of the LP optimum, Dantzig 1957); customers whose best action costs nothing come first, and a customer
who no longer fits is skipped, not the rest of the list. Without an uplift model the CRM keeps the risk x value
ranking (``models.value_at_risk``), and every answer says which basis it used (``DECISION_BASES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.errors import UserInputError
from models.policy_frame import FloatArray

UPLIFT_BASIS = "uplift"
RISK_X_VALUE_BASIS = "risk_x_value"
DECISION_BASES = (UPLIFT_BASIS, RISK_X_VALUE_BASIS)


@dataclass(frozen=True)
class Decisions:
    """Per customer: the best action, its retention uplift, its incremental value and cost; per action: values."""

    best_action: npt.NDArray[np.object_]
    expected_uplift: FloatArray
    incremental_value: FloatArray
    cost: FloatArray
    values: dict[str, FloatArray]

    def frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "best_action": pd.Series(self.best_action, dtype=object, index=index),
                "expected_uplift": pd.Series(self.expected_uplift, index=index),
                "incremental_value": pd.Series(self.incremental_value, index=index),
                "action_cost": pd.Series(self.cost, index=index),
            }
        )


def incremental_values(
    uplift: Mapping[str, npt.ArrayLike],
    spend_uplift: Mapping[str, npt.ArrayLike],
    ltv: npt.ArrayLike,
    costs: Mapping[str, float],
) -> dict[str, FloatArray]:
    """incremental_value per action (see the module docstring); an unknown LTV counts as 0 for retention."""
    value = np.nan_to_num(np.asarray(ltv, dtype=np.float64), nan=0.0)
    if (value < 0).any():
        raise UserInputError(f"LTV must be >= 0; row {int(np.flatnonzero(value < 0)[0]) + 1} is negative")
    out: dict[str, FloatArray] = {}
    for action, tau in uplift.items():
        if action not in costs:
            raise UserInputError(f"no cost known for action {action!r}")
        cost = float(costs[action])
        if not np.isfinite(cost) or cost < 0:
            raise UserInputError(f"cost of action {action!r} must be a non-negative number, got {cost}")
        retention = np.nan_to_num(np.asarray(tau, dtype=np.float64), nan=0.0)
        spend = spend_uplift.get(action)
        extra = np.zeros_like(retention) if spend is None else np.nan_to_num(np.asarray(spend, dtype=np.float64))
        out[action] = retention * value + extra - cost
    return out


def decide(
    uplift: Mapping[str, npt.ArrayLike],
    spend_uplift: Mapping[str, npt.ArrayLike],
    ltv: npt.ArrayLike,
    costs: Mapping[str, float],
    *,
    no_action: str = "no_action",
) -> Decisions:
    """Best action per customer: the largest positive incremental value, else ``no_action``."""
    values = incremental_values(uplift, spend_uplift, ltv, costs)
    n = np.asarray(ltv, dtype=np.float64).size
    actions = list(values)
    if not actions:
        zeros = np.zeros(n)
        return Decisions(np.full(n, no_action, dtype=object), zeros, zeros.copy(), zeros.copy(), {})
    stacked = np.column_stack([values[a] for a in actions])
    best = np.argmax(stacked, axis=1)
    best_value = stacked[np.arange(n), best]
    act = best_value > 0
    labels = np.array([*actions, no_action], dtype=object)
    chosen = np.where(act, best, len(actions))
    taus = np.column_stack([np.nan_to_num(np.asarray(uplift[a], dtype=np.float64)) for a in actions])
    cost_row = np.array([float(costs[a]) for a in actions])
    return Decisions(
        best_action=labels[chosen],
        expected_uplift=np.where(act, taus[np.arange(n), best], 0.0),
        incremental_value=np.where(act, best_value, 0.0),
        cost=np.where(act, cost_row[best], 0.0),
        values=values,
    )


def greedy_by_value_per_cost(gain: npt.ArrayLike, cost: npt.ArrayLike, budget: float) -> npt.NDArray[np.int64]:
    """Positions chosen within ``budget``, in selection order: positive gains only, by gain per unit cost (free
    ones first), ties by the larger gain; one that no longer fits is skipped and the scan goes on."""
    g = np.asarray(gain, dtype=np.float64)
    c = np.asarray(cost, dtype=np.float64)
    if budget < 0 or not np.isfinite(budget):
        raise UserInputError(f"budget must be a non-negative number, got {budget:g}")
    if (c < 0).any() or np.isnan(c).any():
        raise UserInputError("cost must be a non-negative number for every customer")
    candidates = np.flatnonzero(np.nan_to_num(g, nan=0.0) > 0)
    ratio = np.where(c[candidates] > 0, g[candidates] / np.maximum(c[candidates], 1e-300), np.inf)
    ranked = candidates[np.lexsort((-g[candidates], -ratio))]
    if ranked.size == 0 or bool(np.all(c[ranked] == c[ranked[0]])):  # one cost: a prefix is the greedy choice
        return ranked[np.cumsum(c[ranked]) <= budget + 1e-9].astype(np.int64)
    chosen: list[int] = []
    spent = 0.0
    for i in ranked.tolist():
        if spent + c[i] <= budget + 1e-9:
            chosen.append(i)
            spent += c[i]
    return np.asarray(chosen, dtype=np.int64)


def allocate_budget(frame: pd.DataFrame, budget: float) -> pd.DataFrame:
    """The customers to contact within ``budget``: rows of ``frame`` (needs incremental_value and action_cost) in
    selection order, with ``rank`` (1-based) and ``cumulative_cost`` added."""
    missing = [c for c in ("incremental_value", "action_cost") if c not in frame.columns]
    if missing:
        raise UserInputError(f"allocate_budget needs the column(s) {', '.join(missing)}")
    chosen = greedy_by_value_per_cost(
        frame["incremental_value"].to_numpy(np.float64), frame["action_cost"].to_numpy(np.float64), budget
    )
    out = frame.iloc[chosen].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["cumulative_cost"] = np.cumsum(out["action_cost"].to_numpy(np.float64))
    return out


def spend_run_rate(frame: pd.DataFrame, days: float = 365.0) -> FloatArray:
    """A value proxy when no LTV model is at hand: spend over the last 90 days scaled to ``days`` (0 when the
    frame has no ``txn_amount_90d`` or the customer bought nothing). Used by ``churnltv uplift score`` alone and as
    the value behind the value-at-risk baseline of the uplift evaluation; the service uses the LTV model."""
    if "txn_amount_90d" not in frame.columns:
        return np.zeros(len(frame))
    spend = pd.to_numeric(frame["txn_amount_90d"], errors="coerce").to_numpy(np.float64)
    out: FloatArray = np.nan_to_num(spend, nan=0.0) * (days / 90.0)
    return out
