"""What a route may ask for, as ``Annotated`` dependencies: the API key check, settings, models, data, score store.

Every dependency here is ``async`` and does no I/O: a plain ``def`` dependency costs a threadpool round trip per
request, which on a one-customer ``/v1/predict`` is a sizable share of the answer. None of them raises on its own
(except the key check): a route asks its holder (``ServingModels.require()``, ``LiveData.cursor()``) when it needs
the resource, so a malformed request is a 422 before a missing resource is a 503, whatever the route.

Routes take the resources they use (``Models``, ``Data``, ``Scores``, ``Settings``, ``Metrics``) next to
``Authorized`` (the key check, which also resolves to the whole ``AppState``). The one route that reads its
resources from that state instead is ``/v1/predict``: FastAPI 0.165 spends ~20 us resolving each dependency, and
three more would make the single-customer answer measurably slower (benchmarks/bench_api.py).
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from service.api.state import AppState, LiveData, ScoreReads, ServingModels
from service.metrics import ServiceMetrics
from service.settings import ServiceSettings

# auto_error=False: the scheme only documents the header (OpenAPI ``securitySchemes``); the 401/403 answers and their
# messages are ours
api_key_header = APIKeyHeader(
    name="X-API-Key", scheme_name="ApiKey", description="One of the keys in CHURNLTV_API_KEYS.", auto_error=False
)


# the same header; a separate scheme so OpenAPI says which routes take an admin key
admin_key_header = APIKeyHeader(
    name="X-API-Key",
    scheme_name="AdminApiKey",
    description="One of the keys in CHURNLTV_ADMIN_API_KEYS; when none is configured, a key of CHURNLTV_API_KEYS.",
    auto_error=False,
)


def app_state(request: Request) -> AppState:
    """The state ``create_app`` attached to this app."""
    state: AppState = request.app.state.churnltv
    return state


async def authorized_state(request: Request, x_api_key: Annotated[str | None, Security(api_key_header)]) -> AppState:
    """The app's state for a caller whose key is accepted: 401 without a key, 403 with a wrong one.

    No keys configured = open, which ``create_app`` only allows with CHURNLTV_ALLOW_ANONYMOUS=true.
    """
    state = app_state(request)
    settings = state.settings
    if not settings.api_keys:
        return state
    if x_api_key is None:
        raise HTTPException(401, detail="missing API key: send it in the X-API-Key header")
    if not _one_of(x_api_key, settings.api_keys + settings.admin_api_keys):
        raise HTTPException(403, detail="API key not accepted")
    return state


async def admin_state(request: Request, x_api_key: Annotated[str | None, Security(admin_key_header)]) -> AppState:
    """The app's state for a caller with an admin key (CHURNLTV_ADMIN_API_KEYS): 401 without a key, 403 with a read
    key or a wrong one. Without admin keys configured, the read-key rule of ``authorized_state`` applies."""
    admin_keys = app_state(request).settings.admin_api_keys
    if not admin_keys:
        return await authorized_state(request, x_api_key)
    if x_api_key is None:
        raise HTTPException(
            401, detail="missing API key: send an admin key (CHURNLTV_ADMIN_API_KEYS) in the X-API-Key header"
        )
    if not _one_of(x_api_key, admin_keys):
        raise HTTPException(
            403, detail="API key not accepted for /admin routes: they need an admin key (CHURNLTV_ADMIN_API_KEYS)"
        )
    return app_state(request)


def _one_of(key: str, keys: tuple[str, ...]) -> bool:
    # constant-time comparison: a plain ``in`` leaks how much of a key matched through response timing
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


async def _settings(request: Request) -> ServiceSettings:
    return app_state(request).settings


async def _models(request: Request) -> ServingModels:
    return app_state(request).models


async def _data(request: Request) -> LiveData:
    return app_state(request).data


async def _scores(request: Request) -> ScoreReads:
    return app_state(request).scores


async def _metrics(request: Request) -> ServiceMetrics:
    return app_state(request).metrics


async def _state(request: Request) -> AppState:
    return app_state(request)


# module level so FastAPI can resolve the annotations (postponed evaluation reads module globals)
Authorized = Annotated[AppState, Depends(authorized_state)]
Admin = Annotated[AppState, Depends(admin_state)]
Settings = Annotated[ServiceSettings, Depends(_settings)]
Models = Annotated[ServingModels, Depends(_models)]
Data = Annotated[LiveData, Depends(_data)]
Scores = Annotated[ScoreReads, Depends(_scores)]
Metrics = Annotated[ServiceMetrics, Depends(_metrics)]
State = Annotated[AppState, Depends(_state)]
