"""``POST /v1/predict``: score customers from the point-in-time features the request carries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException
from starlette.concurrency import run_in_threadpool

from service.api.as_of import naive_as_of
from service.api.deps import Authorized
from service.api.invalid_fields import InvalidFields
from service.api.openapi_errors import error_responses
from service.schemas import PredictRequest, PredictResponse

if TYPE_CHECKING:
    from service.metrics import ServiceMetrics
    from service.model_set import ModelSet


# /v1/predict scores bodies of up to this many customers on the event loop, bigger ones in the threadpool. Why: one
# customer costs ~1 ms of numpy/LightGBM (single-threaded for one row), less than the two thread wake-ups a threadpool
# round trip adds on a busy 2-core box, and the event loop is blocked for at most ~4 ms; everything that reads data
# (live lookups, accounts, batchGet, the score store) always runs in the threadpool.
INLINE_CUSTOMERS = 4


async def predict(body: PredictRequest, app: Authorized) -> dict[str, Any]:
    """Score one or many customers from their point-in-time features (the feature specification is the schema)."""
    # async on purpose: a plain ``def`` endpoint costs a threadpool round trip, and a second one because
    # FastAPI then also validates the response in the threadpool. A few customers (~1 ms each) are scored
    # right here: handing them to a worker thread and back wakes two sleeping threads, a sizable share of a
    # one-customer answer. Larger bodies go to the threadpool so the event loop never stalls for long.
    models, settings = app.models.require(), app.settings
    if len(body.customers) > settings.max_predict_customers:
        raise HTTPException(
            413, detail=f"customers: {len(body.customers)} given, at most {settings.max_predict_customers} per call"
        )
    rows = []
    for i, c in enumerate(body.customers):
        row = {k: getattr(c, k) for k in c.model_fields_set}
        row["customer_id"] = c.customer_id
        row["as_of"] = naive_as_of(c.as_of, f"customers.{i}.as_of")
        rows.append(row)
    if len(rows) <= INLINE_CUSTOMERS:
        return score_request(models, rows, settings.top_reasons, app.metrics)
    return await run_in_threadpool(score_request, models, rows, settings.top_reasons, app.metrics)


def score_request(
    models: ModelSet, rows: list[dict[str, Any]], top_reasons: int, metrics: ServiceMetrics
) -> dict[str, Any]:
    """The response body for request rows the loaded churn model can score."""
    from service.api.responses import prediction_records
    from service.prediction import score_rows

    check_features(models, rows)
    records = prediction_records(score_rows(models, rows, top_reasons=top_reasons))
    metrics.count_tiers(r["risk_tier"] for r in records)
    return {"predictions": records}


def check_features(models: ModelSet, rows: list[dict[str, Any]]) -> None:
    """A feature the loaded churn model needs must be sent (null is fine when a value is undefined)."""
    needed = list(models.churn.spec.names)
    for i, row in enumerate(rows):
        absent = [n for n in needed if n not in row]
        if absent:
            shown = ", ".join(f"customers.{i}.{n}" for n in absent[:8])
            more = f" and {len(absent) - 8} more" if len(absent) > 8 else ""
            raise InvalidFields(
                f"the loaded churn model needs these features: {shown}{more} (send null when a value is undefined)",
                [
                    {"field": f"customers.{i}.{n}", "message": "Field required by the loaded churn model"}
                    for n in absent
                ],
            )


def register(app: FastAPI) -> None:
    """Add this module's routes to ``app``."""
    app.post(
        "/v1/predict",
        tags=["predictions"],
        response_model=PredictResponse,
        summary="Score customers from features",
        responses=error_responses(401, 403, 413, 415, 422, 503),
    )(predict)
