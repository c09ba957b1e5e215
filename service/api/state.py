"""What the API's lifespan loads, one holder per resource: the serving models, the live data source, the score store.

``AppState`` is built by ``create_app`` and reached by routes only through ``service.api.deps``.

* ``ServingModels``: the loaded ``ModelSet`` sits behind one reference that a reload replaces whole: a
  request reads it once and keeps that pair of models to the end, so a reload never mixes versions inside
  a response or fails a request in flight. A bundle that fails to load or whose feature specification
  differs from what the service feeds it (``service.model_set.serving_spec_differences``) never replaces
  the serving one.
* ``LiveData``: the customer data source for live lookups, opened at start and again on demand (a source
  that was down recovers without a restart); each caller works on its own cursor.
* ``ScoreReads``: the score store of batch runs; a store that cannot be read answers 503 with
  ``Retry-After``, never a 4xx.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import HTTPException

from features.errors import SourceUnreachableError, UserInputError
from features.source_url import scrub_password
from service.api.as_of import now_utc
from service.metrics import ServiceMetrics
from service.settings import ServiceSettings

if TYPE_CHECKING:
    import duckdb

    from features.feature_spec import FeatureSpec
    from features.sources import DataSource
    from service.model_set import ModelSet
    from service.score_store import ScoreStore

log = logging.getLogger(__name__)


class LiveData:
    """The data source of live lookups (``CHURNLTV_DATA``); None configured means none is used."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self.shown = None if url is None else scrub_password(url)  # what messages, logs and /ready call it
        self.source: DataSource | None = None
        self.connection: duckdb.DuckDBPyConnection | None = None
        self.columns: dict[str, set[str]] = {}
        """The contract tables and columns of the open source (``present_columns``), read once at open: the
        catalog query costs more than one customer's features, and a source's shape is fixed while it is open."""
        self.error: str | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        """Open the source if it is not open yet; called at start and again by /ready and live scoring."""
        if not self.url:
            return
        with self._lock:  # concurrent /ready calls must not open (and leak) two copies
            if self.connection is not None:
                return
            source = None
            try:
                from features.point_in_time import present_columns
                from features.sources import open_source

                source = open_source(self.url)
                # validated by the pipeline that produced it; re-validating 50M events at every start is not useful
                connection = source.connect(validate=False)
                self.columns = present_columns(connection)
                self.connection = connection
                self.source, self.error = source, None
            except Exception as err:  # the service still serves /v1/predict without a data source
                if source is not None:
                    source.close()
                self.error = f"data source {self.shown}: {scrub_password(str(err))}"
                log.warning("data source unavailable: %s", self.error)

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for one lookup; 503 naming the problem when there is no reachable source."""
        self.open()  # no-op once open; retries a source that was down at start
        if self.connection is None:
            raise HTTPException(503, detail=f"no customer data source: {self.error or 'not configured'}")
        cursor = self.connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def check(self) -> str:
        """``ok`` or ``unreachable: why``, for /ready (PostgreSQL: asks the server, not the copy taken at start)."""
        self.open()  # a source that could not be opened before is retried: recovery needs no restart
        if self.connection is None:
            return f"unreachable: {self.error}"
        try:
            self.connection.cursor().execute("SELECT count(*) FROM customers LIMIT 1").fetchall()
            if self.source is not None:
                self.source.ping()
        except Exception as err:
            return f"unreachable: {scrub_password(str(err))}"
        return "ok"

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
        if self.source is not None:
            self.source.close()


class ScoreReads:
    """The score store of batch runs (``CHURNLTV_SCORE_STORE``), read by the lookups and the retention list."""

    def __init__(self, target: str | None, retry_after_seconds: int) -> None:
        self.target = target
        self.shown = None if target is None else scrub_password(target)  # what messages, logs and /ready call it
        self.retry_after_seconds = retry_after_seconds
        self.store: ScoreStore | None = None

    def open(self) -> None:
        if self.target and self.store is None:
            try:
                from service.score_store import open_score_store

                self.store = open_score_store(self.target)
            except Exception as err:
                log.warning("score store %s unavailable: %s", self.shown, scrub_password(str(err)))
                self.store = None

    @contextmanager
    def reads(self) -> Iterator[None]:
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
                detail=f"score store {self.shown} is busy or unreadable (a batch run may be writing it): "
                f"{scrub_password(str(err))}",
                headers={"Retry-After": str(self.retry_after_seconds)},
            ) from None

    def check(self) -> str:
        """``ok`` or ``unreachable: why``, for /ready (PostgreSQL: a fresh connection and a query)."""
        self.open()
        try:
            if self.store is None:
                raise RuntimeError(f"{self.shown} cannot be opened")
            self.store.latest_run()
        except Exception as err:
            return f"unreachable: {scrub_password(str(err))}"
        return "ok"

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


class ServingModels:
    """The models being served, behind one reference that ``reload`` swaps whole."""

    def __init__(self, settings: ServiceSettings, data: LiveData, metrics: ServiceMetrics) -> None:
        self.settings = settings
        self.data = data
        self.metrics = metrics
        self.current: ModelSet | None = None
        self.error: str | None = None
        self._reload_lock = threading.Lock()

    def require(self) -> ModelSet:
        """The serving set (read once per request); 503 while none is loaded."""
        models = self.current
        if models is None:
            raise HTTPException(503, detail=f"models are not loaded: {self.error or 'loading'}")
        return models

    def load_at_start(self) -> None:
        """Load the configured bundles; a failure is kept in ``error`` (the API serves /health and says why)."""
        try:
            self.current = self._load()
            self.metrics.set_models(self.current.versions)
        except Exception as err:
            self.error = str(err)
            log.error("models not loaded: %s", err)

    def reload(self) -> tuple[ModelSet, ModelSet | None]:
        """Load and check the configured bundles, then swap: (new set, previous set).

        On any failure the previous set keeps serving and the error is raised.
        """
        with self._reload_lock:
            try:
                fresh = self._load()
            except Exception:
                self.metrics.reloads.labels(outcome="failed").inc()
                raise
            old = self.current
            self.current = fresh  # one reference assignment: in-flight requests keep the set they started with
            self.error = None
            self.metrics.set_models(fresh.versions)
            self.metrics.reloads.labels(outcome="ok").inc()
        return fresh, old

    def _load(self) -> ModelSet:
        """Load the configured bundles and check the churn bundle's features against what this service feeds it.

        Raises ``UserInputError`` (``FeatureSpecMismatchError`` for a spec check) naming the bundle and every
        difference; the caller keeps whatever was serving.
        """
        from service.model_set import FeatureSpecMismatchError, load_model_set, serving_spec_differences

        settings = self.settings
        # keep_files=False: the API needs the bundles in memory only, so each reload's download is removed at once
        fresh = load_model_set(
            churn_ref=settings.churn_model,
            ltv_ref=settings.ltv_model,
            tracking_uri=settings.tracking_uri,
            keep_files=False,
        )
        spec = fresh.churn.spec
        serving = None if self.current is None else self.current.churn.spec
        differences = serving_spec_differences(spec, serving=serving, source=self._source_spec(spec))
        if differences:
            version = fresh.churn_info.version
            raise FeatureSpecMismatchError(
                settings.churn_model if version is None else f"{settings.churn_model} (version {version})", differences
            )
        return fresh

    def _source_spec(self, spec: FeatureSpec) -> FeatureSpec | None:
        """The features the data source yields with the bundle's settings (None without a reachable source)."""
        from features.settings import FeatureSettings
        from service.live_features import source_spec

        self.data.open()
        if self.data.connection is None:
            return None
        feature_settings = FeatureSettings.from_recorded(spec.settings)
        with self.data.cursor() as cursor:
            return source_spec(cursor, now_utc(), feature_settings)


@dataclass
class AppState:
    """Everything the lifespan loads, plus the settings and metrics of this app instance."""

    settings: ServiceSettings
    version: str
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    data: LiveData = field(init=False)
    scores: ScoreReads = field(init=False)
    models: ServingModels = field(init=False)

    def __post_init__(self) -> None:
        self.data = LiveData(self.settings.data)
        self.scores = ScoreReads(self.settings.score_store, self.settings.store_retry_after_seconds)
        self.models = ServingModels(self.settings, self.data, self.metrics)

    def start(self) -> None:
        """Open the data first (the models' feature check reads the data source), then load the models."""
        self.data.open()
        self.scores.open()
        self.models.load_at_start()

    def close(self) -> None:
        self.data.close()
        self.scores.close()
