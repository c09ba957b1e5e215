"""The generator's time axis: days since the origin, timestamps, realistic times of day, and ids.

All simulation happens in float days since ``origin = end - HISTORY_DAYS``; ``to_timestamp`` turns them into naive
UTC timestamps floored to the second (so ``t < limit`` stays true after conversion).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnltv.generator.parameters import DAY_SECONDS, HOUR_WEIGHTS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def make_ids(prefix: str, n: int, width: int) -> pd.Series:
    """Zero-padded string ids ("C0000001") built in Arrow (fast for millions)."""
    nums = pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.string())
    text = pc.binary_join_element_wise(prefix, pc.utf8_lpad(nums, width, "0"), "")
    return pd.Series(text.to_pandas(), dtype="str")


def to_timestamp(origin: pd.Timestamp, days: FloatArray) -> npt.NDArray[np.datetime64]:
    """Days since ``origin`` -> datetime64[us], floored to the second (so t < limit stays true); NaT for inf/nan."""
    finite = np.isfinite(days)
    secs = np.floor(np.where(finite, days, 0.0) * DAY_SECONDS).astype(np.int64)
    us = secs * 1_000_000 + origin.value // 1000
    out: npt.NDArray[np.datetime64] = us.astype("datetime64[us]")
    out[~finite] = np.datetime64("NaT")
    return out


def time_of_day(rng: np.random.Generator, n: int) -> FloatArray:
    hours = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    out: FloatArray = (hours + rng.random(n)) / 24.0
    return out


def with_time_of_day(rng: np.random.Generator, t: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Move each time to a realistic time of day on the same date when that stays inside [lo, hi)."""
    moved = np.floor(t) + time_of_day(rng, t.size)
    out: FloatArray = np.where((moved >= lo) & (moved < hi), moved, t)
    return out


def repeat_index(counts: IntArray) -> IntArray:
    out: IntArray = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    return out
