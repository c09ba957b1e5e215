"""The Spark engine (local[*]) gives the same scores as the local engine, to 1e-9, on the same data and models.

One Spark session for the whole file (starting one costs ~10 s); kept small on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from service.batch_scoring import run_batch
from support.score_comparison import assert_same_scores
from support.world import TrainedWorld

pytestmark = [pytest.mark.spark, pytest.mark.slow]

AS_OF = pd.Timestamp("2026-06-01")


@pytest.fixture(scope="module")
def world(trained_world: TrainedWorld) -> TrainedWorld:
    return trained_world


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
    assert assert_same_scores(tmp_path / "local", tmp_path / "spark") == local.n_customers
