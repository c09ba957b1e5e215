"""The HTTP API: ``create_app(settings)`` builds it; the lifespan loads models, data source and score store.

Nothing happens at import: ``churnltv serve`` runs uvicorn in factory mode on ``service.app:create_app``.
Handlers that do CPU or I/O work (live feature building, score-store reads, reload) are plain ``def`` so
FastAPI runs them in its threadpool, off the event loop; the one exception is a small ``/v1/predict`` body
(see ``INLINE_CUSTOMERS``). The loaded ``ModelSet`` sits behind one reference that ``/admin/reload``
replaces whole: a request reads it once and keeps that pair of models to the end, so a reload never mixes
versions inside a response or fails a request in flight. A bundle that fails to load or whose feature
specification differs from what the service feeds it (``service.model_set.serving_spec_differences``)
never replaces the serving one.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response, Security
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.security import APIKeyHeader
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from features.errors import SourceUnreachableError, UserInputError
from service.metrics import ServiceMetrics
from service.schemas import (
    AccountPrediction,
    BatchGetRequest,
    BatchGetResponse,
    ContractualClvRequest,
    ContractualClvResponse,
    CustomerPrediction,
    ErrorResponse,
    HealthResponse,
    ModelsResponse,
    PredictRequest,
    PredictResponse,
    ReadyResponse,
    ReloadResponse,
    RetentionListResponse,
)
from service.settings import ServiceSettings, require_auth_configured

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from features.feature_spec import FeatureSpec
    from features.sources import DataSource
    from service.model_set import ModelSet
    from service.score_store import ScoreStore

log = logging.getLogger(__name__)

# /v1/predict scores bodies of up to this many customers on the event loop, bigger ones in the threadpool. Why: one
# customer costs ~1 ms of numpy/LightGBM (single-threaded for one row), less than the two thread wake-ups a threadpool
# round trip adds on a busy 2-core box, and the event loop is blocked for at most ~4 ms; everything that reads data
# (live lookups, accounts, batchGet, the score store) always runs in the threadpool.
INLINE_CUSTOMERS = 4

PUBLIC_PATHS = {"/health", "/ready", "/metrics", "/docs", "/openapi.json", "/redoc", "/docs/oauth2-redirect"}


@dataclass
class AppState:
    """Everything the lifespan loads; ``models`` is swapped whole by reload."""

    settings: ServiceSettings
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    models: ModelSet | None = None
    model_error: str | None = None
    source: DataSource | None = None
    source_con: duckdb.DuckDBPyConnection | None = None
    source_error: str | None = None
    store: ScoreStore | None = None
    reload_lock: threading.Lock = field(default_factory=threading.Lock)
    data_lock: threading.Lock = field(default_factory=threading.Lock)


def _load_models(state: AppState) -> ModelSet:
    """Load the configured bundles and check the churn bundle's features against what this service feeds it.

    Raises ``UserInputError`` (``FeatureSpecMismatchError`` for a spec check) naming the bundle and every
    difference; the caller keeps whatever was serving.
    """
    from service.model_set import FeatureSpecMismatchError, load_model_set, serving_spec_differences

    settings = state.settings
    fresh = load_model_set(
        churn_ref=settings.churn_model, ltv_ref=settings.ltv_model, tracking_uri=settings.tracking_uri
    )
    spec = fresh.churn.spec
    serving = None if state.models is None else state.models.churn.spec
    differences = serving_spec_differences(spec, serving=serving, source=_source_spec(state, spec))
    if differences:
        version = fresh.churn_info.version
        raise FeatureSpecMismatchError(
            settings.churn_model if version is None else f"{settings.churn_model} (version {version})", differences
        )
    return fresh


def _source_spec(state: AppState, spec: FeatureSpec) -> FeatureSpec | None:
    """The features the data source yields with the bundle's settings (None without a reachable source)."""
    _open_source(state)
    if state.source_con is None:
        return None
    import pandas as pd

    from features.point_in_time import build_features
    from features.settings import FeatureSettings

    feature_settings = FeatureSettings.model_validate(spec.settings) if spec.settings else FeatureSettings()
    cursor = state.source_con.cursor()
    try:
        # no customer rows: only the specification (which tables and columns exist) is wanted
        _, source_spec = build_features(cursor, [pd.Timestamp(_now())], feature_settings, customer_ids=[])
    finally:
        cursor.close()
    return source_spec


