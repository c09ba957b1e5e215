"""The PostgreSQL score store against the real server (a unique schema per test, dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest

from service.batch_scoring import run_batch
from service.score_store import STORE_COLUMNS, open_score_store
from support.world import TrainedWorld

PG = "postgresql://postgres@127.0.0.1:5432/test"
AS_OF = pd.Timestamp("2026-06-01")
pytestmark = pytest.mark.postgres


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"scores_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@pytest.fixture(scope="module")
def world(trained_world: TrainedWorld) -> TrainedWorld:
    return trained_world


def _fake_scores(n: int, *, as_of: str = "2026-06-01") -> pd.DataFrame:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({c: np.nan for c in STORE_COLUMNS if c != "run_id"}, index=range(n))
    frame["customer_id"] = [f"c{i:04d}" for i in range(n)]
    frame["as_of"] = pd.Timestamp(as_of)
    frame["segment"] = ["b2b" if i % 3 == 0 else "b2c" for i in range(n)]
    frame["churn_probability"] = rng.uniform(size=n)
    frame["value_at_risk"] = rng.uniform(0, 100, size=n)
    frame["risk_tier"] = ["high" if i % 2 else "low" for i in range(n)]
    frame["triggers"] = [[{"trigger": "idle", "value": 3.5, "threshold": 3.0}] if i % 2 else [] for i in range(n)]
    frame["reasons"] = [[{"feature": "events_30d", "value": float(i), "phrase": 'says "hi", ok'}] for i in range(n)]
    frame["action_text"] = "call them, today"
    frame["ltv_method"] = "bgnbd_gamma_gamma"
    frame["churn_model_version"] = "3"
    frame["ltv_model_version"] = None
    return frame


def test_write_parts_publish_and_read_back(schema: str) -> None:
    store = open_score_store(f"{PG}?table=scores&schema={schema}")
    assert store.latest_run() is None
    scored = _fake_scores(50)
    record = {"run_id": "r1", "status": "running", "started_at": "2026-06-01T01:00:00", "n_customers": 50}
    store.begin_run(record)
    bad = pd.DataFrame({"customer_id": ["zz"], "reason": ["scoring failed: ValueError"]})
    store.write_part("r1", 0, scored.iloc[:30], bad)
    assert store.durable_parts("r1") == {0}
    store.write_part("r1", 1, scored.iloc[30:], bad.iloc[:0])
    store.write_part("r1", 1, scored.iloc[30:], bad.iloc[:0])  # a re-written part replaces itself
    assert store.staged_counts("r1") == (50, 50)
    assert store.latest_run() is None, "staged rows are invisible until published"
    assert store.staged_bad_rows("r1")["customer_id"].tolist() == ["zz"]
    store.publish("r1", {**record, "status": "complete", "finished_at": "2026-06-01T01:05:00"})
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == "r1"
    back = store.read_scores()
    assert list(back.columns) == list(STORE_COLUMNS)
    assert back["customer_id"].tolist() == scored["customer_id"].tolist()
    np.testing.assert_allclose(back["churn_probability"], scored["churn_probability"], rtol=1e-15)
    assert back["triggers"].tolist() == scored["triggers"].tolist()
    assert back["reasons"].tolist() == scored["reasons"].tolist()
    assert (back["as_of"] == pd.Timestamp("2026-06-01")).all()
    assert back["ltv_model_version"].isna().all()
    assert back["action_text"].iloc[0] == "call them, today"
    top = store.retention_list(tier="high", limit=5)
    assert len(top) == 5
    assert (top["risk_tier"] == "high").all()
    assert top["value_at_risk"].is_monotonic_decreasing
    assert store.read_scores(["c0003", "c0007"])["customer_id"].tolist() == ["c0003", "c0007"]
    with psycopg.connect(PG) as conn:
        staged = conn.execute(f'SELECT count(*) FROM "{schema}"."scores_staging"').fetchone()
    assert staged == (0,)


def test_a_store_created_before_the_predictive_columns_takes_a_new_run(schema: str) -> None:
    """An older release's tables lack the columns added since: the store adds them instead of failing the run."""
    target = f"{PG}?table=scores&schema={schema}"
    open_score_store(target).begin_run({"run_id": "r1", "status": "running", "started_at": "2026-05-01T01:00:00"})
    added = ("ltv_p10", "ltv_p50", "ltv_p90", "next_purchase_days", "p_purchase_30d")
    with psycopg.connect(PG, autocommit=True) as conn:
        for table in ("scores", "scores_staging"):
            for column in added:
                conn.execute(f'ALTER TABLE "{schema}"."{table}" DROP COLUMN "{column}"')
    store = open_score_store(target)
    scored = _fake_scores(10).assign(ltv_p90=7.5)
    record = {"run_id": "r2", "status": "running", "started_at": "2026-06-01T01:00:00", "n_customers": 10}
    store.begin_run(record)
    store.write_part("r2", 0, scored, pd.DataFrame({"customer_id": [], "reason": []}))
    store.publish("r2", {**record, "status": "complete", "finished_at": "2026-06-01T01:05:00"})
    back = store.read_scores()
    assert list(back.columns) == list(STORE_COLUMNS)
    assert (back["ltv_p90"] == 7.5).all()


@pytest.mark.slow
def test_batch_run_round_trips_through_postgres(world: TrainedWorld, schema: str, tmp_path: Path) -> None:
    models = world.models()
    target = f"{PG}?table=nightly&schema={schema}"
    pg = run_batch(str(world.data), AS_OF, target, models=models, chunk_size=800)
    parquet = run_batch(str(world.data), AS_OF, str(tmp_path / "p"), models=models, chunk_size=800)
    assert parquet.n_customers == pg.n_customers
    store = open_score_store(target)
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == pg.run_id
    assert latest["rows_written"] == pg.n_customers
    a = store.read_scores().drop(columns=["run_id"])
    b = open_score_store(tmp_path / "p").read_scores().drop(columns=["run_id"])
    assert a["customer_id"].tolist() == b["customer_id"].tolist()
    np.testing.assert_allclose(a["churn_probability"], b["churn_probability"], rtol=1e-12)
    np.testing.assert_allclose(a["predicted_ltv"], b["predicted_ltv"], rtol=1e-12, equal_nan=True)
    assert a["triggers"].tolist() == b["triggers"].tolist()
    assert a["risk_tier"].tolist() == b["risk_tier"].tolist()
