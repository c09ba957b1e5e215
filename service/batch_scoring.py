"""Score the whole customer base at one cutoff into a score store: chunked, atomic, resumable.

The local engine builds the point-in-time features of every customer in ONE DuckDB pass
(``features.point_in_time.build_features``), then scores fixed, sorted chunks of customers with
``service.prediction.score_frame`` — the same function the API calls, so a batch score and an API answer for the
same customer and models cannot disagree. Chunk ``i`` is always customers ``[i*chunk_size, (i+1)*chunk_size)`` of
the sorted id list, which is what makes resuming exact: a resumed run recomputes the same partition, skips the
parts the store already holds, and the store checks one row per customer before it publishes.

Bad rows (a customer whose row cannot be scored, or whose score is not a probability) are not written to the
scores: they are counted, with examples and reasons, in the run metadata. NaN features are NOT bad (LightGBM
routes missing values). Above ``CHURNLTV_SCORE_MAX_BAD_ROW_FRACTION`` the run fails and the previous run stays
served.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.errors import UserInputError
from service.prediction import score_frame
from service.score_store import ScoreStore, check_run_id, now_utc, open_score_store

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from features.feature_spec import FeatureSpec
    from features.settings import FeatureSettings
    from features.sources import DataSource
    from features.validation import DataQualityReport
    from service.model_set import ModelSet

log = logging.getLogger(__name__)

Engine = Literal["local", "spark"]


class BatchScoringSettings(BaseSettings):
    """Settings of `churnltv score` (env prefix ``CHURNLTV_SCORE_``)."""

    model_config = SettingsConfigDict(env_prefix="CHURNLTV_SCORE_", extra="ignore", frozen=True)

    max_bad_row_fraction: float = Field(
        0.01, ge=0.0, le=1.0, description="A run with more bad rows than this fraction of customers fails (exit 2)."
    )
    bad_row_examples: int = Field(20, ge=0, description="Bad rows kept as examples in the run metadata.")
    keep_runs: int = Field(7, ge=1, description="Complete runs kept in the store; older ones are pruned.")
    chunk_size: int = Field(100_000, ge=1, description="Customers scored and written per part.")
    workers: int = Field(
        0,
        ge=0,
        description="Worker processes of the local engine (0: one per core, at most 4; 1: score in this process).",
    )
    spark_driver_memory: str = Field(
        "3g",
        pattern=r"^\d+[kmgtKMGT]$",
        description="spark.driver.memory when churnltv starts Spark itself (under spark-submit, --driver-memory).",
    )


class ScoreRunError(UserInputError):
    """The run failed (e.g. too many bad rows); the previous run is still the one served."""

    def __init__(self, message: str, record: dict[str, Any]) -> None:
        super().__init__(message)
        self.record = record


@dataclass(frozen=True)
class RunResult:
    """What a finished run did; ``record`` is the metadata stored with it."""

    run_id: str
    status: str
    target: str
    as_of: pd.Timestamp
    n_customers: int
    rows_written: int
    bad_rows: int
    parts_total: int
    parts_skipped: int
    seconds: float
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.n_customers / self.seconds if self.seconds > 0 else math.inf


@dataclass
class ScoredPart:
    """One part's scored rows (``SCORE_COLUMNS``) and its bad rows (customer_id, reason)."""

    part: int
    scored: pd.DataFrame
    bad: pd.DataFrame


def new_run_id() -> str:
    """Sortable by start time, unique across concurrent runs."""
    return dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + secrets.token_hex(3)


def default_as_of(
    con: duckdb.DuckDBPyConnection, *, source: DataSource | None = None, report: DataQualityReport | None = None
) -> pd.Timestamp:
    """The day after the data's latest event or transaction (midnight), i.e. a cutoff that sees all of it.

    With the ``source`` and its validation ``report``, only accepted rows count: a row set aside (a date in 2031,
    after the extraction time) must not move the cutoff it is set aside from. Without them ``con``'s typed views
    are read as they are (a source connected with validation, where every row was accepted).
    """
    import pandas as pd

    from features.validation import accepted_rows_sql

    present = {
        str(r[0])
        for r in con.execute(
            "SELECT view_name FROM duckdb_views() UNION SELECT table_name FROM duckdb_tables()"
        ).fetchall()
    }

    def rows(table: str) -> str:
        if source is None or report is None:
            return table
        return f"({accepted_rows_sql(source, report, table)})"

    parts = [f"SELECT max(occurred_at) AS t FROM {rows(t)}" for t in ("events", "transactions") if t in present]
    parts.append(f"SELECT max(signup_at) AS t FROM {rows('customers')}")
    found = con.execute(f"SELECT max(t) FROM ({' UNION ALL '.join(parts)})").fetchall()
    row = found[0] if found else None  # fetchall: DuckDB keeps a fetchone() result open
    if row is None or row[0] is None:
        raise UserInputError("the data has no customers, events or transactions: nothing to score")
    return pd.Timestamp(row[0]).normalize() + pd.Timedelta(days=1)


