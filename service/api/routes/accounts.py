"""``GET /v1/accounts/{id}``: a B2B account, scored live from its users and rolled up (models/account_rollup.py)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, HTTPException, Path, Query

from service.api.as_of import naive_as_of
from service.api.deps import Authorized, Data, Metrics, Models, Settings
from service.api.openapi_errors import error_responses
from service.schemas import AccountPrediction

if TYPE_CHECKING:
    import pandas as pd

    from service.api.state import LiveData
    from service.model_set import ModelSet


def get_account(
    account_id: Annotated[str, Path(min_length=1, max_length=200)],
    *,
    _: Authorized,
    serving: Models,
    data: Data,
    settings: Settings,
    metrics: Metrics,
    as_of: Annotated[dt.datetime | None, Query(description="Score as of this time (default: now).")] = None,
) -> dict[str, Any]:
    """Computed live from the data source: the account's users (``customers.account_id``) are scored, then rolled
    up to the account (models/account_rollup.py) and the policy runs on the account's signals."""
    from service.api.responses import account_record
    from service.prediction import roll_up_account

    models = serving.require()
    when = naive_as_of(as_of)
    users, scored = account_users(models, account_id, when, data, settings.top_reasons)
    metrics.count_tiers(scored["risk_tier"])
    account = roll_up_account(models, account_id, users, scored)
    return account_record(account_id, when, account, scored, models.versions)


def account_users(
    models: ModelSet, account_id: str, when: dt.datetime, data: LiveData, top_reasons: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The account's users' point-in-time features and their scores (``score_frame``), in the same order."""
    from features.settings import FeatureSettings
    from service import live_features
    from service.prediction import score_frame

    spec = models.churn.spec
    feature_settings = FeatureSettings.from_recorded(spec.settings)
    with data.cursor() as cursor:
        ids = live_features.account_users(cursor, account_id, when)
        if not ids:
            raise HTTPException(
                404, detail=f"account_id: unknown account {account_id!r} (or no user signed up before as_of)"
            )
        frame = live_features.customer_features(cursor, ids, when, feature_settings)
    frame = frame.reset_index(drop=True)
    scored = score_frame(models, frame, top_reasons=top_reasons)
    return frame, scored


def register(app: FastAPI) -> None:
    """Add this module's routes to ``app``."""
    app.get(
        "/v1/accounts/{account_id}",
        tags=["predictions"],
        response_model=AccountPrediction,
        summary="Prediction for a B2B account, rolled up from its users",
        responses=error_responses(401, 403, 404, 422, 503),
    )(get_account)
