"""Point lookups of the served run (``ScoreStore.lookup_rows`` + ``row_records``, what GET /v1/customers/{id}
answers from) give exactly the records of the frame path, and follow the store to a newly published run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from service.api.responses import frame_records, row_records
from service.score_store import ParquetScoreStore, from_storage, open_score_store
from support.world import TrainedWorld


def _copy(world: TrainedWorld, tmp_path: Path) -> ParquetScoreStore:
    target = tmp_path / "scores"
    shutil.copytree(world.scores, target)
    store = open_score_store(str(target))
    assert isinstance(store, ParquetScoreStore)
    return store


def test_lookup_records_equal_the_frame_path(trained_world: TrainedWorld, tmp_path: Path) -> None:
    store = _copy(trained_world, tmp_path)
    try:
        everyone = store.read_scores()
        ids = everyone["customer_id"].sample(60, random_state=1).tolist()
        run, rows = store.lookup_rows([*ids, "no-such-customer", ids[0]])
        assert run is not None
        assert [r["customer_id"] for r in rows] == ids  # asked order, duplicates once, the unknown id absent
        expected = {r["customer_id"]: r for r in frame_records(store.read_scores(ids))}
        for record in row_records(rows):
            assert record == expected[record["customer_id"]]
    finally:
        store.close()


def test_lookup_follows_a_newly_published_run(trained_world: TrainedWorld, tmp_path: Path) -> None:
    store = _copy(trained_world, tmp_path)
    try:
        first, _ = store.lookup_rows(["warm-up"])
        assert first is not None
        rows = from_storage(store.read_scores())
        customer = str(rows["customer_id"].iloc[0])
        changed = rows.drop(columns=["run_id"]).assign(churn_probability=0.123)
        record = {**first, "run_id": "next-run", "status": "running", "started_at": "2030-01-01T00:00:00"}
        store.begin_run(record)
        store.write_part("next-run", 0, changed, pd.DataFrame(columns=["customer_id", "reason"]))
        store.publish("next-run", {**record, "status": "complete", "finished_at": "2030-01-01T00:01:00"})
        run, found = store.lookup_rows([customer])
        assert run is not None
        assert run["run_id"] == "next-run"
        assert found[0]["churn_probability"] == 0.123
    finally:
        store.close()