def feature_settings_for(models: ModelSet) -> FeatureSettings:
    """The feature settings the churn model was trained with (its spec records them), incl. n_core_modules.

    Pinning ``n_core_modules`` makes features of a subset of customers (a Spark task, an API call) identical to
    the features of the whole base.
    """
    from features.settings import FeatureSettings

    spec = getattr(models.churn, "spec", None)
    return FeatureSettings.from_recorded(getattr(spec, "settings", None))


def ids_digest(ids: Iterable[str]) -> str:
    """Fingerprint of the sorted population: a resume must see exactly the same customers."""
    h = hashlib.sha256()
    for cid in ids:
        h.update(cid.encode())
        h.update(b"\0")
    return h.hexdigest()


def _bad_frame(ids: Iterable[str], reason: str) -> pd.DataFrame:
    import pandas as pd

    ids = list(ids)
    return pd.DataFrame({"customer_id": ids, "reason": [reason] * len(ids)}, columns=["customer_id", "reason"])


def _invalid_outputs(scored: pd.DataFrame) -> pd.Series:
    """Per-row reason when the output is not usable (NaN/out-of-range probability); empty string when fine."""
    import numpy as np
    import pandas as pd

    p = scored["churn_probability"].to_numpy(dtype=np.float64, na_value=np.nan)
    reasons = np.full(len(scored), "", dtype=object)
    bad = ~np.isfinite(p) | (p < 0.0) | (p > 1.0)
    reasons[bad] = [f"churn_probability is {v!r}, not a probability" for v in p[bad]]
    return pd.Series(reasons, index=scored.index)


