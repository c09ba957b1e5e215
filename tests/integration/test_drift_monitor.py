"""Drift monitor: PSI arithmetic and bands, and a full run against the session's champion models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_batch_scoring import World, build_world

from training.drift_monitor import (
    MONITOR_EXPERIMENT,
    band_for,
    expected_calibration_error,
    population_stability_index,
    psi_band,
    run_drift_monitor,
)
from training.settings import TrainingSettings


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=20_000)
    b = rng.normal(size=20_000)
    assert population_stability_index(a, b) < 0.01
    assert population_stability_index(a, b + 1.0) > 0.2
    assert psi_band(population_stability_index(a, b + 1.0)) == "alert"


def test_psi_by_hand_with_missing_values_and_categories() -> None:
    # reference: 50% x, 50% y; current: 25% x, 75% y -> (0.25-0.5) ln(0.5) + (0.75-0.5) ln(1.5)
    ref = ["x", "y"] * 50
    cur = ["x"] * 25 + ["y"] * 75
    expected = (0.25 - 0.5) * np.log(0.25 / 0.5) + (0.75 - 0.5) * np.log(0.75 / 0.5)
    assert population_stability_index(ref, cur, categorical=True) == pytest.approx(expected)
    # missing values are a bin of their own: a feature going missing is drift
    nums = pd.Series(np.arange(100, dtype=float))
    gone = nums.copy()
    gone[:50] = np.nan
    assert population_stability_index(nums, gone) > 0.2


def test_bands_follow_the_issue_thresholds() -> None:
    assert psi_band(0.05) == "stable"
    assert psi_band(0.1) == "watch"
    assert psi_band(0.2) == "watch"
    assert psi_band(0.21) == "alert"
    assert band_for(float("nan"), 0.1, 0.2) == "stable"


def test_expected_calibration_error_by_hand() -> None:
    # two bins: p=0.1 with 0/2 positives (|0-0.1|), p=0.9 with 2/2 positives (|1-0.9|) -> 0.1
    assert expected_calibration_error([0, 0, 1, 1], [0.1, 0.1, 0.9, 0.9]) == pytest.approx(0.1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.getbasetemp())


@pytest.mark.slow
def test_monitor_run_writes_report_and_logs_to_mlflow(world: World, tmp_path: Path) -> None:
    import mlflow

    settings = TrainingSettings()
    report = run_drift_monitor(str(world.data), "2026-06-30", settings=settings, out_dir=tmp_path / "m")
    assert report.n_current > 0
    assert report.n_reference > 0
    assert pd.Timestamp(report.reference_as_of) < pd.Timestamp("2026-06-30")
    assert report.features
    assert all(f["band"] in ("stable", "watch", "alert") for f in report.features)
    assert np.isfinite(report.score["psi"])
    assert report.status in ("stable", "watch", "alert")
    if world.ltv_bundle is not None:
        # the session's LTV model is fitted on all the data, so there is no "since the fit" yet
        assert report.btyd is not None
        assert "skipped" in report.btyd or report.btyd["predicted_purchases"] > 0
    assert report.calibration is not None
    assert "ece" in report.calibration or "skipped" in report.calibration
    saved = json.loads((tmp_path / "m" / "drift.json").read_text())
    assert saved["status"] == report.status
    assert "<h1>Drift as of" in (tmp_path / "m" / "drift.html").read_text()
    run = mlflow.get_run(report.mlflow_run_id)
    assert run.data.metrics["psi_score"] == pytest.approx(report.score["psi"])
    exp = mlflow.get_experiment(run.info.experiment_id)
    assert exp.name == MONITOR_EXPERIMENT


@pytest.mark.slow
def test_monitor_cli_exits_1_on_alert(world: World, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from churnltv.cli import app

    # a reference taken when the base was young: tenure and activity distributions have moved a lot since
    args = ["monitor", "--data", str(world.data), "--as-of", "2026-06-30", "--reference-as-of", "2025-01-15"]
    args += ["--out", str(tmp_path / "m"), "--no-mlflow"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "alert" in result.output
    assert json.loads((tmp_path / "m" / "drift.json").read_text())["status"] == "alert"


@pytest.mark.slow
def test_btyd_check_compares_predicted_and_actual_purchases(world: World) -> None:
    from features.sources import open_source
    from models.customer_value import LtvPredictor
    from training.drift_monitor import _btyd_check

    if world.ltv_bundle is None:
        pytest.skip("no LTV model in this checkout")
    fitted = pd.Timestamp(LtvPredictor.from_bundle(world.ltv_bundle).metadata["as_of"])
    con = open_source(world.data).connect()
    # 60 days after the fit: the model expects purchases, the data (which ends at the fit) has none -> alert
    check = _btyd_check(con, world.ltv_bundle, fitted + pd.Timedelta(days=60))
    con.close()
    assert check["period_days"] == 60
    assert check["predicted_purchases"] > 0
    assert check["actual_purchases"] == 0
    assert check["relative_error"] == pytest.approx(1.0)
    assert check["band"] == "alert"
