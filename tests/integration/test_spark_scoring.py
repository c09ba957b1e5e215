"""The Spark engine (local[*]) gives the same scores as the local engine, to 1e-9, on the same data and models.

One Spark session for the whole file (starting one costs ~10 s); kept small on purpose.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from service.batch_scoring import run_batch
from service.score_store import open_score_store
from support.world import TrainedWorld

pytestmark = [pytest.mark.spark, pytest.mark.slow]

AS_OF = pd.Timestamp("2026-06-01")
FLOAT_COLUMNS = (
    "churn_probability",
    "p_alive",
    "expected_purchases",
    "p_no_purchase",
    "horizon_days",
    "predicted_ltv",
    "ltv_lower",
    "ltv_upper",
    "value_at_risk",
    "health_score",
    "health_activity",
    "health_penetration",
    "health_service",
    "health_feedback",
)


@pytest.fixture(scope="module")
def world(trained_world: TrainedWorld) -> TrainedWorld:
    return trained_world


def _rounded(value: Any) -> Any:
    """Nested lists/dicts with floats rounded to 9 significant digits (reason contributions, trigger values)."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def test_spark_engine_equals_local_engine(world: TrainedWorld, tmp_path: Path) -> None:
    models = world.models()
    local = run_batch(str(world.data), AS_OF, str(tmp_path / "local"), models=models, chunk_size=700)
    try:
        spark = run_batch(
            str(world.data),
            AS_OF,
            str(tmp_path / "spark"),
            models=models,
            engine="spark",
            chunk_size=700,
            spark_master="local[2]",
        )
    finally:
        from pyspark.sql import SparkSession

        active = SparkSession.getActiveSession()
        if active is not None:
            active.stop()
    assert spark.status == "complete"
    assert spark.record["engine"] == "spark"
    assert spark.n_customers == local.n_customers
    a = open_score_store(tmp_path / "local").read_scores().drop(columns=["run_id"])
    b = open_score_store(tmp_path / "spark").read_scores().drop(columns=["run_id"])
    assert list(a["customer_id"]) == list(b["customer_id"])
    assert b["customer_id"].is_unique
    for col in a.columns:
        if col in FLOAT_COLUMNS:
            np.testing.assert_allclose(b[col], a[col], rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=col)
        else:
            assert _rounded(a[col].tolist()) == _rounded(b[col].tolist()), col
