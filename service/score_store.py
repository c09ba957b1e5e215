"""Where batch score runs live, and the one rule every backend keeps: readers only ever see complete runs.

``open_score_store(target)`` picks the backend from the target:

* a directory: Parquet. A run writes ``<dir>/_staging/<run_id>/part-NNNNN.parquet`` (each part written to a
  temporary name, fsynced, then renamed, so a part file that exists is a whole part). Publishing renames the
  staging directory to ``<dir>/runs/<run_id>/`` and then replaces the pointer file ``<dir>/LATEST`` (written to a
  temporary name, then ``os.replace``): the pointer swap is the single atomic step readers depend on.
  Run metadata records live in ``<dir>/_runs/<run_id>.json`` (also written then renamed).
* a ``*.duckdb`` file (table ``scores``, or ``file.duckdb?table=name``) and
* a ``postgresql://...?table=scores[&schema=public]`` URL: rows of a run go to ``<table>_staging`` one part per
  transaction (with a row in ``<table>_parts`` marking the part durable); publishing is ONE transaction that
  copies the staged rows into ``<table>``, marks the run complete in ``<table>_runs`` and clears the staging rows.
  PostgreSQL writes use ``COPY`` (``features.postgres_io.copy_frame``), never row inserts.

Resume works on the same primitives: ``durable_parts(run_id)`` says which parts are already safe, so a run killed
at any point (even with SIGKILL, mid-part or mid-publish) can be finished with exactly one row per customer.

``triggers`` and ``reasons`` (lists of dicts) are stored as JSON text (JSONB in PostgreSQL) and come back from
``read_scores`` as Python lists of dicts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import json
import logging
import math
import os
import re
import shutil
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from features.errors import UserInputError
from service.prediction import SCORE_COLUMNS

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

log = logging.getLogger(__name__)

STORE_COLUMNS: tuple[str, ...] = (*SCORE_COLUMNS, "run_id")
JSON_COLUMNS = frozenset({"triggers", "reasons", "uplift_by_action"})
TIME_COLUMNS = frozenset({"as_of"})
TEXT_COLUMNS = frozenset(
    {
        "customer_id",
        "segment",
        "risk_tier",
        "action_key",
        "action_text",
        "ltv_method",
        "stage_b2c",
        "stage_b2b",
        "nps_segment",
        "churn_model_version",
        "ltv_model_version",
        "decision_basis",
        "best_action",
        "uplift_model_version",
        "run_id",
    }
)
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
BAD_ROW_COLUMNS = ("customer_id", "reason")


def check_run_id(run_id: str) -> str:
    """A run id is used in file and table names: refuse anything that could escape them."""
    if not RUN_ID_PATTERN.match(run_id):
        raise UserInputError(f"invalid run id {run_id!r}: use letters, digits, '-', '_' and '.' only")
    return run_id


def _column_kind(name: str) -> str:
    if name in JSON_COLUMNS:
        return "json"
    if name in TIME_COLUMNS:
        return "timestamp"
    if name in TEXT_COLUMNS:
        return "text"
    return "float"


def _arrow_schema(columns: Iterable[str]) -> pa.Schema:
    """The Parquet part schema, fixed by column kind rather than inferred from the rows.

    Inference types every text column of an empty part (all its customers set aside as bad rows) as ``null``, and
    DuckDB, which takes a multi-file read's schema from the first file, then cannot read the other parts.
    """
    import pyarrow as pa

    types = {"json": pa.string(), "text": pa.string(), "timestamp": pa.timestamp("us"), "float": pa.float64()}
    return pa.schema([(name, types[_column_kind(name)]) for name in columns])


def _plain(value: Any) -> Any:
    """JSON-safe value: numpy scalars -> Python, NaN -> None (PostgreSQL's JSONB rejects NaN)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array
        return _plain(value.tolist())
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _json_default(value: Any) -> Any:
    """What orjson cannot encode itself: timestamps, and anything else as its text."""
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _encode_json(value: Any) -> str:
    """Compact JSON; NaN/inf become null (PostgreSQL's JSONB rejects them), numpy scalars plain numbers.

    orjson does exactly that by itself and is 8x faster than the standard library on these small lists of dicts:
    encoding the two nested columns was the largest single cost of writing the scores of a 1M-customer run.
    """
    import orjson

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "[]"
    try:
        return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY, default=_json_default).decode()
    except orjson.JSONEncodeError:  # e.g. a non-string dict key: the slow, general path
        return json.dumps(_plain(value), allow_nan=False, separators=(",", ":"))


def _decode_json(value: Any) -> list[Any]:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    if isinstance(value, str):
        import orjson

        decoded = orjson.loads(value)
        return list(decoded) if isinstance(decoded, list) else [decoded]
    return list(value)


STORAGE_FORM = "churnltv_storage_form"  # DataFrame.attrs flag: the frame is already to_storage() output


