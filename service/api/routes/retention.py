"""``GET /v1/retention-list``: the latest batch run's customers ranked by value at risk, or chosen for a budget."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query

from service.api.deps import Authorized, Scores
from service.api.openapi_errors import error_responses
from service.schemas import MAX_AMOUNT, RetentionListResponse

RETENTION_COLUMNS = (
    "customer_id",
    "segment",
    "churn_probability",
    "predicted_ltv",
    "value_at_risk",
    "risk_tier",
    "action_key",
    "action_text",
)


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

    With ``budget``: the customers to contact for the largest expected saved value within the budget
    (models/value_at_risk.py), with their cost and expected gain; tier and action as without a budget.
    """
    from service.json_values import json_value

    store = scores.store
    with scores.reads():
        run = None if store is None else store.latest_run()
        if store is None or run is None:
            raise HTTPException(404, detail="no complete batch score run yet: run `churnltv score` first")
        ranked = store.retention_list(tier=tier, segment=segment, limit=limit if budget is None else 1_000_000)
    listed = ranked[[c for c in RETENTION_COLUMNS if c in ranked.columns]]
    if budget is not None:
        from models.value_at_risk import select_for_budget

        chosen = select_for_budget(ranked, budget, cost_per_action, save_rate).head(limit)
        # the selection carries only the money columns: tier, action and scores come from the ranked rows
        listed = chosen.merge(
            listed.drop(columns="value_at_risk"), on="customer_id", how="left", validate="one_to_one", sort=False
        )
    rows = [{k: json_value(v) for k, v in r.items()} for r in listed.to_dict(orient="records")]
    return {"run_id": run.get("run_id"), "as_of": json_value(run.get("as_of")), "customers": rows}


def register(app: FastAPI) -> None:
    """Add this module's routes to ``app``."""
    app.get(
        "/v1/retention-list",
        tags=["predictions"],
        response_model=RetentionListResponse,
        summary="Customers ranked by value at risk",
        responses=error_responses(401, 403, 404, 422, 503),
    )(retention_list)
