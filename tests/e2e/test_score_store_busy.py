"""A DuckDB score store locked by a writer (``churnltv score`` running) is a 503 with Retry-After, not a 422.

DuckDB locks a database file per process: while another process holds it open for writing, a reader cannot open
it at all. That is the server's temporary state, never the client's fault, so the API answers 503 naming the store
and says when to retry; once the writer lets go the same request is answered again.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from support.world import TrainedWorld

pytestmark = pytest.mark.slow
KEY = "busy-key"

HOLD_WRITE_LOCK = (
    "import duckdb, sys\n"
    "con = duckdb.connect(sys.argv[1])\n"
    "con.execute('BEGIN TRANSACTION')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.fixture(scope="module")
def duckdb_store(trained_world: TrainedWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The world's base batch-scored into a DuckDB score store (one complete run)."""
    from service.batch_scoring import run_batch
    from service.model_set import load_model_set
    from service.score_store import open_score_store

    source = open_score_store(str(trained_world.scores))
    try:
        run = source.latest_run()
    finally:
        source.close()
    assert run is not None
    target = tmp_path_factory.mktemp("busy") / "scores.duckdb"
    models = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=trained_world.tracking_uri)
    run_batch(str(trained_world.data), pd.Timestamp(run["as_of"]), str(target), models=models)
    return target


@pytest.fixture
def api(trained_world: TrainedWorld, duckdb_store: Path) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from service.api.app import create_app
    from service.settings import ServiceSettings

    settings = ServiceSettings(
        api_keys=(KEY,),
        data=str(trained_world.data),
        score_store=str(duckdb_store),
        tracking_uri=trained_world.tracking_uri,
        store_retry_after_seconds=7,
    )
    with TestClient(create_app(settings), headers={"X-API-Key": KEY}) as client:
        yield client


def test_a_locked_store_is_503_with_retry_after_and_recovers(api: Any, duckdb_store: Path) -> None:
    from service.score_store import open_score_store

    store = open_score_store(str(duckdb_store))
    try:
        customer_id = str(store.read_scores()["customer_id"].iloc[0])
    finally:
        store.close()
    before = api.get(f"/v1/customers/{customer_id}")
    assert before.status_code == 200, before.text
    assert before.json()["source"] == "batch"

    writer = subprocess.Popen(
        [sys.executable, "-c", HOLD_WRITE_LOCK, str(duckdb_store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "locked"
        for response in (
            api.get(f"/v1/customers/{customer_id}"),
            api.post("/v1/customers:batchGet", json={"customer_ids": [customer_id]}),
            api.get("/v1/retention-list", params={"limit": 5}),
        ):
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "7"
            detail = response.json()["detail"]
            assert detail.startswith(f"score store {duckdb_store} is busy or unreadable"), detail
            assert "lock" in detail.lower(), detail  # DuckDB's own reason is kept
        assert api.get("/ready").json()["checks"]["score_store"].startswith("unreachable")
    finally:
        if writer.stdin is not None:
            writer.stdin.close()
        writer.wait(timeout=30)

    after = api.get(f"/v1/customers/{customer_id}")
    assert after.status_code == 200, after.text
    assert after.json() == before.json()
    assert api.get("/ready").status_code == 200
