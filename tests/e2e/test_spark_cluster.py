"""Batch scoring on a real Spark standalone cluster: one master and two workers on loopback, separate JVMs.

The cluster is started with the pyspark distribution's own ``bin/spark-class`` (service.spark_standalone), and the
run goes through ``run_batch(..., engine="spark", spark_master="spark://127.0.0.1:PORT")`` — what
``churnltv score --engine spark --spark-master ...`` does. Two claims:

* the cluster's output equals the local engine's (floats to 1e-9, everything else exactly);
* a worker SIGKILLed mid-run (with its executor) loses nothing and duplicates nothing: Spark reruns the lost tasks
  on the surviving worker, the driver writes every part once, and the run is published once, complete.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from service.batch_scoring import RunResult, run_batch
from service.score_store import open_score_store
from service.spark_standalone import StandaloneCluster
from support.score_comparison import assert_same_scores
from support.world import TrainedWorld

pytestmark = [pytest.mark.spark, pytest.mark.slow]

AS_OF = pd.Timestamp("2026-06-01")
CHUNK = 250  # small parts: several Spark jobs per run, so a kill lands mid-run


@pytest.fixture(scope="module")
def cluster() -> Iterator[StandaloneCluster]:
    with StandaloneCluster(workers=2, cores=1, memory="1500m") as c:
        yield c


@pytest.fixture(scope="module")
def local_run(trained_world: TrainedWorld, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunResult]:
    target = tmp_path_factory.mktemp("cluster_local") / "scores"
    result = run_batch(str(trained_world.data), AS_OF, str(target), models=trained_world.models(), chunk_size=CHUNK)
    return target, result


def _stop_session() -> None:
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()


def _score_on(cluster: StandaloneCluster, world: TrainedWorld, target: Path) -> RunResult:
    return run_batch(
        str(world.data),
        AS_OF,
        str(target),
        models=world.models(),
        engine="spark",
        chunk_size=CHUNK,
        spark_master=cluster.url,
    )


def test_cluster_scores_equal_the_local_engine(
    cluster: StandaloneCluster, trained_world: TrainedWorld, local_run: tuple[Path, RunResult], tmp_path: Path
) -> None:
    local_target, local = local_run
    try:
        result = _score_on(cluster, trained_world, tmp_path / "cluster")
        from pyspark import SparkContext

        master = SparkContext.getOrCreate().master
    finally:
        _stop_session()
    assert master == cluster.url  # not silently local[*]
    assert result.status == "complete"
    assert result.record["engine"] == "spark"
    assert assert_same_scores(local_target, tmp_path / "cluster") == local.n_customers


def _kill_when_running(cluster: StandaloneCluster, state: dict[str, Any]) -> None:
    """Wait until the run has finished one Spark job and is inside another, then SIGKILL worker 0."""
    from pyspark import SparkContext

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not state.get("done"):
        sc = SparkContext._active_spark_context
        if sc is not None and getattr(sc, "_jsc", None) is not None:  # a context still starting has no JVM side
            tracker = sc.statusTracker()
            jobs = [tracker.getJobInfo(j) for j in tracker.getJobIdsForGroup(None)]
            finished = [j for j in jobs if j is not None and j.status == "SUCCEEDED"]
            if finished and tracker.getActiveStageIds():
                cluster.kill_worker(0)
                state["killed_after_jobs"] = len(finished)
                return
        time.sleep(0.05)


def test_worker_killed_mid_run_finishes_exactly_once(
    cluster: StandaloneCluster, trained_world: TrainedWorld, local_run: tuple[Path, RunResult], tmp_path: Path
) -> None:
    local_target, local = local_run
    state: dict[str, Any] = {}
    killer = threading.Thread(target=_kill_when_running, args=(cluster, state), daemon=True)
    killer.start()
    try:
        result = _score_on(cluster, trained_world, tmp_path / "killed")
    finally:
        state["done"] = True
        killer.join(timeout=10)
        _stop_session()
    assert "killed_after_jobs" in state, "the worker was never killed mid-run"
    assert len(cluster.worker_pids()) == 1
    assert result.status == "complete"
    store = open_score_store(tmp_path / "killed")
    runs = store.list_runs()
    assert [r["status"] for r in runs] == ["complete"]  # published once, no second or half run
    assert assert_same_scores(local_target, tmp_path / "killed") == local.n_customers
