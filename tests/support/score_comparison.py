"""Two batch runs scored the same customers the same way: floats to 1e-9, everything else exactly.

The local and Spark engines sum in different orders (DuckDB's parallel float sums can differ by one ulp between
runs), so floats, and the floats nested in reason and trigger lists, are compared to 9 significant digits.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from service.score_store import STORE_COLUMNS, _column_kind, open_score_store

FLOAT_COLUMNS = tuple(c for c in STORE_COLUMNS if _column_kind(c) == "float")


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def assert_same_scores(expected_store: Path, actual_store: Path) -> int:
    """Both stores' latest runs hold the same customers, in order, with the same scores; returns the row count."""
    a = open_score_store(expected_store).read_scores().drop(columns=["run_id"])
    b = open_score_store(actual_store).read_scores().drop(columns=["run_id"])
    assert list(a["customer_id"]) == list(b["customer_id"])
    assert b["customer_id"].is_unique
    for col in a.columns:
        if col in FLOAT_COLUMNS:
            np.testing.assert_allclose(b[col], a[col], rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=col)
        else:
            assert _rounded(a[col].tolist()) == _rounded(b[col].tolist()), col
    return len(a)
