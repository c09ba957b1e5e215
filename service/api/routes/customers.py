"""``GET /v1/customers/{id}`` and ``POST /v1/customers:batchGet``: predictions for known customers.

A customer is answered from the latest complete batch run when the store has one (``source: batch``) and no
``as_of`` was asked for; otherwise (or when the run does not hold the customer) it is scored live from the data
source (``source: live``, ``service.live_features``). Unknown ids are answered per id (404 / ``not_found``), not
as a failure of the whole call.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query

from service.api.as_of import naive_as_of
from service.api.deps import Authorized, Data, Metrics, Models, Scores, Settings
from service.api.openapi_errors import error_responses
from service.schemas import BatchGetRequest, BatchGetResponse, CustomerPrediction

if TYPE_CHECKING:
    import pandas as pd

    from service.api.state import LiveData, ScoreReads
    from service.model_set import ModelSet


def get_customer(
    customer_id: Annotated[str, Path(min_length=1, max_length=200)],
    *,
    _: Authorized,
    serving: Models,
    data: Data,
    scores: Scores,
    settings: Settings,
    metrics: Metrics,
    as_of: Annotated[dt.datetime | None, Query(description="Score as of this time instead of the latest run.")] = None,
) -> dict[str, Any]:
    """From the latest complete batch run when one exists (``source: batch``), else computed live from the data."""
    found, missing = lookup(
        serving.require(), [customer_id], as_of, data=data, scores=scores, top_reasons=settings.top_reasons
    )
    metrics.count_tiers(r["risk_tier"] for r in found)
    if missing:
        raise HTTPException(404, detail=f"customer_id: unknown customer {customer_id!r} (or signed up after as_of)")
    return found[0]


def batch_get(
    body: BatchGetRequest,
    *,
    _: Authorized,
    serving: Models,
    data: Data,
    scores: Scores,
    settings: Settings,
    metrics: Metrics,
) -> dict[str, Any]:
    if len(body.customer_ids) > settings.max_batch_ids:
        raise HTTPException(
            413, detail=f"customer_ids: {len(body.customer_ids)} given, at most {settings.max_batch_ids} per call"
        )
    found, missing = lookup(
        serving.require(), body.customer_ids, body.as_of, data=data, scores=scores, top_reasons=settings.top_reasons
    )
    metrics.count_tiers(r["risk_tier"] for r in found)
    return {
        "predictions": found,
        "not_found": [{"customer_id": i, "error": "unknown customer"} for i in missing],
    }


def lookup(
    models: ModelSet,
    ids: list[str],
    as_of: dt.datetime | None,
    *,
    data: LiveData,
    scores: ScoreReads,
    top_reasons: int,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Records of the ids found (batch first, then live) and the ids found nowhere, in the order asked."""
    from service.api.responses import frame_records

    found: list[dict[str, Any]] = []
    remaining = list(dict.fromkeys(ids))
    store = scores.store
    if as_of is None and store is not None:
        with scores.reads():
            run = store.latest_run()
            batch = None if run is None else store.read_scores(remaining)
        if run is not None and batch is not None:
            for rec in frame_records(batch):
                found.append({**rec, "source": "batch", "run_id": run.get("run_id")})
            have = {r["customer_id"] for r in found}
            remaining = [i for i in remaining if i not in have]
    if remaining:
        scored = live_scores(models, remaining, naive_as_of(as_of), data, top_reasons)
        if len(scored):
            for rec in frame_records(scored):
                found.append({**rec, "source": "live", "run_id": None})
        have = {r["customer_id"] for r in found}
        remaining = [i for i in remaining if i not in have]
    return found, remaining


def live_scores(models: ModelSet, ids: list[str], as_of: dt.datetime, data: LiveData, top_reasons: int) -> pd.DataFrame:
    """Scores of the ids the data source knows at ``as_of`` (an empty frame when it knows none)."""
    import pandas as pd

    from features.settings import FeatureSettings
    from service.live_features import customer_features, known_customers
    from service.prediction import score_frame

    spec = models.churn.spec
    feature_settings = FeatureSettings.from_recorded(spec.settings)
    with data.cursor() as cursor:
        known = known_customers(cursor, ids, as_of)
        if not known:
            return pd.DataFrame()
        frame = customer_features(cursor, known, as_of, feature_settings)
    return score_frame(models, frame, top_reasons=top_reasons) if len(frame) else frame


def register(app: FastAPI) -> None:
    """Add this module's routes to ``app``."""
    app.get(
        "/v1/customers/{customer_id}",
        tags=["predictions"],
        response_model=CustomerPrediction,
        summary="Prediction for a known customer",
        responses=error_responses(401, 403, 404, 422, 503),
    )(get_customer)
    app.post(
        "/v1/customers:batchGet",
        tags=["predictions"],
        response_model=BatchGetResponse,
        summary="Several customers",
        responses=error_responses(401, 403, 413, 422, 503),
    )(batch_get)