def _open_data(state: AppState) -> None:
    _open_source(state)
    _open_store(state)


def _open_source(state: AppState) -> None:
    """Open the data source if it is not open yet; called at start and again by /ready and live scoring."""
    settings = state.settings
    if not settings.data:
        return
    with state.data_lock:  # concurrent /ready calls must not open (and leak) two copies
        if state.source_con is not None:
            return
        source = None
        try:
            from features.sources import open_source

            source = open_source(settings.data)
            # validated by the pipeline that produced it; re-validating 50M events at every start is not useful
            state.source_con = source.connect(validate=False)
            state.source, state.source_error = source, None
        except Exception as err:  # the service still serves /v1/predict without a data source
            if source is not None:
                source.close()
            state.source_error = f"data source {settings.data}: {err}"
            log.warning("data source unavailable: %s", state.source_error)


def _open_store(state: AppState) -> None:
    settings = state.settings
    if settings.score_store and state.store is None:
        try:
            from service.score_store import open_score_store

            state.store = open_score_store(settings.score_store)
        except Exception as err:
            log.warning("score store %s unavailable: %s", settings.score_store, err)
            state.store = None


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the API. ``settings`` default to the environment (``CHURNLTV_*``).

    Raises ``UserInputError`` when no API key is configured and anonymous access was not allowed
    explicitly (``CHURNLTV_ALLOW_ANONYMOUS=true``): an open API must be a decision, not an accident.
    """
    from service.version import service_version

    __version__ = service_version()
    settings = settings or ServiceSettings()
    require_auth_configured(settings)
    state = AppState(settings=settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.api_keys:
            log.warning(
                "CHURNLTV_ALLOW_ANONYMOUS=true and no CHURNLTV_API_KEYS: the API accepts requests without a key"
            )
        await run_in_threadpool(_open_data, state)  # first: the models' feature check reads the data source
        try:
            state.models = await run_in_threadpool(_load_models, state)
            state.metrics.set_models(state.models.versions)
        except Exception as err:
            state.model_error = str(err)
            log.error("models not loaded: %s", err)
        yield
        if state.source_con is not None:
            state.source_con.close()
        if state.source is not None:
            state.source.close()
        if state.store is not None:
            state.store.close()

    app = FastAPI(
        title="churnltv",
        version=__version__,
        description=(
            "Churn probability, P(alive), expected purchases, predicted LTV with an interval, risk tier with the "
            "triggers that fired and the recommended action, health score, lifecycle stage and reason codes.\n\n"
            "Send the API key in the `X-API-Key` header (security scheme `ApiKey`; all routes but /health, /ready, "
            "/metrics): 401 without one, 403 with a wrong one."
        ),
        lifespan=lifespan,
    )
    app.state.churnltv = state

    _install_middleware(app, state)
    _install_error_handlers(app)
    _add_routes(app, state, __version__)
    return app


class GuardMiddleware:
    """Pure ASGI middleware: body-size limit (413), no tracebacks to clients (500 with an id), metrics.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's BaseHTTPMiddleware runs every
    request through an extra task and memory streams, which cost more than scoring one customer.
    """

    def __init__(self, app: ASGIApp, state: AppState) -> None:
        self.app = app
        self.state = state
        self.limit = state.settings.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        limit = self.limit
        status = 500
        started = False
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > limit:
            status = 413
            too_big = f"request body of {int(length)} bytes is over the limit of {limit} bytes"
            await _send_json(send, 413, {"detail": too_big})
            self._observe(scope, status, start)
            return
        seen = 0
        rejected = False

        async def counted_receive() -> Message:
            # a chunked body (no Content-Length) is counted as it arrives: past the limit we answer 413
            # ourselves and tell the app the client went away, so it stops reading and its answer is dropped
            nonlocal seen, rejected, status, started
            message = await receive()
            if message["type"] == "http.request" and not rejected:
                seen += len(message.get("body", b""))
                if seen > limit and not started:
                    rejected, status, started = True, 413, True
                    await _send_json(send, 413, {"detail": f"request body is over the limit of {limit} bytes"})
            return {"type": "http.disconnect"} if rejected else message

        async def tracked_send(message: Message) -> None:
            nonlocal status, started
            if rejected:
                return
            if message["type"] == "http.response.start":
                status = int(message["status"])
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except Exception:  # never leak a traceback; the log has it
            error_id = uuid.uuid4().hex[:12]
            log.exception("unhandled error %s on %s", error_id, scope.get("path", ""))
            if not started:
                status = 500
                await _send_json(send, 500, {"detail": f"internal error (id {error_id})"})
        self._observe(scope, status, start)

    def _observe(self, scope: Scope, status: int, start: float) -> None:
        label = getattr(scope.get("route"), "path", "unmatched")
        metrics = self.state.metrics
        metrics.requests.labels(label, scope["method"], str(status)).inc()
        metrics.latency.labels(label).observe(time.perf_counter() - start)


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    import json

    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _install_middleware(app: FastAPI, state: AppState) -> None:
    app.add_middleware(GuardMiddleware, state=state)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            if e.get("type") == "json_invalid":  # loc is ("body", character offset), not a field
                where = [p for p in e.get("loc", ()) if isinstance(p, int)]
                at = f" at character {where[0]}" if where else ""
                why = (e.get("ctx") or {}).get("error", "")
                errors.append({"field": "body", "message": f"malformed JSON{at}: {why}".rstrip(": ")})
                continue
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            errors.append({"field": ".".join(loc) or "body", "message": e.get("msg", "invalid")})
        summary = "; ".join(f"{x['field']}: {x['message']}" for x in errors[:5])
        return JSONResponse({"detail": f"invalid request: {summary}", "errors": errors}, status_code=422)

    @app.exception_handler(UserInputError)
    async def user_error(request: Request, exc: UserInputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(SourceUnreachableError)
    async def unreachable(request: Request, exc: SourceUnreachableError) -> JSONResponse:
        # PostgreSQL down or restarting: a temporary outage of a part, not a bad request; the message names the part
        # and the next request tries again (the store opens a fresh connection per call)
        return JSONResponse({"detail": f"unavailable: {exc}"}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers a body it cannot decode at all (e.g. not UTF-8) with a bare 400; a body that is not
        # JSON is a 422 naming the body everywhere else in this API, so say the same thing here
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            message = "malformed JSON: the body cannot be decoded (send UTF-8 encoded JSON)"
            return JSONResponse(
                {"detail": f"invalid request: body: {message}", "errors": [{"field": "body", "message": message}]},
                status_code=422,
            )
        return await http_exception_handler(request, exc)


# auto_error=False: the scheme only documents the header (OpenAPI ``securitySchemes``); the 401/403 answers and their
# messages are ours
api_key_header = APIKeyHeader(
    name="X-API-Key", scheme_name="ApiKey", description="One of the keys in CHURNLTV_API_KEYS.", auto_error=False
)


async def require_api_key(request: Request, x_api_key: Annotated[str | None, Security(api_key_header)]) -> None:
    """401 without a key, 403 with a wrong one; no keys = open, only with CHURNLTV_ALLOW_ANONYMOUS=true.

    ``async`` because it does no I/O: a plain ``def`` dependency costs a threadpool round trip per request.
    """
    keys = request.app.state.churnltv.settings.api_keys
    if not keys:
        return
    if x_api_key is None:
        raise HTTPException(401, detail="missing API key: send it in the X-API-Key header")
    # constant-time comparison: a plain ``in`` leaks how much of a key matched through response timing
    if not any(hmac.compare_digest(x_api_key.encode(), k.encode()) for k in keys):
        raise HTTPException(403, detail="API key not accepted")


# module level so FastAPI can resolve the annotation (postponed evaluation reads module globals)
Authorized = Annotated[None, Depends(require_api_key)]


_ERROR_TEXT = {
    401: "No API key (send it in the X-API-Key header).",
    403: "API key not accepted.",
    404: "Not found (the message says what).",
    409: "Reload failed (the bundle cannot be loaded or its feature specification differs, each difference "
    "named); the previous models keep serving.",
    413: "Request body or list too large.",
    422: "Invalid request; `detail` names the field and `errors` lists every field.",
    503: "Models not loaded, or the data source or score store unreachable or busy (`detail` names it; "
    "`Retry-After` says when to retry).",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error answers a route gives: all have the ``ErrorResponse`` body."""
    return {code: {"model": ErrorResponse, "description": _ERROR_TEXT[code]} for code in codes}