def score_chunk(
    models: ModelSet, features: pd.DataFrame, *, budget: int | None = None, top_reasons: int = 3
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score ``features``; rows that make scoring fail are isolated by bisection and returned as bad rows.

    A UserInputError on the whole chunk (e.g. the model's feature spec does not match the data) is a problem
    of the run, not of rows, and is raised. ``budget`` caps the bad rows searched for: beyond it the run will
    fail anyway, so the remaining rows of a failing block are all marked bad with the block's error.
    """
    import pandas as pd

    bad_parts: list[pd.DataFrame] = []
    good_parts: list[pd.DataFrame] = []
    found = 0

    def visit(block: pd.DataFrame, first: bool) -> None:
        nonlocal found
        try:
            scored = score_frame(models, block, top_reasons=top_reasons)
        except UserInputError:
            if first:
                raise
            scored = None
            error = "UserInputError"
        except Exception as err:
            scored = None
            error = f"{type(err).__name__}: {err}"
        if scored is not None:
            reasons = _invalid_outputs(scored)
            ok = (reasons == "").to_numpy()
            good_parts.append(scored[ok])
            if not ok.all():
                bad_parts.append(pd.DataFrame({"customer_id": scored["customer_id"][~ok], "reason": reasons[~ok]}))
                found += int((~ok).sum())
            return
        if len(block) == 1 or (budget is not None and found >= budget):
            bad_parts.append(_bad_frame(block["customer_id"].astype(str), f"scoring failed: {error}"))
            found += len(block)
            return
        half = len(block) // 2
        visit(block.iloc[:half], False)
        visit(block.iloc[half:], False)

    if len(features):
        visit(features, True)
    scored = pd.concat(good_parts, ignore_index=True) if good_parts else score_frame(models, features.iloc[:0])
    bad = pd.concat(bad_parts, ignore_index=True) if bad_parts else _bad_frame([], "")
    return scored, bad


class _Progress:
    """Rich progress bar (rows/s, ETA) on a terminal; plain log lines otherwise."""

    def __init__(self, total: int, done: int, label: str) -> None:
        self.total, self.done, self.label = total, done, label
        self.start = time.perf_counter()
        self.start_done = done
        self._bar: Any = None
        if sys.stderr.isatty():
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} rows/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                transient=False,
            )
            self._bar.start()
            self._task = self._bar.add_task(label, total=total, completed=done, rate="-")

    def advance(self, rows: int) -> None:
        self.done += rows
        elapsed = time.perf_counter() - self.start
        rate = (self.done - self.start_done) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, rate=f"{rate:,.0f}")
        else:
            log.info("%s: %d/%d rows, %.0f rows/s, ETA %.0f s", self.label, self.done, self.total, rate, eta)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _part_slices(pop: _Population, todo: list[int], chunk_size: int) -> Iterator[tuple[int, pd.DataFrame]]:
    """Each part's rows of ``pop.features`` (scorable customers only, sorted by id: one contiguous slice)."""
    import numpy as np

    assert pop.features is not None
    scorable = pop.features["customer_id"].astype(str).to_numpy()
    for part in todo:
        first, last = pop.ids[part * chunk_size], pop.ids[min((part + 1) * chunk_size, len(pop.ids)) - 1]
        lo, hi = np.searchsorted(scorable, first, "left"), np.searchsorted(scorable, last, "right")
        yield part, pop.features.iloc[int(lo) : int(hi)]


def worker_count(setting: int) -> int:
    """``CHURNLTV_SCORE_WORKERS``: 0 means one per core, at most 4 (beyond that the writer is the bottleneck)."""
    import os

    return setting if setting > 0 else max(1, min(os.cpu_count() or 1, 4))


def _local_parts(
    models: ModelSet,
    pop: _Population,
    todo: list[int],
    chunk_size: int,
    budget: Callable[[], int],
    *,
    workers: int = 1,
    top_reasons: int = 3,
) -> Iterator[ScoredPart]:
    """Score the parts in this process, or in ``workers`` processes that each hold the models; yields in part order.

    The scoring is Python-bound between LightGBM calls (reason codes, policy, JSON), so one process uses one core;
    the workers each take a part's features, score it with the same ``score_chunk`` and send it back already in
    storage form, while this process writes the finished parts.
    """
    if workers <= 1 or len(todo) <= 1:
        for part, chunk in _part_slices(pop, todo, chunk_size):
            scored, bad = score_chunk(models, chunk, budget=budget(), top_reasons=top_reasons)
            yield ScoredPart(part, scored, bad)
        return
    import concurrent.futures as cf
    import multiprocessing as mp
    import os

    from service.model_set import model_payload

    payload = model_payload(
        models, str(models.churn_info.files()), None if models.ltv_info is None else str(models.ltv_info.files())
    )
    # spawn, not fork: the parent has run DuckDB's (and may have run OpenMP's) thread pools, which a forked child
    # inherits in a broken state. Each worker dies with this process (service/parent_death.py): a SIGKILLed run
    # must not leave its workers and the resource tracker alive.
    pool = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=mp.get_context("spawn"),
        initializer=_init_worker,
        initargs=(payload, os.getpid()),
    )
    try:
        slices = _part_slices(pop, todo, chunk_size)
        queued: dict[int, cf.Future[tuple[int, pd.DataFrame, pd.DataFrame]]] = {}
        for part in todo:  # parts are written in order (as by one process), a few scored ahead
            for ahead, chunk in slices:  # at most one part queued per worker beyond the running ones
                queued[ahead] = pool.submit(_score_in_worker, ahead, chunk, budget(), top_reasons)
                if len(queued) >= 2 * workers:
                    break
            _, scored, bad = queued.pop(part).result()
            yield ScoredPart(part, scored, bad)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_WORKER_MODELS: ModelSet | None = None


def _init_worker(payload: dict[str, Any], parent_pid: int) -> None:
    """Runs once in each worker process: die with the parent, one LightGBM thread per process (the processes are
    the parallelism), load the models."""
    import os

    from service.parent_death import die_with_parent

    global _WORKER_MODELS  # noqa: PLW0603 - the models of this worker process
    die_with_parent(parent_pid)
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from service.model_set import models_from_payload

    _WORKER_MODELS = models_from_payload(payload, str)


def _score_in_worker(
    part: int, chunk: pd.DataFrame, budget: int, top_reasons: int
) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    from service.score_store import STORAGE_FORM, to_storage

    assert _WORKER_MODELS is not None
    scored, bad = score_chunk(_WORKER_MODELS, chunk, budget=budget, top_reasons=top_reasons)
    stored = to_storage(scored, "").drop(columns=["run_id"])  # JSON encoded here, in parallel
    stored.attrs[STORAGE_FORM] = True
    return part, stored, bad


def _with_set_aside(parts: Iterable[ScoredPart], pop: _Population, chunk_size: int) -> Iterator[ScoredPart]:
    """Add each part's set-aside (bad input) customers to its bad rows, so every id of the part is accounted for."""
    import pandas as pd

    for item in parts:
        ids = pop.ids[item.part * chunk_size : (item.part + 1) * chunk_size]
        aside = [(c, pop.quarantined[c]) for c in ids if c in pop.quarantined]
        if aside:
            extra = pd.DataFrame(aside, columns=["customer_id", "reason"])
            bad = pd.concat([item.bad, extra], ignore_index=True) if len(item.bad) else extra
            yield ScoredPart(item.part, item.scored, bad)
        else:
            yield item


def _summarise_bad(bad: pd.DataFrame, examples: int) -> dict[str, Any]:
    if bad.empty:
        return {"count": 0, "reasons": {}, "examples": []}
    reasons = bad["reason"].astype(str).str.split(":").str[0].value_counts().to_dict()
    sample = bad.head(examples)[["customer_id", "reason"]].astype(str).to_dict(orient="records")
    return {"count": len(bad), "reasons": {str(k): int(v) for k, v in reasons.items()}, "examples": sample}


@dataclass
class _Population:
    """The run's cutoff, sorted customer ids, (local engine) their features, and the customers set aside.

    ``ids`` is everyone signed up before the cutoff, including the ``quarantined`` customers (id -> reason) whose
    input rows break the data contract: they are not scored but reported as bad rows of their part, so the parts
    and the population digest do not depend on which rows are bad. ``features`` holds only scorable customers,
    sorted by id. ``input_problems`` summarises the rejected input rows for the run metadata, and
    ``unattributed_rows`` counts rejected rows that belong to no scored customer (no or unknown customer id, or a
    customer not in the population): they count against the bad-row threshold too.
    """

    as_of: pd.Timestamp
    ids: list[str]
    features: pd.DataFrame | None
    feature_settings: FeatureSettings
    quarantined: dict[str, str] = field(default_factory=dict)
    input_problems: dict[str, Any] = field(default_factory=dict)
    unattributed_rows: int = 0


def _screen_input(
    con: duckdb.DuckDBPyConnection,
    source: DataSource,
    report: DataQualityReport,
    cutoff: pd.Timestamp,
    examples: int,
) -> tuple[dict[str, str], dict[str, Any], int]:
    """Bad rows of the validated source set their customers aside (id -> first reason)."""
    from features.validation import rejected_rows

    if report.ok:
        return {}, {"rows_rejected": 0}, 0
    rejected = rejected_rows(con, source, report)
    # the population: customers signed up before the cutoff, or whose signup date is itself unreadable
    known = {
        str(r[0])
        for r in con.execute(
            "SELECT DISTINCT customer_id FROM customers WHERE customer_id IS NOT NULL "
            "AND (signup_at IS NULL OR signup_at < $1)",
            [cutoff.to_pydatetime()],
        ).fetchall()
    }
    attributed = rejected["customer_id"].notna() & rejected["customer_id"].isin(known)
    first = rejected[attributed].drop_duplicates("customer_id")
    quarantined = {str(c): f"bad input row: {r}" for c, r in zip(first["customer_id"], first["reason"], strict=True)}
    # a row can break several rules; count rows, not (row, rule) pairs
    unattributed = len(rejected[~attributed].drop_duplicates(["table", "row"]))
    n_rows = len(rejected.drop_duplicates(["table", "row"]))
    summary = {
        "rows_rejected": n_rows,
        "customers_set_aside": len(quarantined),
        "rows_without_a_scored_customer": unattributed,
        "problems": [
            {"table": p.table, "column": p.column, "problem": p.message, "count": p.count} for p in report.problems
        ],
        "examples": rejected["reason"].head(examples).tolist(),
    }
    log.warning(
        "input: %d row(s) break the data contract; %d customer(s) set aside as bad rows, %d row(s) of no scored "
        "customer",
        n_rows,
        len(quarantined),
        unattributed,
    )
    return quarantined, summary, unattributed


def _load_population(
    source_url: str, as_of: pd.Timestamp | None, engine: Engine, models: ModelSet, examples: int = 20
) -> _Population:
    """Validate the source, pick the cutoff, set bad-input customers aside, build features (local) or list ids."""
    import pandas as pd

    from features.point_in_time import build_features
    from features.source_url import scrub_password
    from features.sources import open_source
    from features.validation import validate_connection

    source = open_source(source_url)
    try:
        con = source.connect(validate=False)  # validated just below, row by row
        report = validate_connection(con, source)
        report.raise_if_structural()  # a missing table or column fails the run; bad rows only set customers aside
        cutoff = as_of if as_of is not None else default_as_of(con, source=source, report=report)
        if cutoff.tzinfo is not None:
            cutoff = cutoff.tz_convert("UTC").tz_localize(None)
        quarantined, input_problems, unattributed = _screen_input(con, source, report, pd.Timestamp(cutoff), examples)
        feature_settings = feature_settings_for(models)
        features: pd.DataFrame | None = None
        if engine == "local":
            t0 = time.perf_counter()
            features, spec = build_features(con, [cutoff], feature_settings)
            check_spec(models, spec)
            if quarantined:
                features = features[~features["customer_id"].astype(str).isin(quarantined)]
            features = features.sort_values("customer_id", kind="stable").reset_index(drop=True)
            scorable = features["customer_id"].astype(str).tolist()
            log.info(
                "features of %d customers as of %s in %.1f s", len(scorable), cutoff.date(), time.perf_counter() - t0
            )
        else:
            from service.spark_scoring import population_ids

            scorable = [c for c in population_ids(con, cutoff) if c not in quarantined]
            if scorable:  # the spec depends on the tables and columns present, not on who: one customer tells
                _, spec = build_features(con, [cutoff], feature_settings, customer_ids=scorable[:1])
                check_spec(models, spec)
        con.close()
    finally:
        source.close()
    if len(set(scorable)) != len(scorable):
        raise UserInputError(f"{scrub_password(source_url)}: duplicate customer ids in the scored population")
    ids = sorted({*scorable, *quarantined})
    if not ids:
        raise UserInputError(f"{scrub_password(source_url)}: no customer signed up before {cutoff}; nothing to score")
    return _Population(pd.Timestamp(cutoff), ids, features, feature_settings, quarantined, input_problems, unattributed)


def check_spec(models: ModelSet, built: FeatureSpec) -> None:
    """The churn bundle's feature spec against the spec of the features built from this data: say what differs.

    A model trained with a feature this data cannot build (its table is absent here), or with another type, unit
    or feature setting, would be fed NaN or nonsense: a problem of the run, not of rows, so it raises. Features
    the data has and the model does not use are fine (LightGBM reads its own columns by name).
    """
    from features.feature_spec import FeatureSpec

    bundle_spec = getattr(models.churn, "spec", None)
    if bundle_spec is None:
        return
    used = set(bundle_spec.names)
    supplied = FeatureSpec(
        [f for f in built.features if f.name in used], built.absent, built.time_unit, dict(built.settings)
    )
    differences = bundle_spec.diff(supplied)
    if differences:
        shown = "\n".join(f"  - {d}" for d in differences)
        info = models.churn_info
        which = f"{info.name} version {info.version}" if info.version else f"from {info.ref}"
        raise UserInputError(
            f"the churn model ({which}) does not fit the features of this data "
            f"({len(differences)} difference(s)):\n{shown}"
        )


def _new_record(
    *,
    source_url: str,
    store: ScoreStore,
    pop: _Population,
    models: ModelSet,
    engine: Engine,
    chunk_size: int,
    settings: BatchScoringSettings,
) -> dict[str, Any]:
    from features.source_url import scrub_password

    return {
        "run_id": new_run_id(),
        "status": "running",
        "as_of": pop.as_of.isoformat(),
        "source": scrub_password(source_url),
        "target": store.target,
        "engine": engine,
        "chunk_size": chunk_size,
        "n_customers": len(pop.ids),
        "parts_total": math.ceil(len(pop.ids) / chunk_size),
        "population_digest": ids_digest(pop.ids),
        "model_versions": models.versions,
        "models": {
            "churn": models.churn_info.describe(),
            "ltv": None if models.ltv_info is None else models.ltv_info.describe(),
        },
        # what predicted_ltv and horizon_days mean in this run (the report says it in words)
        "ltv_horizon_months": None if models.ltv is None else models.ltv.horizon_months,
        "max_bad_row_fraction": settings.max_bad_row_fraction,
        "input_problems": pop.input_problems,
        "started_at": now_utc(),
        "finished_at": None,
        "resumed": 0,
        "error": None,
    }


def _write_parts(
    store: ScoreStore,
    record: dict[str, Any],
    pop: _Population,
    models: ModelSet,
    engine: Engine,
    *,
    allowed_bad: int,
    spark_master: str | None,
    top_reasons: int,
    spark_driver_memory: str = "3g",
    workers: int = 1,
    resuming: bool = False,
) -> tuple[int, dict[str, Any], bool]:
    """Score and write every part not yet durable.

    Returns how many parts were already durable, the run's record, and whether this start was counted as a resume
    (``resuming`` and a part written: the record's ``resumed`` went up by one, and was saved, with that part).
    """
    run_id = str(record["run_id"])
    counted = False
    chunk_size = int(record["chunk_size"])
    n = len(pop.ids)
    durable = store.durable_parts(run_id)
    todo = [p for p in range(int(record["parts_total"])) if p not in durable]
    bad_so_far = len(store.staged_bad_rows(run_id)) if durable else 0
    progress = _Progress(n, min(len(durable) * chunk_size, n), f"scoring {run_id}")
    try:
        produced: Iterable[ScoredPart]
        if engine == "local":
            produced = _local_parts(
                models,
                pop,
                todo,
                chunk_size,
                lambda: allowed_bad + 1 - bad_so_far,
                workers=workers,
                top_reasons=top_reasons,
            )
        else:
            from service.spark_scoring import spark_parts

            produced = spark_parts(
                source_url=str(record["source_url"]),
                as_of=pop.as_of,
                ids=pop.ids,
                skip=set(pop.quarantined),
                todo=todo,
                chunk_size=chunk_size,
                models=models,
                feature_settings=pop.feature_settings,
                spark_master=spark_master,
                top_reasons=top_reasons,
                driver_memory=spark_driver_memory,
            )
        for item in _with_set_aside(produced, pop, chunk_size):
            store.write_part(run_id, item.part, item.scored, item.bad)
            if resuming and not counted:  # a resume counts once it has made progress, not when it is attempted
                record = {**record, "resumed": int(record.get("resumed", 0)) + 1}
                store.save_run(_stored_form(record))
                counted = True
            bad_so_far += len(item.bad)
            progress.advance(len(item.scored) + len(item.bad))
            if bad_so_far > allowed_bad:
                break  # the run cannot succeed any more: stop scoring, fail in the caller
    except BaseException as err:
        if not isinstance(err, KeyboardInterrupt | SystemExit):
            failed = {**record, "status": "failed", "finished_at": now_utc(), "error": f"{type(err).__name__}: {err}"}
            _mark_failed(store, _stored_form(failed), discard=False)
            log.error("score run %s failed (resume it with --resume %s): %s", run_id, run_id, err)
        raise
    finally:
        progress.close()
    return len(durable), _stored_form(record), counted


def _stored_form(record: dict[str, Any]) -> dict[str, Any]:
    """The record as stored: without the source URL (it may carry a password), which only the run itself needs."""
    return {k: v for k, v in record.items() if k != "source_url"}


def _mark_failed(store: ScoreStore, failed: dict[str, Any], *, discard: bool) -> None:
    """Record the failure; when even that is impossible (the disk that broke the run is full), log it and go on.

    The error that broke the run is the one to report, not the second error of recording it.
    """
    try:
        store.fail_run(str(failed["run_id"]), failed, discard=discard)
    except Exception as err:
        log.error(
            "score run %s failed and its record could not be marked failed in %s: %s",
            failed["run_id"],
            store.target,
            err,
        )


def run_batch(
    source_url: str,
    as_of: pd.Timestamp | str | None,
    target: str,
    *,
    models: ModelSet,
    engine: Engine = "local",
    chunk_size: int = 100_000,
    resume: str | None = None,
    settings: BatchScoringSettings | None = None,
    spark_master: str | None = None,
    top_reasons: int = 3,
) -> RunResult:
    """Score every customer signed up before ``as_of`` and publish the run to ``target`` atomically.

    ``resume=RUN_ID`` continues a run that was killed or failed: its recorded as_of, chunk size and models are
    reused (they must match), parts already durable are skipped. Raises ``ScoreRunError`` (a UserInputError,
    exit 2) when bad rows exceed the threshold; the previously served run is untouched.
    """
    import pandas as pd

    settings = settings or BatchScoringSettings()
    if chunk_size < 1:
        raise UserInputError(f"--chunk-size must be at least 1 (got {chunk_size})")
    if engine not in ("local", "spark"):
        raise UserInputError(f"unknown engine {engine!r}; use local or spark")
    started = time.perf_counter()
    store = open_score_store(target)
    cutoff = None if as_of is None else pd.Timestamp(as_of)
    record: dict[str, Any] | None = None
    if resume is not None:
        record = _resumable_record(store, check_run_id(resume), models.versions)
        if record["status"] == "complete":
            log.info("run %s is already complete in %s; nothing to do", resume, store.target)
            return _result(record, store, 0, started)
        recorded = pd.Timestamp(record["as_of"])
        if cutoff is not None and cutoff != recorded:
            raise UserInputError(f"run {resume} scores as of {recorded.date()}, not {cutoff.date()}")
        cutoff = recorded
        # ``resumed`` goes up when this start writes its first part or publishes, so a resume that fails before
        # doing anything (its checks, a store it cannot write) leaves the counter as it was
        record = {**record, "status": "running", "error": None}

    pop = _load_population(source_url, cutoff, engine, models, settings.bad_row_examples)
    if record is None:
        record = _new_record(
            source_url=source_url,
            store=store,
            pop=pop,
            models=models,
            engine=engine,
            chunk_size=chunk_size,
            settings=settings,
        )
        try:
            store.begin_run(record)
        except Exception as err:  # e.g. a full disk: a record that got written must not stay "running"
            error = f"{type(err).__name__}: {err}"
            _mark_failed(store, {**record, "status": "failed", "finished_at": now_utc(), "error": error}, discard=False)
            raise
    elif record.get("population_digest") != ids_digest(pop.ids):
        raise UserInputError(
            f"run {record['run_id']} cannot be resumed: the customers signed up before {pop.as_of.date()} changed "
            f"since it started ({record.get('n_customers')} then, {len(pop.ids)} now); start a new run"
        )
    else:
        record = {**record, "input_problems": pop.input_problems}
        store.save_run(record)
    run_id = str(record["run_id"])
    n = len(pop.ids)
    log.info("score run %s started (%d customers, %d parts, engine %s)", run_id, n, record["parts_total"], engine)
    print(f"run {run_id}", file=sys.stderr, flush=True)  # the id to pass to --resume if this run is killed

    # rejected input rows of no scored customer count against the threshold too (they can only fail a run)
    allowed_bad = math.floor(settings.max_bad_row_fraction * n) - pop.unattributed_rows
    skipped, record, counted = _write_parts(
        store,
        {**record, "source_url": source_url},
        pop,
        models,
        engine,
        allowed_bad=allowed_bad,
        spark_master=spark_master,
        top_reasons=top_reasons,
        spark_driver_memory=settings.spark_driver_memory,
        workers=worker_count(settings.workers),
        resuming=resume is not None,
    )
    record = _finish(
        store=store,
        record=record,
        n=n,
        unattributed=pop.unattributed_rows,
        settings=settings,
        skipped=skipped,
        started=started,
        count_resume=resume is not None and not counted,
    )
    return _result(record, store, skipped, started)


def _finish(
    *,
    store: ScoreStore,
    record: dict[str, Any],
    n: int,
    unattributed: int,
    settings: BatchScoringSettings,
    skipped: int,
    started: float,
    count_resume: bool = False,
) -> dict[str, Any]:
    """Check bad rows and counts, then publish (or fail, leaving the previous run served).

    ``count_resume``: a resume that found every part durable counts itself (``resumed``) only in the published
    record; a publish that fails leaves the run ``failed`` with its parts kept, so it can be resumed again.
    """
    run_id = str(record["run_id"])
    bad_summary = _summarise_bad(store.staged_bad_rows(run_id), settings.bad_row_examples)
    record = {**record, "bad_rows": bad_summary}
    allowed = math.floor(settings.max_bad_row_fraction * n)
    if bad_summary["count"] + unattributed > allowed:
        counted = f"{bad_summary['count']} bad rows"
        if unattributed:
            counted += f" + {unattributed} rejected input row(s) of no scored customer"
        error = f"{counted} exceed the threshold ({settings.max_bad_row_fraction:.2%} of {n} = {allowed})"
        failed = {**record, "status": "failed", "finished_at": now_utc(), "error": error}
        _mark_failed(store, failed, discard=True)
        shown = [f"{e['customer_id']}: {e['reason']}" for e in bad_summary["examples"][:5]]
        if not shown:
            shown = list(record.get("input_problems", {}).get("examples", []))[:5]
        examples = "; ".join(shown)
        raise ScoreRunError(
            f"score run {run_id} failed: {error} (CHURNLTV_SCORE_MAX_BAD_ROW_FRACTION); "
            f"the previous run is still served. Examples: {examples}",
            failed,
        )
    rows, distinct = store.staged_counts(run_id)
    if rows != distinct or rows + bad_summary["count"] != n:
        error = (
            f"staged rows do not add up: {rows} rows, {distinct} customers, {bad_summary['count']} bad, {n} expected"
        )
        failed = {**record, "status": "failed", "finished_at": now_utc(), "error": error}
        _mark_failed(store, failed, discard=True)
        raise ScoreRunError(f"score run {run_id} failed: {error}", failed)
    seconds = time.perf_counter() - started
    checked = record
    record = {
        **checked,
        "status": "complete",
        "rows_written": rows,
        "finished_at": now_utc(),
        "duration_seconds": round(seconds, 3),
        "parts_skipped_on_last_start": skipped,
    }
    if count_resume:
        record["resumed"] = int(record.get("resumed", 0)) + 1
    try:
        store.publish(run_id, record, keep_runs=settings.keep_runs)
    except BaseException as err:
        if not isinstance(err, KeyboardInterrupt | SystemExit):
            error = f"publish failed: {type(err).__name__}: {err}"
            failed = {**checked, "status": "failed", "finished_at": now_utc(), "error": error}
            _mark_failed(store, failed, discard=False)
            log.error("score run %s failed (resume it with --resume %s): %s", run_id, run_id, err)
        raise
    log.info("score run %s complete: %d rows, %d bad, %.1f s", run_id, rows, bad_summary["count"], seconds)
    return record


def _resumable_record(store: ScoreStore, run_id: str, versions: dict[str, str | None]) -> dict[str, Any]:
    record = store.get_run(run_id)
    if record is None:
        raise UserInputError(f"no score run {run_id} in {store.target}; nothing to resume")
    if record.get("status") == "pruned":
        raise UserInputError(f"score run {run_id} in {store.target} was pruned; start a new run")
    if record.get("model_versions") != versions:
        raise UserInputError(
            f"run {run_id} was scored with models {record.get('model_versions')}, now {versions}; "
            "resume with the same --churn-model/--ltv-model or start a new run"
        )
    return record


def _result(record: dict[str, Any], store: ScoreStore, skipped: int, started: float) -> RunResult:
    import pandas as pd

    return RunResult(
        run_id=str(record["run_id"]),
        status=str(record["status"]),
        target=store.target,
        as_of=pd.Timestamp(record["as_of"]),
        n_customers=int(record["n_customers"]),
        rows_written=int(record.get("rows_written", 0)),
        bad_rows=int(record.get("bad_rows", {}).get("count", 0)),
        parts_total=int(record["parts_total"]),
        parts_skipped=skipped,
        seconds=time.perf_counter() - started,
        record=record,
    )