def to_storage(frame: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """Scored rows (``SCORE_COLUMNS``) in storage form: JSON text for nested columns, ``run_id`` added.

    A frame already in storage form (a worker process or a Spark task encoded it, ``attrs[STORAGE_FORM]``) only
    gets its ``run_id``: encoding twice would cost as much as the first time.
    """
    import pandas as pd

    if frame.attrs.get(STORAGE_FORM):
        return frame.assign(run_id=run_id)
    missing = [c for c in SCORE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"scored frame lacks column(s) {', '.join(missing)}")
    out = pd.DataFrame(index=range(len(frame)))
    for name in SCORE_COLUMNS:
        values = frame[name].reset_index(drop=True)
        kind = _column_kind(name)
        if kind == "json":
            out[name] = pd.Series([_encode_json(v) for v in values], dtype=object)
        elif kind == "timestamp":
            out[name] = pd.to_datetime(values).astype("datetime64[us]")
        elif kind == "text":
            text = values.astype("string").astype(object)  # vectorised str(); missing values become None below
            out[name] = text.where(text.notna(), None)
        else:
            out[name] = pd.to_numeric(values, errors="raise").astype("float64")
    out["run_id"] = run_id
    return out


def from_storage(frame: pd.DataFrame) -> pd.DataFrame:
    """Stored rows back to the scored form: nested columns as Python lists of dicts."""
    import pandas as pd

    out = frame.copy()
    for name in JSON_COLUMNS & set(out.columns):
        out[name] = pd.Series([_decode_json(v) for v in out[name]], index=out.index, dtype=object)
    if "as_of" in out.columns:
        out["as_of"] = pd.to_datetime(out["as_of"]).astype("datetime64[us]")
    for name in out.columns:
        if _column_kind(name) == "text":
            out[name] = out[name].astype(object).where(out[name].notna(), None)
    return out[[c for c in STORE_COLUMNS if c in out.columns]].reset_index(drop=True)


_TEXT_COLUMNS_STORED = frozenset(c for c in STORE_COLUMNS if _column_kind(c) == "text")
_FLOAT_COLUMNS_STORED = frozenset(c for c in STORE_COLUMNS if _column_kind(c) == "float")


def _decoded_row(values: tuple[Any, ...]) -> dict[str, Any]:
    """A stored row (``STORE_COLUMNS`` order, as DuckDB returns it) in the form ``from_storage`` gives a frame's
    row: nested columns decoded, floats as they are (NaN kept), text None where missing."""
    row = dict(zip(STORE_COLUMNS, values, strict=True))
    for name in JSON_COLUMNS:
        row[name] = _decode_json(row[name])
    for name in _TEXT_COLUMNS_STORED:
        value = row[name]
        if value is not None and not isinstance(value, str):
            row[name] = None if isinstance(value, float) and math.isnan(value) else str(value)
    for name in _FLOAT_COLUMNS_STORED:
        if row[name] is None:
            row[name] = math.nan
    return row


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds")


class ScoreStore:
    """Read the latest complete run; write, resume and publish runs (one subclass per backend)."""

    target: str

    # ---- readers (the API) -------------------------------------------------------------------
    def latest_run(self) -> dict[str, Any] | None:
        """The latest COMPLETE run's metadata record, or None when nothing has been published."""
        raise NotImplementedError

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """Any run's metadata record (running, failed or complete)."""
        raise NotImplementedError

    def list_runs(self) -> list[dict[str, Any]]:
        """Every run's metadata record, newest first."""
        raise NotImplementedError

    def read_scores(self, customer_ids: Sequence[str] | None = None, run_id: str | None = None) -> pd.DataFrame:
        """Rows of a complete run (the latest by default), optionally only ``customer_ids``."""
        import pandas as pd

        chosen = self._complete_run_id(run_id)
        if chosen is None:
            return pd.DataFrame(columns=list(STORE_COLUMNS))
        ids = None if customer_ids is None else [str(c) for c in customer_ids]
        return from_storage(self._read_rows(chosen, ids, where="", order="customer_id", limit=None))

    def lookup_rows(self, customer_ids: Sequence[str]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The latest complete run's record and the stored rows of ``customer_ids`` found in it, as plain dicts
        (nested columns decoded, text None where missing): the per-request read of ``GET /v1/customers/{id}``.

        The generic path goes through ``read_scores``; the Parquet store answers from an in-memory index of the
        served run instead (a query over the run's files plus the DataFrame decoding took ~12 ms a customer).
        """
        run = self.latest_run()
        if run is None:
            return None, []
        frame = self.read_scores(customer_ids, run_id=str(run["run_id"]))
        return run, [{str(k): v for k, v in row.items()} for row in frame.to_dict("records")]

    def retention_list(self, *, tier: str | None = None, segment: str | None = None, limit: int = 100) -> pd.DataFrame:
        """The latest complete run's customers ranked by value at risk (highest first), filtered by tier/segment."""
        import pandas as pd

        chosen = self._complete_run_id(None)
        if chosen is None:
            return pd.DataFrame(columns=list(STORE_COLUMNS))
        if limit < 1:
            raise UserInputError(f"limit must be at least 1 (got {limit})")
        clauses = []
        for column, value in (("risk_tier", tier), ("segment", segment)):
            if value is not None:
                clauses.append((column, value))
        rows = self._read_rows(
            chosen, None, where=clauses, order="value_at_risk DESC NULLS LAST, customer_id", limit=limit
        )
        return from_storage(rows)

    def close(self) -> None:
        """Release connections (the file backends hold none between calls)."""

    # ---- writers (batch scoring) -------------------------------------------------------------
    def begin_run(self, record: dict[str, Any]) -> None:
        """Create the run's staging area and save its metadata record (status ``running``)."""
        raise NotImplementedError

    def save_run(self, record: dict[str, Any]) -> None:
        """Overwrite a run's metadata record (progress, resume count); never used to publish."""
        raise NotImplementedError

    def durable_parts(self, run_id: str) -> set[int]:
        """Parts of ``run_id`` already written whole (a resumed run skips them)."""
        raise NotImplementedError

    def write_part(self, run_id: str, part: int, scored: pd.DataFrame, bad_rows: pd.DataFrame) -> None:
        """Write one part's scored rows and its bad rows atomically: afterwards the part is durable, or absent."""
        raise NotImplementedError

    def staged_bad_rows(self, run_id: str) -> pd.DataFrame:
        """Bad rows (customer_id, reason, part) recorded by the durable parts of ``run_id``."""
        raise NotImplementedError

    def staged_counts(self, run_id: str) -> tuple[int, int]:
        """(rows, distinct customers) staged for ``run_id``; equal when there are no duplicates."""
        raise NotImplementedError

    def publish(self, run_id: str, record: dict[str, Any], *, keep_runs: int = 7) -> None:
        """Make ``run_id`` the served run in one atomic step, then drop runs older than the last ``keep_runs``."""
        raise NotImplementedError

    def fail_run(self, run_id: str, record: dict[str, Any], *, discard: bool) -> None:
        """Mark a run failed (the previous run stays served); ``discard`` drops its staged rows."""
        raise NotImplementedError

    # ---- backend primitives ------------------------------------------------------------------
    def _complete_run_id(self, run_id: str | None) -> str | None:
        if run_id is None:
            latest = self.latest_run()
            return None if latest is None else str(latest["run_id"])
        record = self.get_run(check_run_id(run_id))
        if record is None or record.get("status") != "complete":
            state = "does not exist" if record is None else f"is {record.get('status')}"
            raise UserInputError(f"score run {run_id} in {self.target} {state}; only complete runs can be read")
        return run_id

    def _read_rows(
        self, run_id: str, customer_ids: list[str] | None, *, where: Any, order: str, limit: int | None
    ) -> pd.DataFrame:
        raise NotImplementedError


# ============================================================================================
# Parquet directory
# ============================================================================================


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with _named_on_error(path, tmp):
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)


@contextlib.contextmanager
def _named_on_error(path: Path, tmp: Path) -> Iterator[None]:
    """A failed write (disk full, permissions) removes its temporary file and names the target in the error.

    Writers (Parquet, json) raise OSErrors without a file name; "No space left on device" alone does not tell the
    operator which volume filled up.
    """
    try:
        yield
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class ParquetScoreStore(ScoreStore):
    """A directory of runs; the ``LATEST`` pointer file names the served run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.target = str(root)
        # one in-memory DuckDB engine for reads, a cursor per call: opening an engine costs ~20 ms, which made a
        # GET /v1/customers/{id} ten times slower than scoring a customer (tests/e2e/test_load_and_reload.py)
        self._engine: duckdb.DuckDBPyConnection | None = None
        self._engine_lock = threading.Lock()

    def _engine_locked(self) -> duckdb.DuckDBPyConnection:
        """The shared engine, opened on first use; the caller holds ``_engine_lock``."""
        import duckdb

        if self._engine is None:
            self._engine = duckdb.connect()
        return self._engine

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        with self._engine_lock:
            return self._engine_locked().cursor()

    def close(self) -> None:
        with self._engine_lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            self._indexed_run = None

    _indexed_run: str | None = None
    """The run held in the engine's ``served_run`` table for point lookups (``lookup_rows``)."""

    def lookup_rows(self, customer_ids: Sequence[str]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """Point lookups from an in-memory copy of the served run with an index on ``customer_id``.

        The copy is made on the first lookup after a run is published (about a second per million rows, and the
        run's size in memory) and replaced when ``LATEST`` names another run; a run is immutable once published,
        so the copy is never stale. Rows come back as tuples and are decoded here, without a DataFrame.
        """
        run = self.latest_run()
        if run is None:
            return None, []
        run_id = str(run["run_id"])
        ids = [str(c) for c in dict.fromkeys(customer_ids)]
        cols = ", ".join(f'"{c}"' for c in STORE_COLUMNS)
        with self._engine_lock:
            engine = self._engine_locked()
            if self._indexed_run != run_id:
                self._index_run(engine, run_id)
            found: list[tuple[Any, ...]] = []
            for customer_id in ids:  # one indexed equality per id: the index serves "=" and not "IN (subquery)"
                found += engine.execute(
                    f"SELECT {cols} FROM served_run WHERE customer_id = ?", [customer_id]
                ).fetchall()
        return run, [_decoded_row(row) for row in found]

    def _index_run(self, engine: duckdb.DuckDBPyConnection, run_id: str) -> None:
        files = [str(f) for f in sorted((self._published / run_id).glob("part-*.parquet"))]
        started = time.perf_counter()
        cols = ", ".join(f'"{c}"' for c in STORE_COLUMNS)
        if files:
            engine.execute(
                f"CREATE OR REPLACE TABLE served_run AS SELECT {cols} FROM read_parquet($files)", {"files": files}
            )
        else:  # every customer of the run was set aside: nothing to find
            ddl = ", ".join(f'"{c}" VARCHAR' for c in STORE_COLUMNS)
            engine.execute(f"CREATE OR REPLACE TABLE served_run ({ddl})")
        engine.execute("CREATE INDEX served_run_customer ON served_run (customer_id)")
        self._indexed_run = run_id
        log.info(
            "score store %s: run %s indexed for lookups in %.2f s", self.root, run_id, time.perf_counter() - started
        )

    @property
    def _staging(self) -> Path:
        return self.root / "_staging"

    @property
    def _runs_meta(self) -> Path:
        return self.root / "_runs"

    @property
    def _published(self) -> Path:
        return self.root / "runs"

    def _meta_path(self, run_id: str) -> Path:
        return self._runs_meta / f"{check_run_id(run_id)}.json"

    def latest_run(self) -> dict[str, Any] | None:
        pointer = self.root / "LATEST"
        if not pointer.is_file():
            return None
        run_id = json.loads(pointer.read_text())["run_id"]
        record = self.get_run(run_id)
        if record is None or not (self._published / run_id).is_dir():
            raise UserInputError(f"{pointer} names run {run_id}, which is missing from {self.root}")
        return record

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        path = self._meta_path(run_id)
        if not path.is_file():
            return None
        record: dict[str, Any] = json.loads(path.read_text())
        return record

    def list_runs(self) -> list[dict[str, Any]]:
        if not self._runs_meta.is_dir():
            return []
        records = [json.loads(p.read_text()) for p in self._runs_meta.glob("*.json")]
        return sorted(records, key=lambda r: (str(r.get("started_at")), str(r.get("run_id"))), reverse=True)

    def _read_rows(
        self, run_id: str, customer_ids: list[str] | None, *, where: Any, order: str, limit: int | None
    ) -> pd.DataFrame:
        files = sorted((self._published / run_id).glob("part-*.parquet"))
        if not files:
            return _empty_storage_frame()
        con = self._cursor()
        try:
            sql, params = _select_sql("read_parquet($files)", customer_ids, where, order, limit)
            return con.execute(sql, {"files": [str(f) for f in files], **params}).df()
        finally:
            con.close()

    def begin_run(self, record: dict[str, Any]) -> None:
        run_id = check_run_id(str(record["run_id"]))
        (self._staging / run_id).mkdir(parents=True, exist_ok=True)
        self._runs_meta.mkdir(parents=True, exist_ok=True)
        self._published.mkdir(parents=True, exist_ok=True)
        self.save_run(record)

    def save_run(self, record: dict[str, Any]) -> None:
        self._runs_meta.mkdir(parents=True, exist_ok=True)
        _write_atomic(self._meta_path(str(record["run_id"])), json.dumps(_plain(record), indent=2).encode())

    def _part_path(self, run_id: str, part: int, suffix: str = ".parquet") -> Path:
        return self._staging / check_run_id(run_id) / f"part-{part:05d}{suffix}"

    def durable_parts(self, run_id: str) -> set[int]:
        folder = self._staging / check_run_id(run_id)
        if not folder.is_dir():
            return set()
        return {int(p.name[5:10]) for p in folder.glob("part-*.parquet")}

    def write_part(self, run_id: str, part: int, scored: pd.DataFrame, bad_rows: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = self._staging / check_run_id(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        # bad rows first: the part file's rename is the commit point, and it comes last
        bad = bad_rows[list(BAD_ROW_COLUMNS)].astype(str).to_dict(orient="records")
        _write_atomic(self._part_path(run_id, part, ".bad.json"), json.dumps(bad).encode())
        final = self._part_path(run_id, part)
        tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
        stored = to_storage(scored, run_id)
        table = pa.Table.from_pandas(stored, schema=_arrow_schema(stored.columns), preserve_index=False)
        with _named_on_error(final, tmp):
            pq.write_table(table, tmp, compression="zstd")
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)

    def staged_bad_rows(self, run_id: str) -> pd.DataFrame:
        import pandas as pd

        rows: list[dict[str, Any]] = []
        for part in sorted(self.durable_parts(run_id)):
            path = self._part_path(run_id, part, ".bad.json")
            if path.is_file():
                rows += [{**r, "part": part} for r in json.loads(path.read_text())]
        return pd.DataFrame(rows, columns=[*BAD_ROW_COLUMNS, "part"])

    def staged_counts(self, run_id: str) -> tuple[int, int]:
        import duckdb

        files = [str(self._part_path(run_id, p)) for p in sorted(self.durable_parts(run_id))]
        if not files:
            return 0, 0
        con = duckdb.connect()
        try:
            rows = con.execute(
                "SELECT count(*), count(DISTINCT customer_id) FROM read_parquet($files)", {"files": files}
            ).fetchall()
            row = rows[0] if rows else None  # fetchall: DuckDB keeps a fetchone() result open
        finally:
            con.close()
        assert row is not None
        return int(row[0]), int(row[1])

    def publish(self, run_id: str, record: dict[str, Any], *, keep_runs: int = 7) -> None:
        staged = self._staging / check_run_id(run_id)
        published = self._published / run_id
        self._published.mkdir(parents=True, exist_ok=True)
        if staged.is_dir():
            for leftover in staged.glob(".part-*"):  # temporary files of a part killed mid-write
                leftover.unlink()
            if published.exists():  # a previous publish was killed after the rename: keep the published copy
                shutil.rmtree(staged)
            else:
                os.replace(staged, published)
        elif not published.is_dir():
            raise UserInputError(f"run {run_id} has no staged or published rows in {self.root}")
        self.save_run(record)
        # the one atomic step readers see: the pointer now names the new run
        _write_atomic(self.root / "LATEST", json.dumps({"run_id": run_id}).encode())
        self._prune(keep_runs)

    def _prune(self, keep_runs: int) -> None:
        complete = [r for r in self.list_runs() if r.get("status") == "complete"]
        complete.sort(key=lambda r: (str(r.get("finished_at")), str(r.get("run_id"))), reverse=True)
        for record in complete[max(keep_runs, 1) :]:
            run_id = str(record["run_id"])
            shutil.rmtree(self._published / run_id, ignore_errors=True)
            self.save_run({**record, "status": "pruned"})

    def fail_run(self, run_id: str, record: dict[str, Any], *, discard: bool) -> None:
        if discard:
            shutil.rmtree(self._staging / check_run_id(run_id), ignore_errors=True)
        self.save_run(record)


def _empty_storage_frame() -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame(columns=list(STORE_COLUMNS))


def _select_sql(
    relation: str, customer_ids: list[str] | None, where: Any, order: str, limit: int | None
) -> tuple[str, dict[str, Any]]:
    """SELECT over one run's rows with DuckDB named parameters (``$name``); ``where`` is [(column, value)]."""
    cols = ", ".join(f'"{c}"' for c in STORE_COLUMNS)
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if customer_ids is not None:
        clauses.append("customer_id IN (SELECT unnest($ids))")
        params["ids"] = customer_ids
    for i, (column, value) in enumerate(where or []):
        clauses.append(f'"{column}" = ${"w" + str(i)}')
        params[f"w{i}"] = value
    sql = f"SELECT {cols} FROM {relation}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += f" ORDER BY {order}"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return sql, params


# ============================================================================================
# SQL backends: DuckDB file and PostgreSQL
# ============================================================================================


class _SqlScoreStore(ScoreStore):
    """Tables ``<t>`` (published rows), ``<t>_staging``, ``<t>_parts``, ``<t>_bad``, ``<t>_runs``."""

    table: str
    placeholder = "?"

    # -- dialect -------------------------------------------------------------------------------
    def _connect(self, *, read_only: bool = False) -> Any:
        raise NotImplementedError

    def _name(self, suffix: str = "") -> str:
        raise NotImplementedError

    def _types(self) -> dict[str, str]:
        raise NotImplementedError

    def _insert_frame(self, con: Any, frame: pd.DataFrame, table_suffix: str) -> None:
        raise NotImplementedError

    def _query_frame(self, con: Any, sql: str, params: Sequence[Any]) -> pd.DataFrame:
        raise NotImplementedError

    def _exists(self, con: Any) -> bool:
        raise NotImplementedError

    @contextlib.contextmanager
    def _transaction(self, *, read_only: bool = False) -> Iterator[Any]:
        con = self._connect(read_only=read_only)
        try:
            if not read_only:
                self._begin(con)
            yield con
            if not read_only:
                con.commit()
        except BaseException:
            if not read_only:
                with contextlib.suppress(Exception):
                    con.rollback()
            raise
        finally:
            con.close()

    def _begin(self, con: Any) -> None:
        """Start a transaction (PostgreSQL connections are already in one)."""

    # -- shared SQL ----------------------------------------------------------------------------
    def _sql(self, text: str) -> str:
        return text.replace("?", self.placeholder)

    def _ensure_tables(self, con: Any) -> None:
        types = self._types()
        ddl = ", ".join(f'"{c}" {types[_column_kind(c)]}' for c in STORE_COLUMNS)
        text = types["text"]
        con.execute(f"CREATE TABLE IF NOT EXISTS {self._name()} ({ddl})")
        con.execute(f"CREATE TABLE IF NOT EXISTS {self._name('_staging')} ({ddl}, part INTEGER)")
        # a store created by an older release lacks the columns added since (e.g. the predictive LTV interval)
        for table in (self._name(), self._name("_staging")):
            for c in STORE_COLUMNS:
                con.execute(f'ALTER TABLE {table} ADD COLUMN IF NOT EXISTS "{c}" {types[_column_kind(c)]}')
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {self._name('_parts')} (run_id {text}, part INTEGER, n_rows BIGINT, "
            f"PRIMARY KEY (run_id, part))"
        )
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {self._name('_bad')} (run_id {text}, part INTEGER, customer_id {text}, "
            f"reason {text})"
        )
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {self._name('_runs')} (run_id {text} PRIMARY KEY, status {text}, "
            f"started_at {types['timestamp']}, finished_at {types['timestamp']}, record {types['json']})"
        )

    def _record(self, value: Any) -> dict[str, Any]:
        record: dict[str, Any] = json.loads(value) if isinstance(value, str) else dict(value)
        return record

    def latest_run(self) -> dict[str, Any] | None:
        with self._transaction(read_only=True) as con:
            if con is None or not self._exists(con):
                return None
            row = con.execute(
                f"SELECT record FROM {self._name('_runs')} WHERE status = 'complete' "
                f"ORDER BY finished_at DESC, run_id DESC LIMIT 1"
            ).fetchall()
            row = row[0] if row else None  # fetchall: DuckDB keeps a fetchone() result open
        return None if row is None else self._record(row[0])

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        with self._transaction(read_only=True) as con:
            if con is None or not self._exists(con):
                return None
            row = con.execute(
                self._sql(f"SELECT record FROM {self._name('_runs')} WHERE run_id = ?"), [run_id]
            ).fetchall()
            row = row[0] if row else None  # fetchall: DuckDB keeps a fetchone() result open
        return None if row is None else self._record(row[0])

    def list_runs(self) -> list[dict[str, Any]]:
        with self._transaction(read_only=True) as con:
            if con is None or not self._exists(con):
                return []
            rows = con.execute(
                f"SELECT record FROM {self._name('_runs')} ORDER BY started_at DESC, run_id DESC"
            ).fetchall()
        return [self._record(r[0]) for r in rows]

    def _read_rows(
        self, run_id: str, customer_ids: list[str] | None, *, where: Any, order: str, limit: int | None
    ) -> pd.DataFrame:
        cols = ", ".join(f'"{c}"' for c in STORE_COLUMNS)
        clauses = ["run_id = ?"]
        params: list[Any] = [run_id]
        if customer_ids is not None:
            clauses.append(self._in_clause("customer_id"))
            params.append(customer_ids)
        for column, value in where or []:
            clauses.append(f'"{column}" = ?')
            params.append(value)
        sql = f"SELECT {cols} FROM {self._name()} WHERE {' AND '.join(clauses)} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._transaction(read_only=True) as con:
            return self._query_frame(con, self._sql(sql), params)

    def _in_clause(self, column: str) -> str:
        raise NotImplementedError

    def begin_run(self, record: dict[str, Any]) -> None:
        with self._transaction() as con:
            self._ensure_tables(con)
            con.execute(
                self._sql(f"INSERT INTO {self._name('_runs')} VALUES (?, ?, ?, NULL, ?)"),
                [record["run_id"], record["status"], record["started_at"], json.dumps(_plain(record))],
            )

    def save_run(self, record: dict[str, Any]) -> None:
        with self._transaction() as con:
            self._save_run(con, record)

    def _save_run(self, con: Any, record: dict[str, Any]) -> None:
        con.execute(
            self._sql(f"UPDATE {self._name('_runs')} SET status = ?, finished_at = ?, record = ? WHERE run_id = ?"),
            [record["status"], record.get("finished_at"), json.dumps(_plain(record)), record["run_id"]],
        )

    def durable_parts(self, run_id: str) -> set[int]:
        with self._transaction(read_only=True) as con:
            if con is None or not self._exists(con):
                return set()
            rows = con.execute(
                self._sql(f"SELECT part FROM {self._name('_parts')} WHERE run_id = ?"), [run_id]
            ).fetchall()
        return {int(r[0]) for r in rows}

    def write_part(self, run_id: str, part: int, scored: pd.DataFrame, bad_rows: pd.DataFrame) -> None:
        frame = to_storage(scored, run_id)
        frame["part"] = part
        bad = bad_rows[list(BAD_ROW_COLUMNS)].astype(str).reset_index(drop=True)
        bad.insert(0, "part", part)
        bad.insert(0, "run_id", run_id)
        with self._transaction() as con:
            # a part that was half-written before a crash was rolled back; this also makes a rewrite idempotent
            con.execute(
                self._sql(f"DELETE FROM {self._name('_staging')} WHERE run_id = ? AND part = ?"), [run_id, part]
            )
            con.execute(self._sql(f"DELETE FROM {self._name('_bad')} WHERE run_id = ? AND part = ?"), [run_id, part])
            con.execute(self._sql(f"DELETE FROM {self._name('_parts')} WHERE run_id = ? AND part = ?"), [run_id, part])
            self._insert_frame(con, frame, "_staging")
            if len(bad):
                self._insert_frame(con, bad, "_bad")
            con.execute(self._sql(f"INSERT INTO {self._name('_parts')} VALUES (?, ?, ?)"), [run_id, part, len(frame)])

    def staged_bad_rows(self, run_id: str) -> pd.DataFrame:
        with self._transaction(read_only=True) as con:
            return self._query_frame(
                con,
                self._sql(
                    f"SELECT customer_id, reason, part FROM {self._name('_bad')} WHERE run_id = ? "
                    f"ORDER BY part, customer_id"
                ),
                [run_id],
            )

    def staged_counts(self, run_id: str) -> tuple[int, int]:
        with self._transaction(read_only=True) as con:
            row = con.execute(
                self._sql(
                    f"SELECT count(*), count(DISTINCT customer_id) FROM {self._name('_staging')} WHERE run_id = ?"
                ),
                [run_id],
            ).fetchall()
            row = row[0] if row else None  # fetchall: DuckDB keeps a fetchone() result open
        assert row is not None
        return int(row[0]), int(row[1])

    def publish(self, run_id: str, record: dict[str, Any], *, keep_runs: int = 7) -> None:
        cols = ", ".join(f'"{c}"' for c in STORE_COLUMNS)
        with self._transaction() as con:  # ONE transaction: rows appear and the run is complete together
            con.execute(self._sql(f"DELETE FROM {self._name()} WHERE run_id = ?"), [run_id])
            con.execute(
                self._sql(
                    f"INSERT INTO {self._name()} ({cols}) SELECT {cols} FROM {self._name('_staging')} "
                    f"WHERE run_id = ? ORDER BY customer_id"
                ),
                [run_id],
            )
            self._save_run(con, record)
            self._clear_staging(con, run_id)
            old = con.execute(
                self._sql(
                    f"SELECT record FROM {self._name('_runs')} WHERE status = 'complete' "
                    f"ORDER BY finished_at DESC, run_id DESC OFFSET ?"
                ),
                [max(keep_runs, 1)],
            ).fetchall()
            for (old_record,) in old:
                pruned = {**self._record(old_record), "status": "pruned"}
                con.execute(self._sql(f"DELETE FROM {self._name()} WHERE run_id = ?"), [pruned["run_id"]])
                self._save_run(con, pruned)

    def _clear_staging(self, con: Any, run_id: str) -> None:
        for suffix in ("_staging", "_bad", "_parts"):
            con.execute(self._sql(f"DELETE FROM {self._name(suffix)} WHERE run_id = ?"), [run_id])

    def fail_run(self, run_id: str, record: dict[str, Any], *, discard: bool) -> None:
        with self._transaction() as con:
            self._save_run(con, record)
            if discard:
                self._clear_staging(con, run_id)


class _DuckDBFile(_SqlScoreStore):
    """The score tables of ONE DuckDB file, read and written in place (``DuckDBScoreStore`` decides which file)."""

    def __init__(self, path: Path, table: str) -> None:
        self.path = path
        self.table = table
        self.target = f"{path}?table={table}"

    def _connect(self, *, read_only: bool = False) -> duckdb.DuckDBPyConnection | None:
        import duckdb

        if read_only and not self.path.exists():
            return None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as err:
            raise UserInputError(f"{self.path}: cannot open the DuckDB score store: {err}") from None

    @contextlib.contextmanager
    def _transaction(self, *, read_only: bool = False) -> Iterator[Any]:
        con = self._connect(read_only=read_only)
        if con is None:
            yield None
            return
        try:
            if not read_only:
                con.execute("BEGIN TRANSACTION")
            yield con
            if not read_only:
                con.execute("COMMIT")
        except BaseException:
            if not read_only:
                with contextlib.suppress(Exception):
                    con.execute("ROLLBACK")
            raise
        finally:
            con.close()

    def _name(self, suffix: str = "") -> str:
        return '"' + (self.table + suffix).replace('"', '""') + '"'

    def _types(self) -> dict[str, str]:
        return {"text": "VARCHAR", "float": "DOUBLE", "timestamp": "TIMESTAMP", "json": "VARCHAR"}

    def _exists(self, con: Any) -> bool:
        row = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [self.table + "_runs"]
        ).fetchall()
        row = row[0] if row else None  # fetchall: DuckDB keeps a fetchone() result open
        return bool(row and row[0])

    def _insert_frame(self, con: Any, frame: pd.DataFrame, table_suffix: str) -> None:
        con.register("__part_frame", frame)
        try:
            cols = ", ".join(f'"{c}"' for c in frame.columns)
            con.execute(f"INSERT INTO {self._name(table_suffix)} ({cols}) SELECT {cols} FROM __part_frame")
        finally:
            con.unregister("__part_frame")

    def _query_frame(self, con: Any, sql: str, params: Sequence[Any]) -> pd.DataFrame:
        if con is None or not self._exists(con):
            return _empty_storage_frame()
        return con.execute(sql, list(params)).df()  # type: ignore[no-any-return]

    def _in_clause(self, column: str) -> str:
        return f'"{column}" IN (SELECT unnest(?))'

    def _read_rows(
        self, run_id: str, customer_ids: list[str] | None, *, where: Any, order: str, limit: int | None
    ) -> pd.DataFrame:
        if customer_ids is not None and not customer_ids:
            return _empty_storage_frame()
        return super()._read_rows(run_id, customer_ids, where=where, order=order, limit=limit)


class ScoreStoreWriteError(UserInputError):
    """A run could not write its store (disk full, I/O error, another program writing it): exit 2, run failed."""


def _io_cause(err: BaseException) -> str:
    """One line saying why a write failed; a full disk says so in words (DuckDB and the OS word it differently)."""
    if isinstance(err, OSError) and err.strerror:
        text = err.strerror + (f" ({err.filename})" if err.filename else "")
    else:
        lines = str(err).strip().splitlines()
        text = lines[0] if lines else type(err).__name__
    if getattr(err, "errno", None) == errno.ENOSPC or "no space left on device" in text.lower():
        return f"disk full ({text})"
    return text


def _wal(path: Path) -> Path:
    """DuckDB's write-ahead log of ``path``."""
    return path.with_name(path.name + ".wal")


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    """An advisory lock (``flock``) on ``path``, held by one publishing run at a time."""
    import fcntl

    with path.open("a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class DuckDBScoreStore(ScoreStore):
    """Runs in a DuckDB file that a run never writes in place: it is replaced whole when a run is published.

    DuckDB locks a file per process, and one read-only connection anywhere (the API, a ``duckdb -readonly``
    shell) keeps every other process from opening it for writing. So a run writes beside the store file:

    * its parts, bad rows and staged scores go to its work file ``<store>.run-<run_id>`` (a DuckDB file only
      this run opens), its metadata record to ``<store>.run-<run_id>.json`` (written, then renamed), which
      ``get_run``/``list_runs`` read without opening any DuckDB file;
    * publishing copies the store file to a private temporary file while holding a read-only connection on it
      (so no in-place writer can change it under the copy), moves the run's rows and record into the copy,
      checkpoints it and ``os.replace``s the store file with it: the one atomic step readers see. Connections
      opened before keep reading the file they opened; new ones see the new run. ``<store>.lock`` serialises
      the publishing of concurrent runs, so none drops another's run.
    """

    def __init__(self, path: Path, table: str) -> None:
        self.path = path
        self.table = table
        self.target = f"{path}?table={table}"
        self._main = _DuckDBFile(path, table)

    # ---- where a run's pieces live ------------------------------------------------------------
    def _work_path(self, run_id: str) -> Path:
        return self.path.with_name(f"{self.path.name}.run-{check_run_id(run_id)}")

    def _record_path(self, run_id: str) -> Path:
        return self.path.with_name(f"{self.path.name}.run-{check_run_id(run_id)}.json")

    def _staged_in(self, run_id: str) -> _DuckDBFile:
        """The file holding ``run_id``'s staged parts: its work file, or the store file (a run of an older release)."""
        work = self._work_path(run_id)
        return _DuckDBFile(work, self.table) if work.exists() else self._main

    def _writable_work(self, run_id: str) -> _DuckDBFile:
        """The run's work file; the parts a run of an older release staged in the store file are copied into it."""
        path = self._work_path(run_id)
        work = _DuckDBFile(path, self.table)
        if path.exists():
            return work
        legacy = bool(self._main.durable_parts(run_id))
        with work._transaction() as con:
            work._ensure_tables(con)
            if legacy:
                con.execute(f"ATTACH {_sql_text(str(self.path))} AS store (READ_ONLY)")
                for suffix in ("_staging", "_bad", "_parts"):
                    source = "store." + self._main._name(suffix)
                    con.execute(
                        f"INSERT INTO {work._name(suffix)} BY NAME SELECT * FROM {source} WHERE run_id = ?", [run_id]
                    )
        return work

    def _failed_marker(self, run_id: str) -> Path:
        return self.path.with_name(f"{self.path.name}.run-{check_run_id(run_id)}.failed")

    def _pending_record(self, run_id: str) -> dict[str, Any] | None:
        path = self._record_path(run_id)
        if not path.is_file():
            return None
        return self._with_failure(json.loads(path.read_text()))

    def _with_failure(self, record: dict[str, Any]) -> dict[str, Any]:
        """A run whose failed record could not be written (a full disk) left a marker file: it is failed."""
        marker = self._failed_marker(str(record["run_id"]))
        if record.get("status") != "running" or not marker.exists():
            return record
        error = marker.read_text(errors="replace").strip() or "the run failed and its record could not be updated"
        return {**record, "status": "failed", "error": error}

    def _pending_records(self) -> list[dict[str, Any]]:
        import glob

        if not self.path.parent.is_dir():
            return []
        pattern = glob.escape(self.path.name) + ".run-*.json"
        return [self._with_failure(json.loads(p.read_text())) for p in self.path.parent.glob(pattern)]

    @contextlib.contextmanager
    def _write_errors(self, what: str) -> Iterator[None]:
        """A failed write names the store file and the cause instead of surfacing a raw DuckDB exception."""
        import duckdb

        try:
            yield
        except (duckdb.Error, OSError) as err:
            raise ScoreStoreWriteError(f"{self.path}: {what}: {_io_cause(err)}") from err

    # ---- readers -----------------------------------------------------------------------------
    def latest_run(self) -> dict[str, Any] | None:
        return self._main.latest_run()

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        published = self._main.get_run(run_id)
        if published is not None and published.get("status") in ("complete", "pruned"):
            return published
        return self._pending_record(run_id) or published

    def list_runs(self) -> list[dict[str, Any]]:
        runs = {str(r["run_id"]): r for r in self._pending_records()}
        for record in self._main.list_runs():
            if record.get("status") in ("complete", "pruned") or str(record["run_id"]) not in runs:
                runs[str(record["run_id"])] = record
        return sorted(runs.values(), key=lambda r: (str(r.get("started_at")), str(r.get("run_id"))), reverse=True)

    def _read_rows(
        self, run_id: str, customer_ids: list[str] | None, *, where: Any, order: str, limit: int | None
    ) -> pd.DataFrame:
        return self._main._read_rows(run_id, customer_ids, where=where, order=order, limit=limit)

    # ---- writers -----------------------------------------------------------------------------
    def begin_run(self, record: dict[str, Any]) -> None:
        run_id = check_run_id(str(record["run_id"]))
        with self._write_errors(f"could not start run {run_id}"):
            self._save_record(record)  # first: the small record can still say "failed" if the work file fills the disk
            self._discard_work(run_id)
            work = _DuckDBFile(self._work_path(run_id), self.table)
            with work._transaction() as con:
                work._ensure_tables(con)

    def save_run(self, record: dict[str, Any]) -> None:
        with self._write_errors(f"could not save the record of run {record['run_id']}"):
            self._save_record(record)

    def _save_record(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_atomic(self._record_path(str(record["run_id"])), json.dumps(_plain(record), indent=2).encode())
        self._failed_marker(str(record["run_id"])).unlink(missing_ok=True)

    def durable_parts(self, run_id: str) -> set[int]:
        return self._staged_in(run_id).durable_parts(run_id)

    def write_part(self, run_id: str, part: int, scored: pd.DataFrame, bad_rows: pd.DataFrame) -> None:
        with self._write_errors(f"could not write part {part} of run {run_id}"):
            self._writable_work(run_id).write_part(run_id, part, scored, bad_rows)

    def staged_bad_rows(self, run_id: str) -> pd.DataFrame:
        return self._staged_in(run_id).staged_bad_rows(run_id)

    def staged_counts(self, run_id: str) -> tuple[int, int]:
        return self._staged_in(run_id).staged_counts(run_id)

    def publish(self, run_id: str, record: dict[str, Any], *, keep_runs: int = 7) -> None:
        with self._write_errors(f"could not publish run {run_id}"):
            self._swap_in(run_id, record, keep_runs)
        # after the swap: a kill before this leaves files of a complete run, which get_run/list_runs ignore
        self._discard_work(run_id)
        self._record_path(run_id).unlink(missing_ok=True)
        self._failed_marker(run_id).unlink(missing_ok=True)

    def _swap_in(self, run_id: str, record: dict[str, Any], keep_runs: int) -> None:
        import duckdb

        work = self._writable_work(run_id).path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        following = self.path.with_name(f".{self.path.name}.publish-{run_id}")
        with _exclusive_lock(self.path.with_name(f"{self.path.name}.lock")):
            try:  # None while the store does not exist yet
                guard = duckdb.connect(str(self.path), read_only=True) if self.path.exists() else None
            except duckdb.Error as err:
                raise ScoreStoreWriteError(
                    f"{self.path}: could not publish run {run_id}: another program has the store open for writing "
                    f"({_io_cause(err)}); the run is kept: resume it with --resume {run_id} once that program has "
                    "closed it"
                ) from None
            try:
                for stale in (following, _wal(following)):
                    stale.unlink(missing_ok=True)
                if guard is not None:
                    shutil.copyfile(self.path, following)
                    if _wal(self.path).exists():  # left by an in-place writer that crashed: replayed into the copy
                        shutil.copyfile(_wal(self.path), _wal(following))
                self._move_run_into(_DuckDBFile(following, self.table), work, record)
                _DuckDBFile(following, self.table).publish(run_id, record, keep_runs=keep_runs)
                con = duckdb.connect(str(following))
                try:
                    con.execute("CHECKPOINT")
                finally:
                    con.close()
                if _wal(following).exists():
                    raise OSError(f"{following}: DuckDB left a write-ahead log after CHECKPOINT")
                _fsync_file(following)
                _wal(self.path).unlink(missing_ok=True)  # merged into the copy; it must not replay onto the new file
                os.replace(following, self.path)  # the atomic step
                _fsync_dir(self.path.parent)
            except BaseException:
                for leftover in (following, _wal(following)):
                    leftover.unlink(missing_ok=True)
                raise
            finally:
                if guard is not None:
                    guard.close()

    def _move_run_into(self, target: _DuckDBFile, work: Path, record: dict[str, Any]) -> None:
        """Copy the run's staged rows from its work file into ``target`` and give it the run's record row."""
        run_id = str(record["run_id"])
        with target._transaction() as con:
            target._ensure_tables(con)
            con.execute(f"ATTACH {_sql_text(str(work))} AS run_work (READ_ONLY)")
            target._clear_staging(con, run_id)
            con.execute(
                f"INSERT INTO {target._name('_staging')} BY NAME SELECT * FROM run_work.{target._name('_staging')} "
                f"WHERE run_id = ?",
                [run_id],
            )
            con.execute(f"DELETE FROM {target._name('_runs')} WHERE run_id = ?", [run_id])
            con.execute(
                f"INSERT INTO {target._name('_runs')} VALUES (?, ?, ?, NULL, ?)",
                [run_id, "running", record["started_at"], json.dumps(_plain(record))],
            )

    def fail_run(self, run_id: str, record: dict[str, Any], *, discard: bool) -> None:
        if discard:
            self._discard_work(run_id)
        try:
            self._save_record(record)  # the failed status is visible even while a reader holds the store file
        except OSError as err:
            # the disk that broke the run is full: an empty file needs no data block, and says "failed" by existing
            marker = self._failed_marker(run_id)
            marker.touch()
            with contextlib.suppress(OSError):
                marker.write_text(str(record.get("error") or ""))
            log.warning("run %s: its record could not be rewritten (%s); %s marks it failed", run_id, err, marker)

    def _discard_work(self, run_id: str) -> None:
        work = self._work_path(run_id)
        for path in (work, _wal(work)):
            path.unlink(missing_ok=True)


class PostgresScoreStore(_SqlScoreStore):
    """Runs in PostgreSQL tables (``?table=`` name, ``?schema=`` schema); bulk writes use COPY."""

    placeholder = "%s"

    def __init__(self, url: str, schema: str, table: str) -> None:
        from features.source_url import scrub_password

        self.url = url
        self.schema = schema
        self.table = table
        self.target = scrub_password(url)

    def _connect(self, *, read_only: bool = False) -> Any:
        from features.postgres_io import connect_postgres

        return connect_postgres(self.url)

    @contextlib.contextmanager
    def _transaction(self, *, read_only: bool = False) -> Iterator[Any]:
        # A fresh connection per call (no pool to go stale), so the store reconnects by itself after a restart.
        # Server down or connection lost mid-query: one error type naming the store, which the API answers with 503.
        import psycopg

        from features.errors import SourceUnreachableError

        try:
            with super()._transaction(read_only=read_only) as con:
                yield con
        except SourceUnreachableError as err:
            raise SourceUnreachableError(f"score store {self.target}: {err}") from None
        except psycopg.OperationalError as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise SourceUnreachableError(f"score store {self.target}: PostgreSQL connection lost: {first}") from None

    def _name(self, suffix: str = "") -> str:
        from features.postgres_io import qualified

        return qualified(self.schema, self.table + suffix)

    def _types(self) -> dict[str, str]:
        return {"text": "TEXT", "float": "DOUBLE PRECISION", "timestamp": "TIMESTAMP", "json": "JSONB"}

    def _exists(self, con: Any) -> bool:
        row = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
            (self.schema, self.table + "_runs"),
        ).fetchall()
        row = row[0] if row else None  # fetchall: DuckDB keeps a fetchone() result open
        return bool(row and row[0])

    def begin_run(self, record: dict[str, Any]) -> None:
        with self._transaction() as con:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
        super().begin_run(record)
        with self._transaction() as con:
            idx = f'"{self.table}_run_customer_idx"'
            con.execute(f"CREATE INDEX IF NOT EXISTS {idx} ON {self._name()} (run_id, customer_id)")

    def _insert_frame(self, con: Any, frame: pd.DataFrame, table_suffix: str) -> None:
        from features.postgres_io import copy_frame

        copy_frame(con, frame, self.schema, self.table + table_suffix)

    def _query_frame(self, con: Any, sql: str, params: Sequence[Any]) -> pd.DataFrame:
        import pandas as pd

        if not self._exists(con):
            return _empty_storage_frame()
        with con.cursor() as cur:
            cur.execute(sql, list(params))
            names = [d.name for d in cur.description]
            return pd.DataFrame(cur.fetchall(), columns=names)

    def _in_clause(self, column: str) -> str:
        return f'"{column}" = ANY(?)'


def open_score_store(target: str | Path) -> ScoreStore:
    """The store behind ``target``: a Parquet directory, a ``*.duckdb`` file or a ``postgresql://`` URL."""
    text = str(target)
    if re.match(r"^postgres(ql)?(\+\w+)?://", text):
        query = dict(parse_qsl(urlsplit(text).query))
        table = query.get("table", "scores")
        schema = query.get("schema", "public")
        for what, name in (("table", table), ("schema", schema)):
            if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,50}$", name):
                raise UserInputError(f"{text}: invalid {what} name {name!r} (letters, digits and '_' only)")
        return PostgresScoreStore(text, schema, table)
    path_text, _, query_text = text.partition("?")
    path = Path(path_text).expanduser()
    if path.suffix in (".duckdb", ".db"):
        table = dict(parse_qsl(query_text)).get("table", "scores")
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,50}$", table):
            raise UserInputError(f"{text}: invalid table name {table!r} (letters, digits and '_' only)")
        return DuckDBScoreStore(path, table)
    if query_text:
        raise UserInputError(f"{text}: query parameters only apply to .duckdb files and postgresql:// URLs")
    if path.exists() and not path.is_dir():
        raise UserInputError(
            f"{text}: not a directory; the score store is a Parquet directory, a .duckdb file or a postgresql:// URL"
        )
    return ParquetScoreStore(path)
