"""Drift monitor: PSI arithmetic and bands, settings, exit codes, and full runs against the world's champions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from support.world import TrainedWorld
from training.drift_monitor import (
    MONITOR_EXPERIMENT,
    DriftReport,
    band_for,
    calibration_drift,
    expected_calibration_error,
    latest_drift_report,
    population_stability_index,
    psi_band,
    run_drift_monitor,
    write_report,
)
from training.monitor_settings import MonitorSettings, load_monitor_settings
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


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), None])
def test_a_statistic_that_is_not_a_finite_number_is_an_alert(value: float | None) -> None:
    assert band_for(value, 0.1, 0.2) == "alert"
    assert psi_band(float("nan")) == "alert"


def test_band_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    limits = MonitorSettings()
    assert (limits.psi_watch, limits.psi_alert) == (0.1, 0.2)
    assert (limits.calibration_watch, limits.calibration_alert) == (0.02, 0.05)
    monkeypatch.setenv("CHURNLTV_MONITOR_PSI_ALERT", "0.5")
    loose = load_monitor_settings()
    assert psi_band(0.3, loose) == "watch"
    assert psi_band(0.3) == "watch"  # limits not passed: read from the environment
    assert psi_band(0.3, MonitorSettings(psi_alert=0.2)) == "alert"
    monkeypatch.setenv("CHURNLTV_MONITOR_PSI_WATCH", "0.6")
    with pytest.raises(UserInputError, match=r"psi_watch \(0\.6\) must not exceed psi_alert \(0\.5\)"):
        load_monitor_settings()
    monkeypatch.setenv("CHURNLTV_MONITOR_PSI_WATCH", "-1")
    with pytest.raises(UserInputError, match=r"psi_watch \(CHURNLTV_MONITOR_PSI_WATCH\)"):
        load_monitor_settings()


def test_calibration_drift_bands_the_rise_over_the_holdout_ece() -> None:
    limits = MonitorSettings()
    assert calibration_drift(0.03, 0.02, limits)["band"] == "stable"  # +0.01
    assert calibration_drift(0.05, 0.02, limits)["band"] == "watch"  # +0.03
    worse = calibration_drift(0.30, 0.02, limits)
    assert worse["band"] == "alert"
    assert worse["ece_increase"] == pytest.approx(0.28)
    # an absolute ECE of 0.06 is only an alert when the model used to do better
    assert calibration_drift(0.06, 0.05, limits)["band"] == "stable"
    assert calibration_drift(0.01, 0.04, limits)["band"] == "stable"  # better calibrated than at training
    unknown = calibration_drift(0.01, None, limits)
    assert unknown["band"] == "alert"
    assert "no finite ECE" in unknown["reason"]
    assert calibration_drift(float("nan"), 0.02, limits)["band"] == "alert"


def test_non_finite_statistics_are_written_as_strict_json(tmp_path: Path) -> None:
    report = DriftReport(
        as_of="2026-01-01",
        reference_as_of="2025-12-01",
        source="x",
        churn_model={},
        n_reference=1,
        n_current=1,
        features=[{"feature": "f", "psi": float("nan"), "band": "alert"}],
        score={"psi": 0.0, "band": "stable"},
        btyd={"relative_error": float("inf"), "band": "alert"},
        calibration=None,
        status="alert",
    )
    files = write_report(report, tmp_path)
    text = Path(files["json"]).read_text()
    assert "NaN" not in text
    assert "Infinity" not in text
    saved = json.loads(text)
    assert saved["features"][0]["psi"] is None
    assert saved["btyd"]["relative_error"] is None


def test_expected_calibration_error_by_hand() -> None:
    # two bins: p=0.1 with 0/2 positives (|0-0.1|), p=0.9 with 2/2 positives (|1-0.9|) -> 0.1
    assert expected_calibration_error([0, 0, 1, 1], [0.1, 0.1, 0.9, 0.9]) == pytest.approx(0.1)


@pytest.fixture(scope="module")
def world(trained_world: TrainedWorld) -> TrainedWorld:
    return trained_world


def _champions(world: TrainedWorld) -> dict[str, str]:
    """The world's champions as bundle directories: the session store's aliases belong to other tests."""
    return {"churn_ref": str(world.churn_bundle), "ltv_ref": str(world.ltv_bundle)}


@pytest.mark.slow
def test_monitor_run_writes_report_and_logs_to_mlflow(world: TrainedWorld, tmp_path: Path) -> None:
    import mlflow

    settings = TrainingSettings()
    report = run_drift_monitor(
        str(world.data), "2026-06-30", settings=settings, out_dir=tmp_path / "m", **_champions(world)
    )
    assert report.n_current > 0
    assert report.n_reference > 0
    assert pd.Timestamp(report.reference_as_of) < pd.Timestamp("2026-06-30")
    assert report.features
    assert all(f["band"] in ("stable", "watch", "alert") for f in report.features)
    assert np.isfinite(report.score["psi"])
    assert report.status in ("stable", "watch", "alert")
    # the world's LTV model is fitted on all the data, so there is no "since the fit" yet
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
    # what `churnltv report` reads: the latest monitor run's drift.json
    latest = latest_drift_report(settings.tracking_uri)
    assert latest is not None
    assert latest["mlflow_run_id"] == report.mlflow_run_id
    assert latest["status"] == report.status
    assert latest["limits"]["psi_alert"] == 0.2


def _data_end(world: TrainedWorld) -> pd.Timestamp:
    from features.labels import data_time_range
    from features.sources import open_source

    source = open_source(world.data)
    con = source.connect()
    try:
        return data_time_range(con)[1].floor("D")
    finally:
        con.close()
        source.close()


@pytest.mark.slow
def test_calibration_is_checked_against_the_holdout_when_labels_have_matured(
    world: TrainedWorld, tmp_path: Path
) -> None:
    from models.churn_bundle import ChurnBundle

    as_of = _data_end(world)  # as_of - horizon has matured labels by construction
    report = run_drift_monitor(
        str(world.data),
        as_of,
        settings=TrainingSettings(),
        out_dir=tmp_path / "m",
        log_to_mlflow=False,
        **_champions(world),
    )
    calibration = report.calibration
    assert calibration is not None
    assert "skipped" not in calibration, calibration
    assert calibration["customers"] > 100
    assert 0.0 <= calibration["ece"] < 1.0
    holdout_ece = ChurnBundle.load(world.churn_bundle).metadata["metrics"]["test_ece"]
    assert calibration["reference_ece"] == pytest.approx(holdout_ece)
    assert calibration["ece_increase"] == pytest.approx(calibration["ece"] - holdout_ece)
    assert calibration["band"] in ("stable", "watch", "alert")
    assert pd.Timestamp(calibration["cutoff"]) == as_of - pd.Timedelta(days=30)
    if "note" in calibration:  # the matured cutoff is the training test window: same rows, same definition
        assert calibration["ece"] == pytest.approx(holdout_ece, abs=1e-9)


@pytest.mark.slow
def test_monitor_cli_exits_0_on_a_stable_run(world: TrainedWorld, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from churnltv.cli import app

    # one day apart on the same base: nothing can have drifted; the LTV model has nothing to compare yet
    as_of = _data_end(world)
    args = ["monitor", "--data", str(world.data), "--as-of", str(as_of.date())]
    args += ["--reference-as-of", str((as_of - pd.Timedelta(days=1)).date()), "--out", str(tmp_path / "m")]
    args += ["--churn-model", str(world.churn_bundle), "--ltv-model", str(world.ltv_bundle)]
    result = CliRunner().invoke(app, [*args, "--no-mlflow"])
    saved = json.loads((tmp_path / "m" / "drift.json").read_text())
    assert result.exit_code == 0, (result.output, saved["features"][:3], saved["calibration"])
    assert saved["status"] in ("stable", "watch")
    assert max(f["psi"] for f in saved["features"]) < 0.2


@pytest.mark.slow
def test_monitor_cli_exits_1_on_alert(world: TrainedWorld, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from churnltv.cli import app

    # a reference taken when the base was young: tenure and activity distributions have moved a lot since
    args = ["monitor", "--data", str(world.data), "--as-of", "2026-06-30", "--reference-as-of", "2025-01-15"]
    args += ["--out", str(tmp_path / "m"), "--no-mlflow"]
    args += ["--churn-model", str(world.churn_bundle), "--ltv-model", str(world.ltv_bundle)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "alert" in result.output
    assert json.loads((tmp_path / "m" / "drift.json").read_text())["status"] == "alert"


@pytest.mark.slow
def test_btyd_check_compares_predicted_and_actual_purchases(world: TrainedWorld) -> None:
    from features.sources import open_source
    from models.customer_value import LtvPredictor
    from training.drift_monitor import _btyd_check

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


def test_monitor_cli_exit_codes_bad_input_2_internal_error_3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    import training.drift_monitor
    from churnltv.cli import app

    runner = CliRunner()
    bad_date = runner.invoke(app, ["monitor", "--data", str(tmp_path), "--as-of", "yesterday-ish"])
    assert bad_date.exit_code == 2, bad_date.output
    assert "--as-of" in bad_date.output
    monkeypatch.setenv("CHURNLTV_MONITOR_PSI_ALERT", "0")
    bad_limit = runner.invoke(app, ["monitor", "--data", str(tmp_path), "--as-of", "2026-01-01"])
    assert bad_limit.exit_code == 2, bad_limit.output
    assert "CHURNLTV_MONITOR_PSI_ALERT" in bad_limit.output
    monkeypatch.delenv("CHURNLTV_MONITOR_PSI_ALERT")
    monkeypatch.delenv("CHURNLTV_DEBUG", raising=False)

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(training.drift_monitor, "run_drift_monitor", broken)
    crashed = runner.invoke(app, ["monitor", "--data", str(tmp_path), "--as-of", "2026-01-01"])
    assert crashed.exit_code == 3, crashed.output
    assert "internal error in the drift monitor: ZeroDivisionError: a bug" in crashed.output
    assert "Traceback" not in crashed.output
