"""``POST /admin/reload``: swap to the current champion models without a restart, or keep the old ones and say why."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException

from service.api.deps import Admin, Models
from service.api.openapi_errors import error_responses
from service.schemas import ReloadResponse


def reload(_: Admin, serving: Models) -> dict[str, Any]:
    """Load the configured models and check them; on any failure the old ones keep serving (409 says why).

    Needs an admin key (CHURNLTV_ADMIN_API_KEYS) when any is configured; a read key is then a 403.

    The check: the churn bundle's feature specification must equal the serving model's, fit the request
    schema's feature catalog and match what the data source yields (each difference is named). Changing the
    feature specification is a redeploy (restart), not a hot reload.
    """
    try:
        fresh, old = serving.reload()
    except Exception as err:
        raise HTTPException(409, detail=f"reload failed, still serving the previous models: {err}") from None
    return {"status": "reloaded", "versions": fresh.versions, "previous": None if old is None else old.versions}


def register(app: FastAPI) -> None:
    """Add this module's routes to ``app``."""
    app.post(
        "/admin/reload",
        tags=["operations"],
        response_model=ReloadResponse,
        summary="Swap to the current champion models",
        responses=error_responses(401, 403, 409),
    )(reload)
