"""Batch scoring, local engine: Parquet and DuckDB stores, metadata, bad rows, failed runs, resume.

The models are the session world's champions (tests/support/world.py), loaded from their bundle directories.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from service import batch_scoring
from service.batch_scoring import BatchScoringSettings, ScoreRunError, run_batch
from service.model_set import ModelSet
from service.prediction import SCORE_COLUMNS, score_frame
from service.score_store import STORE_COLUMNS, open_score_store
from support.world import AS_OF, TrainedWorld


@pytest.fixture(scope="module")
def world(trained_world: TrainedWorld) -> TrainedWorld:
    return trained_world


@pytest.fixture(scope="module")
def models(world: TrainedWorld) -> ModelSet:
    return world.models()


def _assert_exactly_once(scores: pd.DataFrame, expected_ids: list[str]) -> None:
    assert scores["customer_id"].is_unique
    assert sorted(scores["customer_id"]) == sorted(expected_ids)


@pytest.fixture(scope="module")
def population(world: TrainedWorld, models: ModelSet) -> pd.DataFrame:
    from features.point_in_time import build_features
    from features.sources import open_source

    con = open_source(world.data).connect()
    features, _ = build_features(con, [AS_OF], batch_scoring.feature_settings_for(models))
    con.close()
    return features


@pytest.mark.slow
def test_parquet_run_scores_everyone_once_with_the_api_prediction_path(
    world: TrainedWorld, models: ModelSet, population: pd.DataFrame, tmp_path: Path
) -> None:
    target = tmp_path / "scores"
    result = run_batch(str(world.data), AS_OF, str(target), models=models, chunk_size=300)
    assert result.status == "complete"
    assert result.n_customers == len(population)
    assert result.parts_total == -(-len(population) // 300)
    store = open_score_store(target)
    scores = store.read_scores()
    assert list(scores.columns) == list(STORE_COLUMNS)
    _assert_exactly_once(scores, population["customer_id"].tolist())
    assert (scores["run_id"] == result.run_id).all()
    assert (scores["as_of"] == AS_OF).all()
    assert scores["churn_probability"].between(0, 1).all()
    assert all(isinstance(t, list) for t in scores["triggers"])
    assert all(isinstance(r, list) and (not r or isinstance(r[0], dict)) for r in scores["reasons"])
    # same numbers as calling the shared prediction function directly
    direct = score_frame(models, population.sort_values("customer_id").reset_index(drop=True))
    merged = scores.merge(direct, on="customer_id", suffixes=("", "_direct"))
    for col in ("churn_probability", "value_at_risk", "health_score", "predicted_ltv"):
        np.testing.assert_allclose(merged[col], merged[f"{col}_direct"], rtol=1e-12, atol=1e-12, equal_nan=True)
    assert (merged["risk_tier"] == merged["risk_tier_direct"]).all()
    # metadata record
    run = store.latest_run()
    assert run is not None
    assert run["run_id"] == result.run_id
    assert run["status"] == "complete"
    assert run["n_customers"] == len(population)
    assert run["rows_written"] == len(population)
    assert run["bad_rows"]["count"] == 0
    assert run["model_versions"] == models.versions
    assert run["finished_at"] >= run["started_at"]
    # staging is gone, the published run and the pointer exist
    assert not any((target / "_staging").iterdir())
    assert json.loads((target / "LATEST").read_text())["run_id"] == result.run_id
    # lookups the API uses
    some = scores["customer_id"].iloc[[0, 5]].tolist()
    assert sorted(store.read_scores(some)["customer_id"]) == sorted(some)
    top = store.retention_list(limit=10)
    assert len(top) == 10
    assert top["value_at_risk"].is_monotonic_decreasing or top["value_at_risk"].isna().all()
    tier = scores["risk_tier"].iloc[0]
    filtered = store.retention_list(tier=tier, limit=5000)
    assert (filtered["risk_tier"] == tier).all()
    assert len(filtered) == int((scores["risk_tier"] == tier).sum())


@pytest.mark.slow
def test_worker_processes_give_exactly_the_scores_of_one_process(world: TrainedWorld, models: ModelSet) -> None:
    # the same population (features built once: DuckDB's parallel float sums can differ in the last bit between two
    # builds), scored in this process and by two worker processes
    from service.score_store import to_storage

    pop = batch_scoring._load_population(str(world.data), AS_OF, "local", models)
    parts = list(range(-(-len(pop.ids) // 400)))
    assert len(parts) > 2

    def scored(workers: int) -> pd.DataFrame:
        out = batch_scoring._local_parts(models, pop, parts, 400, lambda: 10, workers=workers)
        got = list(out)
        assert [p.part for p in got] == parts  # written in part order either way
        return pd.concat([to_storage(p.scored, "r") for p in got], ignore_index=True)

    pd.testing.assert_frame_equal(scored(1), scored(2), check_exact=True)


@pytest.mark.slow
def test_duckdb_store_serves_the_latest_run_and_keeps_older_ones_readable(
    world: TrainedWorld, models: ModelSet, tmp_path: Path
) -> None:
    target = f"{tmp_path / 'scores.duckdb'}?table=nightly"
    first = run_batch(str(world.data), AS_OF, target, models=models, chunk_size=1000)
    second = run_batch(str(world.data), AS_OF - pd.Timedelta(days=7), target, models=models, chunk_size=700)
    store = open_score_store(target)
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == second.run_id
    now = store.read_scores()
    assert (now["run_id"] == second.run_id).all()
    assert (now["as_of"] == AS_OF - pd.Timedelta(days=7)).all()
    assert now["customer_id"].is_unique
    before = store.read_scores(run_id=first.run_id)
    assert len(before) == first.rows_written
    assert {r["run_id"] for r in store.list_runs()} == {first.run_id, second.run_id}
    # a third run with keep_runs=1 prunes the two older runs
    third = run_batch(
        str(world.data), AS_OF, target, models=models, chunk_size=1000, settings=BatchScoringSettings(keep_runs=1)
    )
    statuses = {r["run_id"]: r["status"] for r in store.list_runs()}
    assert statuses == {first.run_id: "pruned", second.run_id: "pruned", third.run_id: "complete"}
    with pytest.raises(UserInputError, match="pruned"):
        store.read_scores(run_id=first.run_id)


def _failing_for(ids: set[str]) -> Any:
    """score_frame that raises when a chunk contains one of ``ids`` (a row that cannot be scored)."""

    def fake(models: ModelSet, features: pd.DataFrame, *, top_reasons: int = 3) -> pd.DataFrame:
        hit = set(features["customer_id"].astype(str)) & ids
        if hit:
            raise ValueError(f"cannot score {sorted(hit)[0]}")
        return score_frame(models, features, top_reasons=top_reasons)

    return fake


@pytest.mark.slow
def test_bad_rows_are_reported_and_over_the_threshold_the_previous_run_stays_served(
    world: TrainedWorld, models: ModelSet, population: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHURNLTV_SCORE_WORKERS", "1")  # the patched score_frame lives in this process only
    target = str(tmp_path / "scores")
    ids = sorted(population["customer_id"].astype(str))
    good = run_batch(str(world.data), AS_OF, target, models=models, chunk_size=500)

    # a few bad rows (under 1%): the run completes and reports them
    few = set(ids[10:13])
    monkeypatch.setattr(batch_scoring, "score_frame", _failing_for(few))
    ok = run_batch(str(world.data), AS_OF, target, models=models, chunk_size=500)
    store = open_score_store(target)
    run = store.latest_run()
    assert run is not None
    assert run["run_id"] == ok.run_id
    assert run["bad_rows"]["count"] == 3
    assert {e["customer_id"] for e in run["bad_rows"]["examples"]} == few
    assert all("cannot score" in e["reason"] for e in run["bad_rows"]["examples"])
    scores = store.read_scores()
    assert len(scores) == len(ids) - 3
    assert not set(scores["customer_id"]) & few

    # too many bad rows (5%): the run fails and the previous complete run is still served
    many = set(ids[::20])
    monkeypatch.setattr(batch_scoring, "score_frame", _failing_for(many))
    with pytest.raises(ScoreRunError, match="bad rows exceed the threshold") as failure:
        run_batch(str(world.data), AS_OF, target, models=models, chunk_size=500)
    assert failure.value.record["status"] == "failed"
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == ok.run_id
    assert (store.read_scores()["run_id"] == ok.run_id).all()
    failed = store.get_run(failure.value.record["run_id"])
    assert failed is not None
    assert failed["status"] == "failed"
    assert failed["bad_rows"]["count"] > 0.01 * len(ids)
    assert good.run_id != ok.run_id


@pytest.mark.slow
def test_cli_exits_2_on_too_many_bad_rows(
    world: TrainedWorld, population: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from churnltv.cli import app
    from service import cli_score

    if "score" not in {c.name for c in app.registered_commands}:
        cli_score.register(app)
    ids = sorted(population["customer_id"].astype(str))
    monkeypatch.setenv("CHURNLTV_SCORE_WORKERS", "1")  # the patched score_frame lives in this process only
    monkeypatch.setattr(batch_scoring, "score_frame", _failing_for(set(ids[::10])))
    args = ["score", "--data", str(world.data), "--as-of", "2026-06-01", "--output", str(tmp_path / "s")]
    args += ["--churn-model", str(world.churn_bundle), "--ltv-model", str(world.ltv_bundle or "none")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "bad rows exceed the threshold" in result.output
    assert open_score_store(tmp_path / "s").latest_run() is None


@pytest.mark.slow
def test_a_run_that_crashes_leaves_the_previous_run_served_and_resumes_exactly_once(
    world: TrainedWorld, models: ModelSet, population: pd.DataFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = f"{tmp_path / 'scores.duckdb'}"
    previous = run_batch(str(world.data), AS_OF - pd.Timedelta(days=14), target, models=models, chunk_size=1000)
    store = open_score_store(target)
    real_write = type(store).write_part
    calls = {"n": 0}

    def flaky(self: Any, run_id: str, part: int, scored: pd.DataFrame, bad: pd.DataFrame) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        real_write(self, run_id, part, scored, bad)

    monkeypatch.setattr(type(store), "write_part", flaky)
    with pytest.raises(OSError, match="No space"):
        run_batch(str(world.data), AS_OF, target, models=models, chunk_size=250)
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == previous.run_id
    assert (store.read_scores()["run_id"] == previous.run_id).all()
    crashed = next(r for r in store.list_runs() if r["run_id"] != previous.run_id)
    assert crashed["status"] == "failed"
    assert "No space" in crashed["error"]
    assert store.durable_parts(crashed["run_id"]) == {0, 1}

    monkeypatch.setattr(type(store), "write_part", real_write)
    resumed = run_batch(str(world.data), None, target, models=models, resume=crashed["run_id"])
    assert resumed.status == "complete"
    assert resumed.parts_skipped == 2
    scores = store.read_scores()
    assert (scores["run_id"] == crashed["run_id"]).all()
    _assert_exactly_once(scores, population["customer_id"].tolist())
    assert store.latest_run()["resumed"] == 1  # type: ignore[index]


@pytest.mark.slow
def test_resume_refuses_unknown_runs_and_other_models(world: TrainedWorld, models: ModelSet, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match="nothing to resume"):
        run_batch(str(world.data), None, str(tmp_path / "s"), models=models, resume="20260101T000000Z-abcdef")
    with pytest.raises(UserInputError, match="invalid run id"):
        run_batch(str(world.data), None, str(tmp_path / "s"), models=models, resume="../etc")


def test_score_columns_are_the_prediction_columns() -> None:
    assert (*SCORE_COLUMNS, "run_id") == STORE_COLUMNS


def test_open_score_store_rejects_bad_targets(tmp_path: Path) -> None:
    file = tmp_path / "x.csv"
    file.write_text("a\n")
    with pytest.raises(UserInputError, match="not a directory"):
        open_score_store(file)
    with pytest.raises(UserInputError, match="invalid table name"):
        open_score_store(f"{tmp_path / 's.duckdb'}?table=x;drop")
    assert open_score_store(tmp_path / "empty").latest_run() is None
    assert open_score_store(tmp_path / "e.duckdb").latest_run() is None


@pytest.mark.slow
def test_default_as_of_is_the_day_after_the_latest_event(world: TrainedWorld) -> None:
    from features.sources import open_source

    con = open_source(world.data).connect()
    as_of = batch_scoring.default_as_of(con)
    latest = con.execute("SELECT max(occurred_at) FROM events").fetchall()[0][0]
    con.close()
    assert as_of == pd.Timestamp(latest).normalize() + pd.Timedelta(days=1)
    assert as_of > pd.Timestamp(latest)
