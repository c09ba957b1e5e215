"""Issue 4, "works on any data in the contract": the churn job trained end to end on bases our generator's defaults
do not look like. Each case writes a base, runs ``train_churn`` into the session's temporary MLflow store (see
tests/conftest.py) and checks the job completed, the holdout AUC is useful and every logged metric is finite:

* only customers + events (no transactions, NPS, tickets or subscriptions): the left-out features are named with
  their reason and no feature column pretends to be data with zeros;
* customers + events + subscriptions with the contractual churn definition;
* event timestamps floored to the day, and to the hour;
* a base with ~2% churn and one with ~40% (generator knobs ``hazard_scale`` and ``activity_scale``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from churnltv.generator import GeneratedBase, TruthOracle, generate, truth_path_for
from features.dataset_writer import write_dataset
from features.settings import FeatureSettings
from features.sources import open_source
from models.churn_bundle import ChurnBundle
from training.churn_job import ChurnTrainResult, train_churn
from training.churn_split import training_frame
from training.settings import TrainingSettings

MODEL_TABLES = ("customers", "events", "transactions", "subscriptions", "nps_responses", "support_tickets")

pytestmark = pytest.mark.slow  # each case generates a base and trains (about 3-8 s)


@dataclass(frozen=True)
class Trained:
    data: Path
    result: ChurnTrainResult
    bundle: ChurnBundle
    feature_settings: FeatureSettings


def _train(
    tmp_path: Path,
    base: GeneratedBase,
    tables: tuple[str, ...],
    *,
    feature_settings: FeatureSettings | None = None,
    floor: str | None = None,
    with_truth: bool = False,
) -> Trained:
    chosen = {name: base.tables[name].copy() for name in tables}
    if floor is not None:  # a source that only records dates (or hours)
        for name, column in (("customers", "signup_at"), ("events", "occurred_at"), ("transactions", "occurred_at")):
            if name in chosen:
                chosen[name][column] = pd.to_datetime(chosen[name][column]).dt.floor(floor)
    data = write_dataset(chosen, tmp_path / "base.duckdb")
    # the truth always sits next to the data, as `churnltv generate` leaves it: training must not pick it up unasked
    base.truth.to_parquet(truth_path_for(Path(data)))
    oracle = TruthOracle(base.truth) if with_truth else None
    fs = feature_settings or FeatureSettings()
    result = train_churn(str(data), TrainingSettings(), fs, n_cutoffs=4, time_budget=5, oracle=oracle)
    return Trained(Path(data), result, ChurnBundle.load(result.bundle_dir), fs)


def _assert_healthy(trained: Trained) -> dict[str, float]:
    """Completed, registered, useful and finite: what every case must satisfy."""
    m = trained.result.metrics
    bad = {k: v for k, v in m.items() if not np.isfinite(v)}
    assert not bad, f"non-finite metrics: {bad}"
    for name in ("test_roc_auc", "test_pr_auc", "test_brier", "test_log_loss", "test_ece", "test_lift_at_10pct"):
        assert name in m, name
    auc = m["test_roc_auc"]
    assert auc > 0.6, m
    assert auc > m["baseline_recency_test_roc_auc"] or auc > 0.6
    assert m["test_roc_auc_ci_low"] <= auc <= m["test_roc_auc_ci_high"]
    # issue 14: the chosen model is never below rfm_logistic by more than the paired interval allows
    assert m["baseline_rfm_logistic_auc_diff_ci_high"] >= 0.0, (trained.result.selected_candidate, m)
    run = mlflow.get_run(trained.result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["test_roc_auc"] == pytest.approx(auc)
    assert trained.result.version
    return m


def _test_window(trained: Trained) -> pd.DataFrame:
    con = open_source(str(trained.data)).connect()
    cutoff = pd.Timestamp(trained.bundle.metadata["cutoffs"]["test"])
    frame, _ = training_frame(con, [cutoff], trained.feature_settings)
    return frame


def test_customers_and_events_only(tmp_path: Path) -> None:
    trained = _train(tmp_path, generate(2500, seed=21), ("customers", "events"))
    m = _assert_healthy(trained)
    spec = trained.bundle.spec
    left_out = {
        "txn_count_90d": "no transactions table",
        "btyd_frequency": "no transactions table",
        "sub_active": "no subscriptions table",
        "nps_last": "no nps_responses table",
        "tickets_90d": "no support_tickets table",
        "ticket_satisfaction_mean": "no support_tickets table",
    }
    for name, reason in left_out.items():
        assert spec.absent.get(name) == reason, name
    assert not set(spec.absent) & set(trained.bundle.names)
    assert {f.source for f in spec.features} <= {"customers", "events", "customers.account_id"}
    # no feature column that is nothing but zeros (what "filled with zeros that pretend to be data" would look like)
    frame = _test_window(trained)
    numeric = [n for n in spec.names if n not in spec.categorical]
    all_zero = [n for n in numeric if bool((frame[n].fillna(0) == 0).all())]
    assert not all_zero, all_zero
    params = mlflow.get_run(trained.result.run_id).data.params
    assert "txn_count_90d" in params["features_left_out"]
    assert "baseline_btyd_test_roc_auc" not in m  # skipped, with its reason recorded
    evaluation = mlflow.artifacts.load_dict(f"runs:/{trained.result.run_id}/evaluation.json")
    assert evaluation["baselines"]["btyd"]["note"] == "skipped: no transactions table"
    # the truth file next to the data was not passed, so there is no oracle (training never sniffs for it)
    assert evaluation["oracle"] is None
    assert not [k for k in m if k.startswith("oracle_")]


def test_contractual_churn_with_subscriptions(tmp_path: Path) -> None:
    fs = FeatureSettings(churn_definition="contractual")
    trained = _train(tmp_path, generate(6000, seed=22), ("customers", "events", "subscriptions"), feature_settings=fs)
    m = _assert_healthy(trained)
    assert trained.bundle.metadata["churn_definition"] == "contractual"
    spec = trained.bundle.spec
    assert "sub_mrr" in spec.names
    assert spec.absent["txn_count_90d"] == "no transactions table"
    # the population is the subscribers active at the cutoff, every one of them
    frame = _test_window(trained)
    assert bool((frame["sub_active"] == 1).all())
    assert m["test_rows"] == len(frame)


def test_auto_definition_picks_contractual_for_a_subscription_base(tmp_path: Path) -> None:
    base = generate(6000, seed=22)
    subscribers = set(base.tables["subscriptions"]["customer_id"])
    only = {
        name: base.tables[name][base.tables[name]["customer_id"].isin(subscribers)].reset_index(drop=True)
        for name in ("customers", "events", "subscriptions")
    }
    trained = _train(
        tmp_path, GeneratedBase(tables=only, truth=base.truth, end=base.end), ("customers", "events", "subscriptions")
    )
    _assert_healthy(trained)
    assert trained.result.churn_definition == "contractual"
    assert "100% of customers have a subscription" in trained.result.churn_definition_reason
    meta = trained.bundle.metadata
    assert meta["churn_definition"] == meta["feature_settings"]["churn_definition"] == "contractual"
    run = mlflow.get_run(trained.result.run_id)
    assert run.data.params["churn_definition"] == "contractual"
    assert run.data.tags["churnltv.churn_definition_reason"] == trained.result.churn_definition_reason
    assert "Churn definition <strong>contractual</strong>" in trained.result.report_path.read_text()
    # the population is the subscribers active at the cutoff
    assert bool((_test_window(trained)["sub_active"] == 1).all())


def test_a_label_known_at_the_cutoff_raises_the_leakage_alarm(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A support ticket opened the day before each cutoff by exactly the customers who churn after it (as a
    cancellation request would be): tickets_open alone ranks the holdout's churners perfectly."""
    import duckdb

    from features.labels import build_labels, default_cutoffs

    base = generate(2500, seed=26)
    plain = write_dataset({k: base.tables[k] for k in ("customers", "events")}, tmp_path / "plain.duckdb")
    con = duckdb.connect(str(plain), read_only=True)
    cutoffs = default_cutoffs(con, FeatureSettings(), n=4)
    labels = build_labels(con, cutoffs, FeatureSettings())
    con.close()
    churned = labels[labels["churned"] == 1]
    tickets = pd.DataFrame(
        {
            "customer_id": churned["customer_id"].to_numpy(),
            "opened_at": churned["as_of"] - pd.Timedelta(days=1),
            "resolved_at": churned["as_of"] + pd.Timedelta(days=2),
            "satisfaction": pd.array([None] * len(churned), dtype="Int64"),
        }
    )
    tables = {"customers": base.tables["customers"], "events": base.tables["events"], "support_tickets": tickets}
    leaky = GeneratedBase(tables=tables, truth=base.truth, end=base.end)
    with caplog.at_level("WARNING", logger="training"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trained = _train(tmp_path, leaky, ("customers", "events", "support_tickets"))
    # nothing but the product's own messages: no numpy RuntimeWarning (e.g. "All-NaN slice" from a column that
    # is missing everywhere, here ticket_satisfaction_mean) reaches the terminal
    stray = [
        f"{w.category.__name__}: {w.message} ({w.filename})" for w in caught if issubclass(w.category, RuntimeWarning)
    ]
    assert not stray, stray
    found = trained.result.warnings
    assert len(found) == 1
    assert "label nearly known at the cutoff: feature tickets_open alone reaches holdout ROC-AUC 1.0000" in found[0]
    assert any(r.levelname == "WARNING" and "label nearly known" in r.getMessage() for r in caplog.records)
    assert trained.result.metrics["max_single_feature_test_roc_auc"] == 1.0
    assert trained.bundle.metadata["warnings"] == list(found)
    tags = mlflow.get_run(trained.result.run_id).data.tags
    assert tags["churnltv.leakage_alarm"] == "true"
    page = trained.result.report_path.read_text()
    assert "<strong>WARNING:</strong> label nearly known at the cutoff" in page


def test_no_leakage_alarm_on_an_honest_base(tmp_path: Path) -> None:
    trained = _train(tmp_path, generate(2500, seed=21), ("customers", "events"))
    assert trained.result.warnings == ()
    assert mlflow.get_run(trained.result.run_id).data.tags["churnltv.leakage_alarm"] == "false"
    assert "WARNING" not in trained.result.report_path.read_text()


def test_a_selected_linear_model_is_logged_registered_and_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the logistic candidate wins, the registered model is plain linear_model.json and serves like LightGBM."""
    from models.bundle_source import resolve_bundle
    from training import churn_selection, registry

    only_linear = [c for c in churn_selection.candidates(0) if c.kind == "logistic"][:1]
    monkeypatch.setattr(churn_selection, "candidates", lambda churners: only_linear)
    trained = _train(tmp_path, generate(2500, seed=27), ("customers", "events", "transactions"))
    _assert_healthy(trained)
    assert trained.result.selected_candidate == "logistic_C0.1"
    assert trained.bundle.model_kind == "logistic"
    assert not (trained.result.bundle_dir / "model.txt").exists()
    params = mlflow.get_run(trained.result.run_id).data.params
    assert (params["selected_candidate"], params["model_kind"]) == ("logistic_C0.1", "logistic")
    frame = _test_window(trained)
    local = trained.bundle.predict_proba(frame)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{registry.CHURN_MODEL}/{trained.result.version}")
    served = pyfunc.predict(frame.drop(columns="churned"))["churn_probability"].to_numpy()
    np.testing.assert_allclose(served, local, rtol=0, atol=1e-12)
    registered = ChurnBundle.load(
        resolve_bundle(f"models:/{registry.CHURN_MODEL}/{trained.result.version}", default_name=registry.CHURN_MODEL)
    )
    assert registered.model_kind == "logistic"


@pytest.mark.parametrize("floor", ["D", "h"])
def test_daily_and_hourly_timestamps(tmp_path: Path, floor: str) -> None:
    trained = _train(tmp_path, generate(2500, seed=23), ("customers", "events", "transactions"), floor=floor)
    m = _assert_healthy(trained)
    assert m["test_roc_auc"] > m["baseline_recency_test_roc_auc"]
    con = open_source(str(trained.data)).connect()
    times = con.execute("SELECT occurred_at FROM events USING SAMPLE 2000 ROWS (reservoir, 1)").df()["occurred_at"]
    assert bool((times == times.dt.floor(floor)).all())
    if floor == "D":
        assert bool((times.dt.hour == 0).all())


@pytest.mark.parametrize(
    ("hazard_scale", "activity_scale", "low", "high"),
    [(0.01, 20.0, 0.01, 0.035), (4.0, 0.8, 0.35, 0.45)],
    ids=["churn-2pct", "churn-40pct"],
)
def test_rare_and_frequent_churn(
    tmp_path: Path, hazard_scale: float, activity_scale: float, low: float, high: float
) -> None:
    base = generate(3000, seed=24, hazard_scale=hazard_scale, activity_scale=activity_scale)
    trained = _train(tmp_path, base, MODEL_TABLES, with_truth=True)
    m = _assert_healthy(trained)
    assert low <= m["test_churn_rate"] <= high, m["test_churn_rate"]
    rates = trained.bundle.metadata["churn_rate"]
    assert low <= rates["train"] <= high
    assert low <= rates["validation"] <= high
    # the generator's oracle comes from the same knobs (the injected truth), so the ratio stays meaningful
    assert m["oracle_test_roc_auc"] > 0.6
    assert m["test_roc_auc"] > m["baseline_recency_test_roc_auc"]


def test_wall_clock_cap_is_recorded_when_it_stops_the_search(tmp_path: Path) -> None:
    data = write_dataset(
        {k: v for k, v in generate(1500, seed=25).tables.items() if k in MODEL_TABLES}, tmp_path / "b.duckdb"
    )
    settings = TrainingSettings(tuning_budget_seconds=1e9)
    capped = train_churn(str(data), settings, FeatureSettings(), n_cutoffs=4, wall_clock_cap=1e-6)
    run = mlflow.get_run(capped.run_id)
    assert run.data.params["tuning_stopped_by"] == "wall_clock_cap"
    assert run.data.params["n_candidates_tried"] == "1"
    assert run.data.params["tuning_wall_clock_cap_seconds"] == "1e-06"
    assert run.data.tags["churnltv.tuning_wall_clock_cap_hit"] == "true"
    meta = ChurnBundle.load(capped.bundle_dir).metadata["tuning"]
    assert meta["stopped_by"] == "wall_clock_cap"
    assert meta["wall_seconds"] > meta["wall_clock_cap_seconds"]
    # the default cap does not fire on a small base: the search is decided by the nominal budget alone
    free = train_churn(str(data), settings, FeatureSettings(), n_cutoffs=4)
    params = mlflow.get_run(free.run_id).data.params
    assert params["tuning_stopped_by"] == "search_space_exhausted"
    assert mlflow.get_run(free.run_id).data.tags["churnltv.tuning_wall_clock_cap_hit"] == "false"
