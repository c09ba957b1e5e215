"""Operations routes: liveness (``/health``), readiness (``/ready``) and Prometheus metrics (``/metrics``)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Response
from fastapi.responses import PlainTextResponse

from service.api.deps import Data, Metrics, Models, Scores, Settings
from service.schemas import HealthResponse, ReadyResponse


async def health() -> dict[str, str]:
    return {"status": "ok"}


def ready(response: Response, settings: Settings, models: Models, data: Data, scores: Scores) -> dict[str, Any]:
    checks: dict[str, str] = {}
    checks["models"] = "ok" if models.current is not None else f"not loaded: {models.error}"
    if settings.data:
        checks["data"] = data.check()
    if settings.score_store:
        checks["score_store"] = scores.check()
    ok = all(v == "ok" for v in checks.values())
    response.status_code = 200 if ok else 503
    return {"status": "ready" if ok else "not ready", "checks": checks}


def metrics(registry: Metrics) -> Response:
    return Response(registry.render(), media_type="text/plain; version=0.0.4")


def register(app: FastAPI) -> None:
    """Add this module's routes to ``app``."""
    app.get("/health", tags=["operations"], response_model=HealthResponse, summary="Liveness")(health)
    app.get(
        "/ready",
        tags=["operations"],
        response_model=ReadyResponse,
        response_model_exclude_none=True,
        summary="Readiness: models loaded and data source reachable",
        responses={503: {"model": ReadyResponse, "description": "Not ready: `checks` says which check failed."}},
    )(ready)
    app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )(metrics)
