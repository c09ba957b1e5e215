"""Demo data generator: 1M customers / ~50M events (issue 3 target: < 3 minutes on 2 cores).

Measures, each in a fresh process so peak RSS is its own:
  * ``generate(N)`` alone (wall, peak RSS, events/s);
  * ``generate(N)`` + ``write_dataset`` to a DuckDB file (what ``churnltv generate`` does).
Baseline, same process: a straightforward generator that loops over customers and days in Python
(the same latent model: daily churn hazard, daily active-day draw, per-event rows as dicts), run on a
small slice and extrapolated linearly to N customers.

Usage: ``python -m benchmarks.bench_generate [N]`` (default 1,000,000).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.measure import Measurement, isolated, report

DEFAULT_CUSTOMERS = 1_000_000
BASELINE_CUSTOMERS = 2_000


def _loop_generator(n_customers: int, seed: int) -> int:
    """The naive way: one Python loop per customer and per day. Returns the number of events made."""
    import numpy as np
    import pandas as pd

    from churnltv.generator import DECLINE_ACTIVITY_DROP, HISTORY_DAYS, MODULES
    from churnltv.generator.customers import draw_customers

    rng = np.random.default_rng(seed)
    cu = draw_customers(rng, n_customers, 0)
    rows: list[dict[str, object]] = []
    origin = pd.Timestamp("2024-06-30")
    for i in range(n_customers):
        day = math.floor(cu.s[i])
        while day < HISTORY_DAYS:
            decline = 1 - math.exp(-cu.k[i] * max(day - cu.d[i], 0.0))
            if rng.random() < cu.b[i] * (1 + cu.g[i] * decline):
                break  # churned today
            if rng.random() < cu.a0[i] * (1 - DECLINE_ACTIVITY_DROP * decline):
                for _ in range(1 + rng.poisson(cu.session_mu[i])):
                    kind = rng.choice(["core_action", "login", "page_view"], p=[0.52, 0.19, 0.29])
                    rows.append(
                        {
                            "customer_id": f"C{i + 1:07d}",
                            "occurred_at": origin + pd.Timedelta(days=day + rng.random()),
                            "event_type": kind,
                            "module": "home" if kind == "login" else MODULES[int(rng.integers(cu.breadth[i]))],
                        }
                    )
            day += 1
    return len(pd.DataFrame(rows))


def main() -> None:
    from churnltv.generator import generate
    from features.dataset_writer import write_dataset

    n = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else DEFAULT_CUSTOMERS
    events = mp.get_context("fork").Value("q", 0)

    def only_generate() -> None:
        events.value = len(generate(n, seed=7).tables["events"])

    def generate_and_write() -> None:
        with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
            write_dataset(generate(n, seed=7).tables, Path(tmp) / "demo.duckdb")

    gen = isolated(f"generate {n:,} customers (vectorised)", only_generate)
    n_events = int(events.value)
    full = isolated(f"generate + write DuckDB ({n:,})", generate_and_write)

    slice_n = min(BASELINE_CUSTOMERS, n)
    start = time.perf_counter()
    slice_events = _loop_generator(slice_n, seed=7)
    slice_seconds = time.perf_counter() - start
    baseline = Measurement(f"per-customer loop, {slice_n:,} extrapolated", slice_seconds * n / slice_n)

    rows = [
        gen.line(baseline),
        f"  {n_events:,} events, {n_events / gen.seconds:,.0f} events/s",
        full.line(baseline),
        baseline.line(),
        f"  (loop made {slice_events:,} events for {slice_n:,} customers in {slice_seconds:.2f} s)",
    ]
    report(
        "bench_generate",
        rows,
        {
            "customers": n,
            "events": n_events,
            "generate_seconds": round(gen.seconds, 2),
            "generate_peak_rss_mb": gen.peak_rss_mb,
            "events_per_second": round(n_events / gen.seconds),
            "generate_and_write_seconds": round(full.seconds, 2),
            "generate_and_write_peak_rss_mb": full.peak_rss_mb,
            "baseline_extrapolated_seconds": round(baseline.seconds, 1),
            "speedup_vs_loop": round(baseline.seconds / gen.seconds, 1),
        },
    )


if __name__ == "__main__":
    main()
