"""``GET /v1/retention-list``: the latest batch run's customers ranked by value at risk, or chosen for a budget.

Budget mode follows the run's ``decision_basis`` (docs/RETENTION_DECISIONS.md): on ``uplift`` it spends the budget
greedily by incremental value per unit cost of each customer's ``best_action`` (``models.retention_decision``);
on ``risk_x_value`` (no uplift model) by save_rate x value at risk per ``cost_per_action``. Either way the
run's control group (``holdout_control``) is never chosen: contacting it would end the measurement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from service.api.deps import Authorized, Scores
from service.api.openapi_errors import error_responses
from service.schemas import MAX_AMOUNT, RetentionListResponse

if TYPE_CHECKING:
    import pandas as pd

RETENTION_COLUMNS = (
    "customer_id",
    "segment",
    "churn_probability",
    "predicted_ltv",
    "value_at_risk",
    "risk_tier",
    "action_key",
    "action_text",
    "decision_basis",
    "best_action",
    "expected_uplift",
    "incremental_value",
    "holdout_control",
)
MONEY_COLUMNS = ("customer_id", "cost", "expected_saved_value", "expected_net_gain", "cumulative_cost")


def run_basis(ranked: pd.DataFrame) -> str:
    """The decision basis of a run's rows (a run scored by an older release has none: risk x value)."""
    from models.retention_decision import RISK_X_VALUE_BASIS, UPLIFT_BASIS

    if "decision_basis" in ranked.columns and (ranked["decision_basis"] == UPLIFT_BASIS).any():
        return UPLIFT_BASIS
    return RISK_X_VALUE_BASIS


def select_for_budget(
    ranked: pd.DataFrame, budget: float, cost_per_action: float, save_rate: float
) -> tuple[str, pd.DataFrame]:
    """The basis and the customers to contact within ``budget`` (``MONEY_COLUMNS``, in selection order)."""
    import numpy as np
    import pandas as pd

    from models.retention_decision import UPLIFT_BASIS, allocate_budget
    from models.value_at_risk import select_for_budget as by_value_at_risk

    basis = run_basis(ranked)
    pool = ranked
    if "holdout_control" in ranked.columns:
        pool = ranked[~(ranked["holdout_control"].fillna(0.0).to_numpy(np.float64) > 0)]
    if basis != UPLIFT_BASIS:
        return basis, by_value_at_risk(pool, budget, cost_per_action, save_rate)
    # no_action rows have incremental value 0: the greedy takes positive values only
    pool = pool[pool["action_cost"].notna()]
    chosen = allocate_budget(pool[["customer_id", "incremental_value", "action_cost"]], budget)
    cost = chosen["action_cost"].to_numpy(np.float64)
    gain = chosen["incremental_value"].to_numpy(np.float64)
    money = pd.DataFrame(
        {
            "customer_id": chosen["customer_id"].to_numpy(),
            "cost": cost,
            "expected_saved_value": gain + cost,
            "expected_net_gain": gain,
            "cumulative_cost": chosen["cumulative_cost"].to_numpy(np.float64),
        }
    )
    return basis, money


def retention_list(
    *,
    _: Authorized,
    scores: Scores,
    tier: Annotated[str | None, Query(pattern="^(none|low|medium|high)$")] = None,
    segment: Annotated[str | None, Query(pattern="^(b2c|b2b)$")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
    budget: Annotated[
        float | None,
        Query(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, description="Spend at most this on retention actions."),
    ] = None,
    cost_per_action: Annotated[float, Query(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)] = 10.0,
    save_rate: Annotated[
        float, Query(ge=0, le=1, allow_inf_nan=False, description="Share of contacted churners saved.")
    ] = 0.2,
) -> dict[str, Any]:
    """From the latest complete batch score run: value at risk = P(churn) x predicted LTV, largest first.

    With ``budget``: the customers to contact within the budget, with their cost and expected gain. With an uplift
    model (``decision_basis`` uplift) by incremental value per unit cost of their best action, else by
    save_rate x value at risk per cost_per_action; the run's control group (``holdout_control``) is never chosen.
    """
    from service.json_values import json_value

    store = scores.store
    with scores.reads():
        run = None if store is None else store.latest_run()
        if store is None or run is None:
            raise HTTPException(404, detail="no complete batch score run yet: run `churnltv score` first")
        ranked = store.retention_list(tier=tier, segment=segment, limit=limit if budget is None else 1_000_000)
    listed = ranked[[c for c in RETENTION_COLUMNS if c in ranked.columns]]
    basis = run_basis(ranked)
    if budget is not None:
        basis, chosen = select_for_budget(ranked, budget, cost_per_action, save_rate)
        # the selection carries only the money columns: tier, action and scores come from the ranked rows
        listed = (
            chosen[list(MONEY_COLUMNS)]
            .head(limit)
            .merge(listed, on="customer_id", how="left", validate="one_to_one", sort=False)
        )
    rows = [{k: json_value(v) for k, v in r.items()} for r in listed.to_dict(orient="records")]
    for r in rows:
        if r.get("holdout_control") is not None:
            r["holdout_control"] = bool(r["holdout_control"])
    return {
        "run_id": run.get("run_id"),
        "as_of": json_value(run.get("as_of")),
        "decision_basis": basis,
        "customers": rows,
    }


def register(app: FastAPI) -> None:
    """Add this module's routes to ``app``."""
    app.get(
        "/v1/retention-list",
        tags=["predictions"],
        response_model=RetentionListResponse,
        summary="Customers ranked by value at risk",
        responses=error_responses(401, 403, 404, 422, 503),
    )(retention_list)
