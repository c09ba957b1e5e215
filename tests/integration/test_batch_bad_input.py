"""Batch scoring on data with bad rows: the customers behind them are set aside and reported, never dropped.

Real contract violations written into a copy of the scoring world's DuckDB file (no monkeypatching): a negative
amount, a future-dated event, an NPS score of 11, and a row of no scored customer. Under the
bad-row threshold the run completes, everyone else is scored exactly as on clean data, and each set-aside customer
is in the run metadata with the located reason; over it the run fails (exit 2) and the previous run stays served.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from service.batch_scoring import BatchScoringSettings, ScoreRunError, run_batch
from service.model_set import ModelSet
from service.score_store import open_score_store
from support.world import AS_OF, TrainedWorld

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def world(trained_world: TrainedWorld) -> TrainedWorld:
    return trained_world


@pytest.fixture(scope="module")
def models(world: TrainedWorld) -> ModelSet:
    return world.models()


def _copy(world: TrainedWorld, path: Path) -> Path:
    shutil.copy(world.data, path)
    return path


def _ids_with(con: duckdb.DuckDBPyConnection, table: str, n: int, offset: int = 0) -> list[str]:
    rows = con.execute(
        f"SELECT DISTINCT t.customer_id FROM {table} t JOIN customers c USING (customer_id) "
        "WHERE c.signup_at < $1 ORDER BY 1 LIMIT $2 OFFSET $3",
        [AS_OF.to_pydatetime(), n, offset],
    ).fetchall()
    return [str(r[0]) for r in rows]


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {str(r[0]) for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


# (table, assignment that breaks the contract, offset of the customer picked, what the reason must say)
BREAKS = (
    ("transactions", "amount = -5", 0, "negative amount"),
    ("events", "occurred_at = TIMESTAMP '2999-01-01'", 7, "dated in the future"),
    ("nps_responses", "score = 11", 3, "outside 0-10"),
)


def _break(path: Path) -> dict[str, str]:
    """Break one row of each of three customers (one rule each), and add a transaction of an unknown customer."""
    with duckdb.connect(str(path)) as con:
        assert {t for t, *_ in BREAKS} <= _tables(con)
        bad: dict[str, str] = {}
        for table, assignment, offset, reason in BREAKS:
            (customer,) = _ids_with(con, table, 1, offset=offset)
            con.execute(
                f"UPDATE {table} SET {assignment} WHERE rowid = "
                f"(SELECT min(rowid) FROM {table} WHERE customer_id = $1)",
                [customer],
            )
            bad[customer] = reason
        has_order = "order_id" in _columns(con, "transactions")
        con.execute(
            "INSERT INTO transactions SELECT 'nobody-' || customer_id, occurred_at, amount"
            + (", 'new-order'" if has_order else "")
            + " FROM transactions LIMIT 1"
        )
        return bad


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [str(r[0]) for r in con.execute(f"DESCRIBE {table}").fetchall()]


def test_bad_input_customers_are_set_aside_reported_and_the_rest_scored_as_on_clean_data(
    world: TrainedWorld, models: ModelSet, tmp_path: Path
) -> None:
    data = _copy(world, tmp_path / "bad.duckdb")
    bad = _break(data)
    clean = run_batch(str(world.data), AS_OF, str(tmp_path / "clean"), models=models, chunk_size=700)
    result = run_batch(str(data), AS_OF, str(tmp_path / "scores"), models=models, chunk_size=700)

    assert result.status == "complete"
    assert result.n_customers == clean.n_customers  # the set-aside customers are still counted
    assert result.bad_rows == len(bad)
    store = open_score_store(tmp_path / "scores")
    scores = store.read_scores()
    assert scores["customer_id"].is_unique
    assert set(scores["customer_id"]).isdisjoint(bad)
    assert len(scores) == clean.n_customers - len(bad)

    run = store.latest_run()
    assert run is not None
    examples = {e["customer_id"]: e["reason"] for e in run["bad_rows"]["examples"]}
    assert set(examples) == set(bad)
    for cid, what in bad.items():
        assert what in examples[cid], examples[cid]
        assert examples[cid].startswith("bad input row: ")
        assert "row " in examples[cid]  # located: table/file, row, column, value
    problems = run["input_problems"]
    assert problems["rows_rejected"] == len(bad) + 1
    assert problems["customers_set_aside"] == len(bad)
    assert problems["rows_without_a_scored_customer"] == 1
    assert any("unknown customer" in e for e in problems["examples"])

    # everyone else gets exactly the score they get on clean data (the bad rows touch only their customers)
    reference = open_score_store(tmp_path / "clean").read_scores()
    merged = scores.merge(reference, on="customer_id", suffixes=("", "_clean"))
    assert len(merged) == len(scores)
    np.testing.assert_allclose(merged["churn_probability"], merged["churn_probability_clean"], rtol=1e-12)
    assert (merged["risk_tier"] == merged["risk_tier_clean"]).all()


def test_a_part_of_only_set_aside_customers_does_not_break_the_parquet_run(
    world: TrainedWorld, models: ModelSet, tmp_path: Path
) -> None:
    # every customer of the first part is set aside, so part 0 has no scored row: its Parquet file must still have
    # the store's column types (inferred from no rows they were 'null', and DuckDB could not read the other parts)
    data = _copy(world, tmp_path / "bad.duckdb")
    with duckdb.connect(str(data)) as con:
        first = _ids_with(con, "customers", 5)  # the population's first ids: all of part 0 at chunk size 5
        con.execute(
            "INSERT INTO nps_responses (customer_id, answered_at, score) "
            "SELECT unnest($1::VARCHAR[]), TIMESTAMP '2020-01-01', 11",
            [first],
        )
    lenient = BatchScoringSettings(max_bad_row_fraction=0.5)
    result = run_batch(str(data), AS_OF, str(tmp_path / "scores"), models=models, chunk_size=5, settings=lenient)
    assert result.status == "complete"
    assert result.bad_rows == len(first)
    scores = open_score_store(tmp_path / "scores").read_scores()
    assert len(scores) == result.n_customers - len(first)
    assert set(scores["customer_id"]).isdisjoint(first)


def test_too_many_bad_input_rows_fail_the_run_and_keep_the_previous_one_served(
    world: TrainedWorld, models: ModelSet, tmp_path: Path
) -> None:
    target = str(tmp_path / "scores")
    previous = run_batch(str(world.data), AS_OF, target, models=models, chunk_size=700)
    data = _copy(world, tmp_path / "bad.duckdb")
    with duckdb.connect(str(data)) as con:
        victims = _ids_with(con, "transactions", 60)
        con.execute(
            "UPDATE transactions SET amount = -1 WHERE customer_id IN (SELECT unnest($1::VARCHAR[]))", [victims]
        )
    with pytest.raises(ScoreRunError, match="bad rows exceed the threshold") as failure:
        run_batch(str(data), AS_OF, target, models=models, chunk_size=700, settings=BatchScoringSettings())
    message = str(failure.value)
    assert "negative amount" in message
    assert "the previous run is still served" in message
    store = open_score_store(target)
    latest = store.latest_run()
    assert latest is not None
    assert latest["run_id"] == previous.run_id
    assert (store.read_scores()["run_id"] == previous.run_id).all()
    failed = store.get_run(failure.value.record["run_id"])
    assert failed is not None
    assert failed["status"] == "failed"
    assert failed["input_problems"]["customers_set_aside"] == len(victims)


def test_a_whole_column_problem_still_fails_before_any_run(
    world: TrainedWorld, models: ModelSet, tmp_path: Path
) -> None:
    from features.errors import DataContractError

    data = _copy(world, tmp_path / "bad.duckdb")
    with duckdb.connect(str(data)) as con:
        con.execute("ALTER TABLE transactions RENAME COLUMN amount TO amount_eur")
    target = tmp_path / "scores"
    with pytest.raises(DataContractError, match="missing required column 'amount'"):
        run_batch(str(data), AS_OF, str(target), models=models)
    assert open_score_store(target).latest_run() is None


def test_a_model_the_data_cannot_feed_is_refused_naming_the_features(
    world: TrainedWorld, models: ModelSet, tmp_path: Path
) -> None:
    from features.errors import UserInputError

    data = _copy(world, tmp_path / "no_nps.duckdb")
    with duckdb.connect(str(data)) as con:
        con.execute("DROP TABLE nps_responses")
    if not any(n.startswith("nps_") for n in models.churn.spec.names):
        pytest.skip("the trained model uses no NPS feature")
    with pytest.raises(UserInputError, match=r"(?s)does not fit the features of this data.*missing feature 'nps_"):
        run_batch(str(data), AS_OF, str(tmp_path / "scores"), models=models)


def test_screening_is_a_no_op_on_clean_data(world: TrainedWorld) -> None:
    from features.sources import open_source
    from features.validation import rejected_rows, validate_connection

    source = open_source(world.data)
    con = source.connect(validate=False)
    report = validate_connection(con, source)
    assert report.ok
    frame = rejected_rows(con, source, report)
    assert list(frame.columns) == ["table", "row", "customer_id", "reason"]
    assert frame.empty
    assert isinstance(frame, pd.DataFrame)


def test_score_without_as_of_cuts_at_the_latest_accepted_date_not_at_a_future_row(
    world: TrainedWorld, tmp_path: Path
) -> None:
    """`churnltv score` with no --as-of: one event dated 2031 is set aside and does not become the cutoff."""
    from typer.testing import CliRunner

    from churnltv.cli import app as cli
    from features.sources import open_source
    from service.batch_scoring import default_as_of

    clean = open_source(world.data).connect()
    expected = default_as_of(clean)
    clean.close()
    data = _copy(world, tmp_path / "future.duckdb")
    with duckdb.connect(str(data)) as con:
        (customer,) = _ids_with(con, "events", 1, offset=11)
        con.execute("UPDATE events SET occurred_at = TIMESTAMP '2031-07-03 12:00' WHERE rowid = "
                    "(SELECT min(rowid) FROM events WHERE customer_id = $1)", [customer])  # fmt: skip
    target = tmp_path / "scores"
    models = ["--churn-model", str(world.churn_bundle), "--ltv-model", str(world.ltv_bundle)]
    done = CliRunner().invoke(cli, ["score", "--data", str(data), "--output", str(target), *models], env=world.env)
    assert done.exit_code == 0, done.output
    assert f"as of {expected.date()}" in done.output
    run = open_score_store(target).latest_run()
    assert run is not None
    assert pd.Timestamp(run["as_of"]) == expected
    assert run["input_problems"]["customers_set_aside"] == 1
    assert customer in {e["customer_id"] for e in run["bad_rows"]["examples"]}