def _require_models(state: AppState) -> ModelSet:
    models = state.models
    if models is None:
        raise HTTPException(503, detail=f"models are not loaded: {state.model_error or 'loading'}")
    return models


def _check_features(models: ModelSet, rows: list[dict[str, Any]]) -> None:
    """A feature the loaded churn model needs must be sent (null is fine when a value is undefined)."""
    needed = list(models.churn.spec.names)
    for i, row in enumerate(rows):
        absent = [n for n in needed if n not in row]
        if absent:
            shown = ", ".join(f"customers.{i}.{n}" for n in absent[:8])
            more = f" and {len(absent) - 8} more" if len(absent) > 8 else ""
            raise HTTPException(
                422,
                detail=f"the loaded churn model needs these features: {shown}{more} (send null when a value is "
                "undefined)",
            )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _naive(when: dt.datetime | None, field: str = "as_of") -> dt.datetime:
    """``when`` as naive UTC (now when None); 422 naming ``field`` (e.g. ``customers.2.as_of``) when unusable."""
    if when is None:
        return _now()
    if when.tzinfo is not None:
        try:
            when = when.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError:  # e.g. 0001-01-01T00:00+14:00 is before datetime.min in UTC
            raise HTTPException(422, detail=f"{field}: {when.isoformat()} is out of the supported date range") from None
    if when > _now() + dt.timedelta(minutes=5):
        raise HTTPException(422, detail=f"{field}: {when.isoformat()} is in the future")
    return when


