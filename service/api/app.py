"""The HTTP API: ``create_app(settings)`` builds it; the lifespan loads models, data source and score store.

Nothing happens at import: ``churnltv serve`` runs uvicorn in factory mode on ``service.api.app:create_app``.
Routes live in ``service.api.routes`` (one module per resource) and reach the loaded resources through
``service.api.deps``; ``service.api.state`` holds them. Handlers that do CPU or I/O work (live feature
building, score-store reads, reload) are plain ``def`` so FastAPI runs them in its threadpool, off the event
loop; the one exception is a small ``/v1/predict`` body (``service.api.routes.predict.INLINE_CUSTOMERS``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from features.errors import SourceUnreachableError, UserInputError
from features.source_url import scrub_password
from service.api.docs_page import install_docs_page
from service.api.guard import GuardMiddleware
from service.api.invalid_fields import InvalidFields, field_errors_of
from service.api.openapi_schema import install_openapi
from service.api.routes import accounts, admin, clv, customers, models, operations, predict, retention
from service.api.state import AppState
from service.settings import ServiceSettings, require_auth_configured

log = logging.getLogger(__name__)

# in the order the OpenAPI document lists them; each module adds its routes to the app itself (``register``):
# FastAPI 0.165 matches routes of an included APIRouter through a nested router on every request, which costs
# more than a one-customer answer can spare
ROUTE_MODULES = (operations, predict, customers, retention, clv, models, admin, accounts)

DESCRIPTION = (
    "Churn probability, P(alive), expected purchases, predicted LTV with an interval, risk tier with the "
    "triggers that fired and the recommended action, health score, lifecycle stage and reason codes.\n\n"
    "Send the API key in the `X-API-Key` header (security scheme `ApiKey`; all routes but /health, /ready, "
    "/metrics and this document, /openapi.json): 401 without one, 403 with a wrong one. `/admin/reload` takes an "
    "admin key (`AdminApiKey`, CHURNLTV_ADMIN_API_KEYS) when any is configured: a read key is then a 403."
)


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the API. ``settings`` default to the environment (``CHURNLTV_*``).

    Raises ``UserInputError`` when no API key is configured and anonymous access was not allowed
    explicitly (``CHURNLTV_ALLOW_ANONYMOUS=true``): an open API must be a decision, not an accident.
    """
    from service.version import service_version

    settings = settings or ServiceSettings()
    require_auth_configured(settings)
    state = AppState(settings=settings, version=service_version())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.api_keys:
            log.warning(
                "CHURNLTV_ALLOW_ANONYMOUS=true and no CHURNLTV_API_KEYS: the API accepts requests without a key"
            )
        await run_in_threadpool(state.start)
        yield
        state.close()

    # no FastAPI /docs or /redoc: both load their scripts from a CDN (service.api.docs_page serves local ones)
    app = FastAPI(
        title="churnltv",
        version=state.version,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.churnltv = state
    app.add_middleware(GuardMiddleware, metrics=state.metrics, max_body_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    for module in ROUTE_MODULES:
        module.register(app)
    install_openapi(app, state.models)
    install_docs_page(app, settings.docs_assets)
    return app


def install_error_handlers(app: FastAPI) -> None:
    """Every error answer names the field or the part at fault, with the status a client can act on."""
    app.add_exception_handler(RequestValidationError, invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(UserInputError, user_error)  # type: ignore[arg-type]
    app.add_exception_handler(SourceUnreachableError, unreachable)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 naming every invalid field (``errors``), a malformed JSON body as ``body`` with the character offset.

    A body sent with a content type other than JSON reaches validation undecoded (as bytes); that is a 415
    naming the type it got rather than pydantic's "Input should be a valid dictionary".
    """
    errors = []
    for e in exc.errors():
        if e.get("type") == "json_invalid":  # loc is ("body", character offset), not a field
            where = [p for p in e.get("loc", ()) if isinstance(p, int)]
            at = f" at character {where[0]}" if where else ""
            why = (e.get("ctx") or {}).get("error", "")
            errors.append({"field": "body", "message": f"malformed JSON{at}: {why}".rstrip(": ")})
            continue
        if tuple(e.get("loc", ())) == ("body",) and not _is_json(request.headers.get("content-type")):
            return _unsupported_media_type(request.headers.get("content-type", ""))
        loc = [str(p) for p in e.get("loc", ()) if p != "body"]
        errors.append({"field": ".".join(loc) or "body", "message": _message(e)})
    summary = "; ".join(f"{x['field']}: {x['message']}" for x in errors[:5])
    return JSONResponse({"detail": f"invalid request: {summary}", "errors": errors}, status_code=422)


def _is_json(content_type: str | None) -> bool:
    """FastAPI decodes a body as JSON without a content type or with application/json or application/*+json."""
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _unsupported_media_type(content_type: str) -> JSONResponse:
    media = content_type.split(";", 1)[0].strip()
    return JSONResponse(
        {"detail": f"unsupported content type {media!r}: send the body as JSON with Content-Type: application/json"},
        status_code=415,
    )


def _message(error: Any) -> str:
    """pydantic's message, saying which non-finite value was sent (``Input should be a finite number`` alone
    reads as if the value were missing)."""
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "finite_number":
        try:
            value = float(error.get("input"))
        except (TypeError, ValueError):
            return message
        shown = "NaN" if math.isnan(value) else ("infinity" if value > 0 else "-infinity")
        return f"{message}, not {shown}"
    return message


async def user_error(request: Request, exc: UserInputError) -> JSONResponse:
    detail = scrub_password(str(exc))  # a message may quote a URL
    return JSONResponse({"detail": detail, "errors": field_errors_of(detail)}, status_code=422)


async def unreachable(request: Request, exc: SourceUnreachableError) -> JSONResponse:
    # PostgreSQL down or restarting: a temporary outage of a part, not a bad request; the message names the part
    # and the next request tries again (the store opens a fresh connection per call)
    return JSONResponse(
        {"detail": f"unavailable: {scrub_password(str(exc))}"}, status_code=503, headers={"Retry-After": "1"}
    )


async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
    # FastAPI answers a body it cannot parse at all with a bare 400 (the cause chained); a body that is not
    # JSON is a 422 naming the body everywhere else in this API, so say the same thing here, and why
    if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
        if isinstance(exc.__cause__, RecursionError):
            message = (
                "malformed JSON: nested too deeply to parse (a request body is at most a few levels deep: an "
                "object holding a list of objects)"
            )
        else:
            message = "malformed JSON: the body cannot be decoded (send UTF-8 encoded JSON)"
        return JSONResponse(
            {"detail": f"invalid request: body: {message}", "errors": [{"field": "body", "message": message}]},
            status_code=422,
        )
    if exc.status_code == 422:  # raised by a route: every 422 body carries ``errors``
        detail = str(exc.detail)
        errors = exc.errors if isinstance(exc, InvalidFields) else field_errors_of(detail)
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422, headers=exc.headers)
    return await http_exception_handler(request, exc)
