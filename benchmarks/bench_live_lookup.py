"""In-process live lookup latency (issue 18): ``lookup(...)`` of ``GET /v1/customers/{id}?as_of=``, no HTTP.

    python -m benchmarks.bench_live_lookup [--customers 5000] [--lookups 250]

Builds the trained world of ``benchmarks.bench_api`` in a temporary MLflow store, opens the data as the API does
(``LiveData``), and times one lookup per distinct customer, split into the feature query (``build_features``' one
DuckDB query, execute + DataFrame) and everything else (id check, typing, scoring, records). The target is the
whole lookup's p99 <= 20 ms; the split says which side a change has to win on.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.measure import report


def _percentiles(ms: np.ndarray[Any, np.dtype[np.float64]]) -> dict[str, float]:
    return {
        "p50_ms": float(np.median(ms)),
        "p99_ms": float(np.percentile(ms, 99)),
        "min_ms": float(ms.min()),
        "n": len(ms),
    }


def _time_lookups(models: Any, data: Any, ids: list[str], as_of: dt.datetime) -> tuple[list[float], list[float]]:
    """Seconds per whole lookup and per feature query, one lookup per id after the first 10 (the warm-up)."""
    import features.point_in_time as pit
    from service.api.routes.customers import lookup
    from service.api.state import ScoreReads

    scores = ScoreReads(None, 1)
    query_s: list[float] = []
    run = pit._Build.run

    def timed_run(self: Any, final_sql: str) -> Any:
        start = time.perf_counter()
        try:
            return run(self, final_sql)
        finally:
            query_s.append(time.perf_counter() - start)

    pit._Build.run = timed_run  # type: ignore[method-assign]  # measurement only, restored below
    try:
        for customer in ids[:10]:  # warm-up: imports, first-query caches
            lookup(models, [customer], as_of, data=data, scores=scores, top_reasons=3)
        query_s.clear()
        total_s = []
        for customer in ids[10:]:
            start = time.perf_counter()
            found, missing = lookup(models, [customer], as_of, data=data, scores=scores, top_reasons=3)
            total_s.append(time.perf_counter() - start)
            if missing or not found:
                raise SystemExit(f"customer {customer!r} was not found live")
    finally:
        pit._Build.run = run  # type: ignore[method-assign]
    return total_s, query_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5000, help="customers in the generated base")
    parser.add_argument("--lookups", type=int, default=250, help="timed lookups, one per distinct customer")
    args, _ = parser.parse_known_args()

    from benchmarks.bench_api import _build_world
    from service.api.state import LiveData
    from service.model_set import load_model_set

    with tempfile.TemporaryDirectory(prefix="churnltv-bench-live-") as tmp:
        root = Path(tmp)
        uri = f"sqlite:///{root}/mlflow.db"
        env = {"MLFLOW_TRACKING_URI": uri, "CHURNLTV_TRACKING_URI": uri, "CHURNLTV_ARTIFACT_ROOT": str(root / "a")}
        os.environ.update(env)
        data_path, _, _, end = _build_world(root, args.customers, seed=11)
        models = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=uri, keep_files=False)
        data = LiveData(str(data_path))
        data.open()
        assert data.connection is not None, data.error
        as_of = dt.datetime.fromisoformat(end)
        ids = [
            str(r[0])
            for r in data.connection.cursor()
            .execute("SELECT customer_id FROM customers WHERE signup_at < ? ORDER BY customer_id", [as_of])
            .fetchall()
        ]
        random.Random(1).shuffle(ids)
        if len(ids) < args.lookups + 10:
            raise SystemExit(f"--lookups {args.lookups}: the base has only {len(ids)} customers signed up by then")
        try:
            total_s, query_s = _time_lookups(models, data, ids[: 10 + args.lookups], as_of)
        finally:
            data.close()

    total = np.array(total_s) * 1000
    query = np.array(query_s) * 1000
    numbers = {"lookup": _percentiles(total), "feature_query": _percentiles(query), "rest": _percentiles(total - query)}
    rows = [
        f"{name}: p50 {p['p50_ms']:.2f} ms  p99 {p['p99_ms']:.2f} ms  min {p['min_ms']:.2f} ms  (n={p['n']})"
        for name, p in numbers.items()
    ]
    p99 = numbers["lookup"]["p99_ms"]
    rows.append(f"{'PASS' if p99 <= 20 else 'FAIL'}  live lookup p99 <= 20 ms (in-process): {p99:.2f} ms")
    report(f"live lookup in-process ({args.customers} customers, as_of {end})", rows, numbers)


if __name__ == "__main__":
    main()
