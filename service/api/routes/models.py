"""``GET /v1/models``: the loaded model versions, aliases, data range and holdout metrics."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.api.deps import Authorized, State
from service.api.openapi_errors import error_responses
from service.schemas import ModelsResponse


async def models_info(_: Authorized, state: State) -> dict[str, Any]:
    serving = state.models
    models = serving.current
    return {
        "service_version": state.version,
        "loaded": models is not None,
        "error": serving.error,
        "loaded_at": None if models is None else models.loaded_at,
        "churn": None if models is None else models.churn_info.describe(),
        "ltv": None if models is None or models.ltv_info is None else models.ltv_info.describe(),
        "uplift": None if models is None or models.uplift_info is None else models.uplift_info.describe(),
    }


def register(app: FastAPI) -> None:
    """Add this module's routes to ``app``."""
    app.get(
        "/v1/models",
        tags=["models"],
        response_model=ModelsResponse,
        summary="Loaded model versions, aliases, data range and holdout metrics",
        responses=error_responses(401, 403),
    )(models_info)