@contextmanager
def _store_reads(settings: ServiceSettings) -> Iterator[None]:
    """A score store that cannot be read is never the client's fault: 503 with Retry-After, naming the store.

    The DuckDB store raises a plain ``UserInputError`` when ``churnltv score`` holds the file's write lock
    (DuckDB locks per process), and any other store error on a read is equally a server-side state; a
    PostgreSQL outage (``SourceUnreachableError``) keeps its own 503 handler.
    """
    try:
        yield
    except SourceUnreachableError:
        raise
    except UserInputError as err:
        raise HTTPException(
            503,
            detail=f"score store {settings.score_store} is busy or unreadable (a batch run may be writing it): {err}",
            headers={"Retry-After": str(settings.store_retry_after_seconds)},
        ) from None


def _add_routes(app: FastAPI, state: AppState, version: str) -> None:  # noqa: PLR0915 - one place lists the API
    from service.prediction import score_frame, score_rows, to_records

    settings = state.settings

    def count_tiers(records: list[dict[str, Any]]) -> None:
        for r in records:
            state.metrics.predictions.labels(tier=str(r.get("risk_tier"))).inc()

    @app.get("/health", response_model=HealthResponse, tags=["operations"], summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        response_model=ReadyResponse,
        response_model_exclude_none=True,
        tags=["operations"],
        summary="Readiness: models loaded and data source reachable",
        responses={503: {"model": ReadyResponse, "description": "Not ready: `checks` says which check failed."}},
    )
    def ready(response: Response) -> dict[str, Any]:
        checks: dict[str, str] = {}
        checks["models"] = "ok" if state.models is not None else f"not loaded: {state.model_error}"
        if settings.data:
            _open_source(state)  # a source that could not be opened before is retried: recovery needs no restart
            if state.source_con is None:
                checks["data"] = f"unreachable: {state.source_error}"
            else:
                try:
                    state.source_con.cursor().execute("SELECT count(*) FROM customers LIMIT 1").fetchall()
                    if state.source is not None:
                        state.source.ping()  # PostgreSQL: ask the server, not the copy taken at start
                    checks["data"] = "ok"
                except Exception as err:
                    checks["data"] = f"unreachable: {err}"
        if settings.score_store:
            _open_store(state)
            try:
                if state.store is None:
                    raise RuntimeError(f"{settings.score_store} cannot be opened")
                state.store.latest_run()  # PostgreSQL: a fresh connection and a query
                checks["score_store"] = "ok"
            except Exception as err:
                checks["score_store"] = f"unreachable: {err}"
        ok = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "not ready", "checks": checks}

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    def metrics() -> Response:
        return Response(state.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.post(
        "/v1/predict",
        response_model=PredictResponse,
        tags=["predictions"],
        summary="Score customers from features",
        responses=_errors(401, 403, 413, 422, 503),
    )
    async def predict(body: PredictRequest, _: Authorized) -> dict[str, Any]:
        """Score one or many customers from their point-in-time features (the feature specification is the schema)."""
        # async on purpose: a plain ``def`` endpoint costs a threadpool round trip, and a second one because
        # FastAPI then also validates the response in the threadpool. A few customers (~1 ms each) are scored
        # right here: handing them to a worker thread and back wakes two sleeping threads, a sizable share of a
        # one-customer answer. Larger bodies go to the threadpool so the event loop never stalls for long.
        models = _require_models(state)
        if len(body.customers) > settings.max_predict_customers:
            raise HTTPException(
                413, detail=f"customers: {len(body.customers)} given, at most {settings.max_predict_customers} per call"
            )
        rows = []
        for i, c in enumerate(body.customers):
            row = {k: getattr(c, k) for k in c.model_fields_set}
            row["customer_id"] = c.customer_id
            row["as_of"] = _naive(c.as_of, f"customers.{i}.as_of")
            rows.append(row)
        if len(rows) <= INLINE_CUSTOMERS:
            return score_request(models, rows)
        return await run_in_threadpool(score_request, models, rows)

    def score_request(models: ModelSet, rows: list[dict[str, Any]]) -> dict[str, Any]:
        _check_features(models, rows)
        records = score_rows(models, rows, top_reasons=settings.top_reasons)
        count_tiers(records)
        return {"predictions": records}

    def live_scores(models: ModelSet, ids: list[str], as_of: dt.datetime) -> pd.DataFrame:
        _open_source(state)  # no-op once open; retries a source that was down at start
        if state.source_con is None:
            raise HTTPException(503, detail=f"no customer data source: {state.source_error or 'not configured'}")
        import pandas as pd

        from features.point_in_time import build_features
        from features.settings import FeatureSettings

        spec = models.churn.spec
        feature_settings = FeatureSettings.model_validate(spec.settings) if spec.settings else FeatureSettings()
        cursor = state.source_con.cursor()
        try:
            # unknown ids are answered per id (404 / not_found), not as a failure of the whole call
            marks = ", ".join("?" for _ in ids)
            known = {
                str(r[0])
                for r in cursor.execute(
                    f"SELECT customer_id FROM customers WHERE customer_id IN ({marks}) AND signup_at < ?",
                    [*ids, pd.Timestamp(as_of)],
                ).fetchall()
            }
            ids = [i for i in ids if i in known]
            if not ids:
                return pd.DataFrame()
            frame, _ = build_features(cursor, [pd.Timestamp(as_of)], feature_settings, customer_ids=ids)
        finally:
            cursor.close()
        return score_frame(models, frame, top_reasons=settings.top_reasons) if len(frame) else frame

    def lookup(ids: list[str], as_of: dt.datetime | None) -> tuple[list[dict[str, Any]], list[str]]:
        models = _require_models(state)
        found: list[dict[str, Any]] = []
        remaining = list(dict.fromkeys(ids))
        if as_of is None and state.store is not None:
            with _store_reads(settings):
                run = state.store.latest_run()
                batch = None if run is None else state.store.read_scores(remaining)
            if run is not None and batch is not None:
                for rec in to_records(batch):
                    found.append({**rec, "source": "batch", "run_id": run.get("run_id")})
                have = {r["customer_id"] for r in found}
                remaining = [i for i in remaining if i not in have]
        if remaining:
            scored = live_scores(models, remaining, _naive(as_of))
            if len(scored):
                for rec in to_records(scored):
                    found.append({**rec, "source": "live", "run_id": None})
            have = {r["customer_id"] for r in found}
            remaining = [i for i in remaining if i not in have]
        count_tiers(found)
        return found, remaining

    @app.get(
        "/v1/customers/{customer_id}",
        response_model=CustomerPrediction,
        tags=["predictions"],
        summary="Prediction for a known customer",
        responses=_errors(401, 403, 404, 422, 503),
    )
    def get_customer(
        customer_id: Annotated[str, Path(min_length=1, max_length=200)],
        _: Authorized,
        as_of: Annotated[
            dt.datetime | None, Query(description="Score as of this time instead of the latest run.")
        ] = None,
    ) -> dict[str, Any]:
        """From the latest complete batch run when one exists (``source: batch``), else computed live from the data."""
        found, missing = lookup([customer_id], as_of)
        if missing:
            raise HTTPException(404, detail=f"customer_id: unknown customer {customer_id!r} (or signed up after as_of)")
        return found[0]

    @app.post(
        "/v1/customers:batchGet",
        response_model=BatchGetResponse,
        tags=["predictions"],
        summary="Several customers",
        responses=_errors(401, 403, 413, 422, 503),
    )
    def batch_get(body: BatchGetRequest, _: Authorized) -> dict[str, Any]:
        if len(body.customer_ids) > settings.max_batch_ids:
            raise HTTPException(
                413, detail=f"customer_ids: {len(body.customer_ids)} given, at most {settings.max_batch_ids} per call"
            )
        found, missing = lookup(body.customer_ids, body.as_of)
        return {
            "predictions": found,
            "not_found": [{"customer_id": i, "error": "unknown customer"} for i in missing],
        }

    @app.get(
        "/v1/retention-list",
        response_model=RetentionListResponse,
        tags=["predictions"],
        summary="Customers ranked by value at risk",
        responses=_errors(401, 403, 404, 422, 503),
    )
    def retention_list(  # noqa: PLR0917 - FastAPI query parameters
        _: Authorized,
        tier: Annotated[str | None, Query(pattern="^(none|low|medium|high)$")] = None,
        segment: Annotated[str | None, Query(pattern="^(b2c|b2b)$")] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
        budget: Annotated[float | None, Query(ge=0, description="Spend at most this on retention actions.")] = None,
        cost_per_action: Annotated[float, Query(ge=0)] = 10.0,
        save_rate: Annotated[float, Query(ge=0, le=1, description="Share of contacted churners saved.")] = 0.2,
    ) -> dict[str, Any]:
        """From the latest complete batch score run: value at risk = P(churn) x predicted LTV, largest first.

        With ``budget``: the customers to contact for the largest expected saved value within the budget
        (models/value_at_risk.py), with their cost and expected gain; tier and action as without a budget.
        """
        from service.prediction import _clean

        store = state.store
        with _store_reads(settings):
            run = None if store is None else store.latest_run()
            if store is None or run is None:
                raise HTTPException(404, detail="no complete batch score run yet: run `churnltv score` first")
            ranked = store.retention_list(tier=tier, segment=segment, limit=limit if budget is None else 1_000_000)
        cols = [
            c
            for c in (
                "customer_id",
                "segment",
                "churn_probability",
                "predicted_ltv",
                "value_at_risk",
                "risk_tier",
                "action_key",
                "action_text",
            )
            if c in ranked.columns
        ]
        listed = ranked[cols]
        if budget is not None:
            from models.value_at_risk import select_for_budget

            chosen = select_for_budget(ranked, budget, cost_per_action, save_rate).head(limit)
            # the selection carries only the money columns: tier, action and scores come from the ranked rows
            listed = chosen.merge(
                listed.drop(columns="value_at_risk"), on="customer_id", how="left", validate="one_to_one", sort=False
            )
        rows = [{k: _clean(v) for k, v in r.items()} for r in listed.to_dict(orient="records")]
        return {"run_id": run.get("run_id"), "as_of": _clean(run.get("as_of")), "customers": rows}

    @app.post(
        "/v1/clv/contractual",
        response_model=ContractualClvResponse,
        tags=["calculators"],
        responses=_errors(401, 403, 413, 422),
    )
    def contractual(body: ContractualClvRequest, _: Authorized) -> dict[str, Any]:
        """The source articles' contractual CLV formulas (DOMAIN.md section 6) as a calculator."""
        from models import contractual_clv as f

        def need(*names: str) -> list[float]:
            absent = [n for n in names if getattr(body, n) is None]
            if absent:
                raise HTTPException(422, detail=f"formula {body.formula!r} needs: {', '.join(absent)}")
            return [float(getattr(body, n)) for n in names]

        if body.formula == "simple":
            m, c, life = need("monthly_margin", "monthly_cost", "expected_lifetime_months")
            return {
                "formula": "simple",
                "clv": float(np.ravel(f.simple_clv(m, c, life))[0]),
                "expression": "(margin - cost) x lifetime",
            }
        if body.formula == "saas":
            mrr, life, cost = need("mrr", "expected_lifetime_months", "cost_to_serve")
            return {
                "formula": "saas",
                "clv": float(np.ravel(f.saas_clv(mrr, life, cost))[0]),
                "expression": "MRR x lifetime - cost",
            }
        revenue, cost, r, d = need("revenue", "cost", "retention", "discount")
        after = body.formula == "pay_after_service"
        if 1 + d - r <= 0:
            raise HTTPException(422, detail="retention/discount: 1 + discount - retention must be > 0")
        value = float(np.ravel(f.retention_clv(revenue, cost, r, d, pay_after_service=after))[0])
        expr = "(M - R) r / (1 + d - r)" if after else "(M - R)(1 + d) / (1 + d - r)"
        return {"formula": body.formula, "clv": value, "expression": expr}

    @app.get(
        "/v1/models",
        response_model=ModelsResponse,
        tags=["models"],
        summary="Loaded model versions, aliases, data range and holdout metrics",
        responses=_errors(401, 403),
    )
    async def models_info(_: Authorized) -> dict[str, Any]:
        models = state.models
        return {
            "service_version": version,
            "loaded": models is not None,
            "error": state.model_error,
            "loaded_at": None if models is None else models.loaded_at,
            "churn": None if models is None else models.churn_info.describe(),
            "ltv": None if models is None or models.ltv_info is None else models.ltv_info.describe(),
        }

    @app.post(
        "/admin/reload",
        response_model=ReloadResponse,
        tags=["operations"],
        summary="Swap to the current champion models",
        responses=_errors(401, 403, 409),
    )
    def reload(_: Authorized) -> dict[str, Any]:
        """Load the configured models and check them; on any failure the old ones keep serving (409 says why).

        The check: the churn bundle's feature specification must equal the serving model's, fit the request
        schema's feature catalog and match what the data source yields (each difference is named). Changing the
        feature specification is a redeploy (restart), not a hot reload.
        """
        with state.reload_lock:
            try:
                fresh = _load_models(state)
            except Exception as err:
                state.metrics.reloads.labels(outcome="failed").inc()
                raise HTTPException(409, detail=f"reload failed, still serving the previous models: {err}") from None
            old = state.models
            state.models = fresh  # one reference assignment: in-flight requests keep the set they started with
            state.model_error = None
            state.metrics.set_models(fresh.versions)
            state.metrics.reloads.labels(outcome="ok").inc()
        return {"status": "reloaded", "versions": fresh.versions, "previous": None if old is None else old.versions}

    _add_account_route(app, state, count_tiers)


def _add_account_route(app: FastAPI, state: AppState, count_tiers: Any) -> None:
    @app.get(
        "/v1/accounts/{account_id}",
        response_model=AccountPrediction,
        tags=["predictions"],
        summary="Prediction for a B2B account, rolled up from its users",
        responses=_errors(401, 403, 404, 422, 503),
    )
    def get_account(
        account_id: Annotated[str, Path(min_length=1, max_length=200)],
        _: Authorized,
        as_of: Annotated[dt.datetime | None, Query(description="Score as of this time (default: now).")] = None,
    ) -> dict[str, Any]:
        """Computed live from the data source: the account's users (``customers.account_id``) are scored, then rolled
        up to the account (models/account_rollup.py) and the policy runs on the account's signals."""
        models = _require_models(state)
        when = _naive(as_of)
        users, scored = _account_users(state, models, account_id, when)
        count_tiers(scored.to_dict(orient="records"))
        return _account_record(models, account_id, when, users, scored)


def _account_users(
    state: AppState, models: ModelSet, account_id: str, when: dt.datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The account's users' point-in-time features and their scores (``score_frame``), in the same order."""
    import pandas as pd

    from features.point_in_time import build_features, present_columns
    from features.settings import FeatureSettings
    from service.prediction import score_frame

    _open_source(state)
    if state.source_con is None:
        raise HTTPException(503, detail=f"no customer data source: {state.source_error or 'not configured'}")
    spec = models.churn.spec
    feature_settings = FeatureSettings.model_validate(spec.settings) if spec.settings else FeatureSettings()
    no_accounts = HTTPException(
        422, detail="account_id: the customer data has no accounts (customers.account_id is empty)"
    )
    cursor = state.source_con.cursor()
    try:
        if "account_id" not in present_columns(cursor).get("customers", set()):
            raise no_accounts
        ids = [
            str(r[0])
            for r in cursor.execute(
                "SELECT customer_id FROM customers WHERE account_id = ? AND signup_at < ? ORDER BY customer_id",
                [account_id, pd.Timestamp(when)],
            ).fetchall()
        ]
        if not ids:
            # sources show every contract column, so data without accounts usually has an all-null account_id
            if not cursor.execute("SELECT 1 FROM customers WHERE account_id IS NOT NULL LIMIT 1").fetchall():
                raise no_accounts
            raise HTTPException(
                404, detail=f"account_id: unknown account {account_id!r} (or no user signed up before as_of)"
            )
        frame, _ = build_features(cursor, [pd.Timestamp(when)], feature_settings, customer_ids=ids)
    finally:
        cursor.close()
    frame = frame.reset_index(drop=True)
    scored = score_frame(models, frame, top_reasons=state.settings.top_reasons)
    return frame, scored


def _account_record(
    models: ModelSet, account_id: str, when: dt.datetime, users: pd.DataFrame, scored: pd.DataFrame
) -> dict[str, Any]:
    """Roll the users up (features + their model outputs) and apply the policy at account level."""
    import pandas as pd

    from models.account_rollup import account_policy
    from service.prediction import _clean

    outputs = scored[["customer_id", "churn_probability", "p_alive", "predicted_ltv"]]
    inputs = users.drop(columns=[c for c in ("churn_probability", "p_alive", "predicted_ltv") if c in users.columns])
    merged = inputs.merge(outputs, on="customer_id", how="inner", validate="one_to_one")
    merged["account_id"] = account_id
    account = account_policy(merged, settings=models.policy)
    row = {k: _clean(v) for k, v in account.iloc[0].to_dict().items()}
    members = [
        {
            "customer_id": r["customer_id"],
            "risk_tier": r["risk_tier"],
            "churn_probability": _clean(r["churn_probability"]),
            "predicted_ltv": _clean(r["predicted_ltv"]),
            "value_at_risk": _clean(r["value_at_risk"]),
        }
        for r in scored.to_dict(orient="records")
    ]
    return {
        "account_id": account_id,
        "as_of": pd.Timestamp(when).isoformat(),
        "users": int(row["users"]),
        "risk_tier": row["risk_tier"],
        "triggers": row["triggers"] or [],
        "recommended_action": {"key": row["action_key"], "text": row["action_text"]},
        "churn_probability": row["churn_probability"],
        "p_alive": row.get("p_alive"),
        "predicted_ltv": row.get("predicted_ltv"),
        "value_at_risk": row.get("value_at_risk"),
        "health": {
            "score": row["health_score"],
            "activity": row["health_activity"],
            "penetration": row["health_penetration"],
            "service": row["health_service"],
            "feedback": row["health_feedback"],
        },
        "lifecycle_stage": {"b2c": row["stage_b2c"], "b2b": row["stage_b2b"]},
        "members": members,
        "model_versions": models.versions,
    }
