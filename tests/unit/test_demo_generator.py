"""The demo generator: deterministic, contract-conform, realistic enough that churn is learnable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from churnltv.cli import app
from churnltv.generator import (
    CORE_EVENT_TYPE,
    MODULES,
    GeneratedBase,
    TruthOracle,
    generate,
    oracle_churn_probability,
    truth_path_for,
)
from features.contract import TABLES, ColumnType
from features.dataset_writer import write_dataset
from features.errors import UserInputError
from features.sources import open_source

END = pd.Timestamp("2026-06-30")
DAY = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def base() -> GeneratedBase:
    return generate(2000, seed=11, end=END)


def test_same_seed_same_frames_different_seed_differs() -> None:
    one, two, other = generate(300, seed=5), generate(300, seed=5), generate(300, seed=6)
    assert one.end == two.end
    for name in one.tables:
        pd.testing.assert_frame_equal(one.tables[name], two.tables[name])
    pd.testing.assert_frame_equal(one.truth, two.truth)
    assert not one.tables["events"]["occurred_at"].equals(other.tables["events"]["occurred_at"])


def test_tables_follow_the_contract(base: GeneratedBase) -> None:
    # campaign_contacts (issue 15) joins when the generator simulates campaigns (after the generator package move)
    assert set(base.tables) == set(TABLES) - {"campaign_contacts"}
    for name, frame in base.tables.items():
        table = TABLES[name]
        assert set(table.required_columns) <= set(frame.columns), name
        unknown = [c for c in frame.columns if c not in table.column_names and not c.startswith("attr_")]
        assert not unknown, (name, unknown)
        assert len(frame) > 0, name
        for col in table.columns:
            if col.name not in frame.columns:
                continue
            values = frame[col.name]
            if not col.nullable:
                assert values.notna().all(), (name, col.name)
            if col.type is ColumnType.TIMESTAMP:
                assert (values.dropna() < base.end).all(), f"{name}.{col.name} has a row at/after the end"
            if col.min_value is not None:
                assert (values.dropna().astype(float) >= col.min_value).all(), (name, col.name)
            if col.max_value is not None:
                assert (values.dropna().astype(float) <= col.max_value).all(), (name, col.name)
            if col.allowed is not None:
                assert set(values.dropna().astype(str)) <= set(col.allowed), (name, col.name)
            if col.references == "customers":
                known = set(base.tables["customers"]["customer_id"])
                assert set(values.astype(str)) <= known, f"{name}.{col.name} has unknown customers"
    assert base.tables["transactions"]["order_id"].is_unique
    assert base.tables["customers"]["customer_id"].is_unique
    assert (base.tables["acquisition_spend"]["month"] < base.end).all()
    spend = base.tables["acquisition_spend"]
    assert not spend.duplicated(["channel", "month"]).any()


def test_written_base_passes_the_loaders_validation(base: GeneratedBase, tmp_path: Path) -> None:
    out = write_dataset(base.tables, tmp_path / "demo.duckdb")
    report = open_source(out, extracted_at=base.end).validate()
    assert report.ok, report.render_text()


def test_truth_never_leaks_into_contract_tables(base: GeneratedBase) -> None:
    hidden = set(base.truth.columns) - {"customer_id", "signup_at", "segment", "acquisition_channel"}
    for name, frame in base.tables.items():
        assert not hidden & set(frame.columns), name
    assert len(base.truth) == len(base.tables["customers"])


def test_events_cover_modules_and_core_actions(base: GeneratedBase) -> None:
    events = base.tables["events"]
    assert set(events["event_type"].astype(str)) == {CORE_EVENT_TYPE, "login", "page_view"}
    core_modules = set(events.loc[events["event_type"] == CORE_EVENT_TYPE, "module"].astype(str))
    assert core_modules == set(MODULES)
    hours = events["occurred_at"].dt.hour.value_counts(normalize=True)
    assert hours.loc[[10, 11]].sum() > 3 * hours.loc[[3, 4]].sum(), "times of day should look human"
    assert 20 < len(events) / len(base.tables["customers"]) < 120


def test_no_events_while_churned(base: GeneratedBase) -> None:
    truth = base.truth.set_index("customer_id")
    events = base.tables["events"]
    joined = truth.reindex(events["customer_id"].astype(str))
    t = events["occurred_at"].to_numpy()
    dormant = (joined["churn_at"].notna().to_numpy() & (t >= joined["churn_at"].to_numpy())) & (
        joined["reactivated_at"].isna().to_numpy() | (t < joined["reactivated_at"].to_numpy())
    )
    after_final = joined["final_churn_at"].notna().to_numpy() & (t >= joined["final_churn_at"].to_numpy())
    assert not dormant.any()
    assert not after_final.any()
    assert (t >= joined["signup_at"].to_numpy()).all()
    assert truth["reactivated_at"].notna().sum() > 0, "some churned customers come back"


def _events_in(events: pd.DataFrame, ids: pd.Index, start: pd.Series, stop: pd.Series) -> pd.Series:
    frame = events[["customer_id", "occurred_at"]].assign(customer_id=events["customer_id"].astype(str))
    frame = frame[frame["customer_id"].isin(ids)]
    lo = start.reindex(frame["customer_id"]).to_numpy()
    hi = stop.reindex(frame["customer_id"]).to_numpy()
    inside = (frame["occurred_at"].to_numpy() >= lo) & (frame["occurred_at"].to_numpy() < hi)
    return frame[inside].groupby("customer_id").size().reindex(ids, fill_value=0)


def test_churners_are_less_active_before_churn_than_survivors(base: GeneratedBase) -> None:
    truth = base.truth.set_index("customer_id")
    tenure_ok = truth["signup_at"] < base.end - 120 * DAY
    churners = truth.index[truth["churn_at"].notna() & (truth["churn_at"] - truth["signup_at"] > 60 * DAY)]
    survivors = truth.index[truth["churn_at"].isna() & tenure_ok]
    churn_at = truth.loc[churners, "churn_at"]
    before = _events_in(base.tables["events"], churners, churn_at - 30 * DAY, churn_at)
    end = pd.Series(base.end, index=survivors)
    recent = _events_in(base.tables["events"], survivors, end - 30 * DAY, end)
    assert len(churners) > 100
    assert len(survivors) > 100
    assert before.mean() < 0.6 * recent.mean()


def test_detractors_churn_more_than_promoters(base: GeneratedBase) -> None:
    nps = base.tables["nps_responses"].sort_values("answered_at").drop_duplicates("customer_id")
    truth = base.truth.set_index("customer_id").reindex(nps["customer_id"])
    churn = truth["churn_at"].to_numpy()
    answered = nps["answered_at"].to_numpy()
    churned_soon = ~pd.isna(churn) & (churn < answered + np.timedelta64(120, "D"))
    detractor = nps["score"].to_numpy() <= 6
    promoter = nps["score"].to_numpy() >= 9
    assert detractor.sum() > 30
    assert promoter.sum() > 30
    assert churned_soon[detractor].mean() > 1.5 * churned_soon[promoter].mean()


def test_b2b_users_share_accounts(base: GeneratedBase) -> None:
    customers = base.tables["customers"]
    b2b = customers[customers["segment"] == "b2b"]
    b2c = customers[customers["segment"] == "b2c"]
    assert 0.1 < len(b2b) / len(customers) < 0.3
    assert b2b["account_id"].notna().all()
    assert b2c["account_id"].isna().all()
    sizes = b2b.groupby("account_id").size()
    assert sizes.max() > 1
    assert sizes.max() <= 20
    assert (sizes > 1).sum() > 10
    assert (b2b.groupby("account_id")["acquisition_channel"].nunique() == 1).all()


def test_aha_customers_show_early_core_actions(base: GeneratedBase) -> None:
    events = base.tables["events"]
    core = events[events["event_type"] == CORE_EVENT_TYPE]
    truth = base.truth.set_index("customer_id")
    signup = truth["signup_at"].reindex(core["customer_id"].astype(str)).to_numpy()
    early = core[(core["occurred_at"].to_numpy() - signup) < np.timedelta64(7, "D")]
    counts = early.groupby(early["customer_id"].astype(str)).size().reindex(truth.index, fill_value=0)
    reached = counts >= 3
    assert reached[truth["aha"]].mean() > 0.95
    assert reached[~truth["aha"]].mean() < 0.3


def test_purchases_and_subscriptions_are_plausible(base: GeneratedBase) -> None:
    txn = base.tables["transactions"]
    per_customer = txn.groupby(txn["customer_id"].astype(str), observed=True).size()
    assert per_customer.var() > per_customer.mean(), "gamma-mixed Poisson purchases are overdispersed"
    assert 10 < txn["amount"].mean() < 200
    subs = base.tables["subscriptions"]
    share = subs["customer_id"].nunique() / len(base.tables["customers"])
    assert 0.2 < share < 0.4
    assert (subs["ended_at"].isna() | (subs["ended_at"] > subs["started_at"])).all()
    tickets = base.tables["support_tickets"]
    assert tickets["resolved_at"].isna().any()
    assert tickets["resolved_at"].notna().any()
    referrals = base.tables["referrals"]
    assert referrals.duplicated(["referrer_id", "device_id"]).any(), "some referral fraud rows share a device"


def test_oracle_probability_is_calibrated_and_ranks_churners(base: GeneratedBase) -> None:
    as_of, horizon = pd.Timestamp("2026-03-01"), 30
    prob = oracle_churn_probability(base.truth, as_of, horizon)
    truth = base.truth.set_index("customer_id")
    assert prob.index.equals(truth.index)
    signed = truth["signup_at"] < as_of
    assert prob[signed].between(0.0, 1.0).all()
    assert prob[~signed].isna().all()
    churn = truth["churn_at"]
    alive = signed & (churn.isna() | (churn >= as_of))
    realised = (churn >= as_of) & (churn < as_of + horizon * DAY)
    auc = roc_auc_score(realised[alive], prob[alive])
    assert auc > 0.7
    rate = realised[alive].mean()
    assert 0.05 < rate < 0.15
    assert abs(prob[alive].mean() - rate) < 0.035
    gone = signed & churn.notna() & (churn < as_of) & truth["reactivated_at"].isna()
    assert (prob[gone] > 0.5).all()
    subset = oracle_churn_probability(base.truth, as_of, horizon, customer_ids=list(truth.index[:5][::-1]))
    assert list(subset.index) == list(truth.index[:5][::-1])
    assert np.allclose(subset.to_numpy(), prob.loc[subset.index].to_numpy(), equal_nan=True)


def test_oracle_grows_with_the_horizon_for_the_living_and_shrinks_for_the_gone(base: GeneratedBase) -> None:
    as_of = pd.Timestamp("2026-01-15")
    short = oracle_churn_probability(base.truth, as_of, 7)
    long = oracle_churn_probability(base.truth, as_of, 60)
    truth = base.truth.set_index("customer_id")
    churn = truth["churn_at"]
    alive = (truth["signup_at"] < as_of) & (churn.isna() | (churn >= as_of))
    assert (long[alive] >= short[alive] - 1e-12).all()
    assert long[alive].mean() > 3 * short[alive].mean()
    # a customer who left may come back; the longer the window, the likelier
    dormant = churn.notna() & (churn < as_of) & (truth["reactivated_at"].isna() | (truth["reactivated_at"] >= as_of))
    assert (long[dormant] <= short[dormant] + 1e-12).all()


def test_bad_arguments_are_user_errors() -> None:
    with pytest.raises(UserInputError, match="at least 1"):
        generate(0)


def test_truth_path_sits_next_to_the_dataset(tmp_path: Path) -> None:
    assert truth_path_for(tmp_path / "demo.duckdb") == tmp_path / "demo.truth.parquet"
    assert truth_path_for(tmp_path / "demo") == tmp_path / "demo.truth.parquet"


def test_cli_generate_writes_dataset_and_truth(tmp_path: Path) -> None:
    out = tmp_path / "base.duckdb"
    result = CliRunner().invoke(app, ["generate", "--customers", "300", "--seed", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert truth_path_for(out).is_file()
    assert "events" in result.output
    assert "churn" in result.output
    truth = pd.read_parquet(truth_path_for(out))
    assert len(truth) == 300
    con = open_source(out, extracted_at="2026-06-30").connect()
    assert con.execute("SELECT count(*) FROM customers").fetchone() == (300,)
    assert f"--truth {truth_path_for(out)}" in result.output  # says how to hand the truth to training


def test_truth_oracle_reads_the_written_truth_and_matches_the_oracle(base: GeneratedBase, tmp_path: Path) -> None:
    path = tmp_path / "demo.truth.parquet"
    base.truth.to_parquet(path)
    oracle = TruthOracle.read(path)
    assert oracle.source == str(path)
    as_of = END - 60 * DAY
    ids = base.truth.loc[base.truth["signup_at"] < as_of, "customer_id"].tolist()[:50][::-1]
    got = oracle.churn_probability(as_of, 30, ids)
    assert list(got.index) == ids
    pd.testing.assert_series_equal(got, oracle_churn_probability(base.truth, as_of, 30, customer_ids=ids))


def test_truth_oracle_names_a_bad_file_or_a_foreign_customer(base: GeneratedBase, tmp_path: Path) -> None:
    with pytest.raises(UserInputError, match=r"absent\.parquet: truth file not found"):
        TruthOracle.read(tmp_path / "absent.parquet")
    garbage = tmp_path / "garbage.parquet"
    garbage.write_text("not parquet")
    with pytest.raises(UserInputError, match=r"garbage\.parquet: not a truth file .*cannot read Parquet"):
        TruthOracle.read(garbage)
    partial = tmp_path / "partial.parquet"
    base.truth.drop(columns=["base_hazard_per_day", "churn_at"]).to_parquet(partial)
    with pytest.raises(UserInputError, match=r"partial\.parquet: .*missing column\(s\) churn_at, base_hazard_per_day"):
        TruthOracle.read(partial)
    oracle = TruthOracle(base.truth, source="the 2000-customer base")
    with pytest.raises(UserInputError, match=r"the 2000-customer base: 1 of 2 customer\(s\) .* 'C9999999'"):
        oracle.churn_probability(END, 30, ["C0000001", "C9999999"])


def test_cli_train_refuses_a_truth_file_that_is_not_one(tmp_path: Path) -> None:
    garbage = tmp_path / "x.truth.parquet"
    garbage.write_text("not parquet")
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--truth", str(garbage)])
    assert result.exit_code == 2, result.output
    assert f"{garbage}: not a truth file" in result.output
    assert "Traceback" not in result.output


def test_cli_generate_csv_directory_and_bad_format(tmp_path: Path) -> None:
    out = tmp_path / "csvbase"
    runner = CliRunner()
    ok = runner.invoke(
        app, ["generate", "--customers", "50", "--out", str(out), "--format", "csv", "--end", "2025-01-01"]
    )
    assert ok.exit_code == 0, ok.output
    assert (out / "events.csv").is_file()
    assert (out / "customers.csv").is_file()
    events = pd.read_csv(out / "events.csv", parse_dates=["occurred_at"])
    assert events["occurred_at"].max() < pd.Timestamp("2025-01-01")
    bad = runner.invoke(app, ["generate", "--customers", "50", "--out", str(tmp_path / "x"), "--format", "xml"])
    assert bad.exit_code == 2
    assert "xml" in bad.output
