"""Customer policy (models.customer_policy.apply_policy): 1M-row batch and one-customer latency.

Baseline: the same call made once per customer on 1-row frames (how a naive batch loop over the
API path would run), measured on a sample and scaled to the batch size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.measure import Measurement, isolated, report, timed
from models.customer_policy import apply_policy
from models.policy_settings import PolicySettings

ROWS = 1_000_000
SAMPLE = 2_000


def synthetic_features(n: int, seed: int = 11) -> pd.DataFrame:
    """A feature frame with every column the policy reads, including optional tables and model outputs."""
    rng = np.random.default_rng(seed)
    prev = rng.poisson(20, n).astype(float)
    core = rng.poisson(18, n).astype(float)
    since = rng.exponential(10, n)
    gap = rng.uniform(1, 10, n)
    return pd.DataFrame(
        {
            "customer_id": np.char.add("c", np.arange(n).astype(str)),
            "segment": rng.choice(["b2c", "b2b"], n),
            "tenure_days": rng.uniform(1, 720, n),
            "active_days_30d": rng.integers(0, 31, n).astype(float),
            "core_actions_30d": core,
            "core_actions_prev_30d": prev,
            "core_trend_ratio": np.where(prev > 0, core / np.maximum(prev, 1), np.nan),
            "days_since_last_event": since,
            "core_modules_used_90d": rng.integers(0, 6, n).astype(float),
            "aha_reached": rng.integers(0, 2, n).astype(float),
            "weeks_below_aha_bar": rng.integers(0, 4, n).astype(float),
            "usual_gap_days": gap,
            "idle_ratio": since / gap,
            "days_since_reactivation": np.where(rng.random(n) < 0.05, rng.uniform(0, 90, n), np.nan),
            "days_since_last_txn": rng.exponential(40, n),
            "txn_count_total": rng.poisson(4, n).astype(float),
            "sub_active": rng.integers(0, 2, n).astype(float),
            "nps_last": np.where(rng.random(n) < 0.3, rng.integers(0, 11, n), np.nan),
            "tickets_90d": rng.poisson(0.5, n).astype(float),
            "tickets_open": rng.poisson(0.1, n).astype(float),
            "ticket_satisfaction_mean": np.where(rng.random(n) < 0.3, rng.uniform(1, 5, n), np.nan),
            "churn_probability": rng.beta(2, 5, n),
            "p_alive": rng.beta(5, 2, n),
            "predicted_ltv": rng.gamma(2, 200, n),
        }
    )


def _batch() -> None:
    apply_policy(synthetic_features(ROWS), PolicySettings())


def main() -> None:
    settings = PolicySettings()
    frame = synthetic_features(ROWS)
    # one-row calls first: afterwards the 1M-row result (1.6M trigger dicts) would sit on the heap and
    # every full garbage collection triggered by the small calls would rescan it, unlike in the API
    rows = [frame.iloc[[i]] for i in range(SAMPLE)]
    apply_policy(rows[0], settings)  # warm-up
    per_row, _ = timed(f"apply_policy, {SAMPLE:,} 1-row calls", lambda: [apply_policy(r, settings) for r in rows])
    batch, out = timed(f"apply_policy, {ROWS:,} rows", lambda: apply_policy(frame, settings))
    one_row_ms = per_row.seconds / SAMPLE * 1000
    baseline = Measurement(f"1-row calls scaled to {ROWS:,}", per_row.seconds / SAMPLE * ROWS)
    memory = isolated(f"build + apply_policy, {ROWS:,} rows", _batch)
    tiers = out["risk_tier"].value_counts().to_dict()
    report(
        "customer policy",
        [baseline.line(), batch.line(baseline), per_row.line(), f"one-row call: {one_row_ms:.3f} ms", memory.line()],
        {
            "rows": ROWS,
            "batch_seconds": round(batch.seconds, 3),
            "one_row_ms": round(one_row_ms, 3),
            "speedup_vs_row_calls": round(baseline.seconds / batch.seconds, 1),
            "peak_rss_mb": memory.peak_rss_mb,
            "tiers": tiers,
        },
    )


if __name__ == "__main__":
    main()
