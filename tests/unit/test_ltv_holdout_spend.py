"""Holdout spend (the CLV formula cut to the holdout window) against the naive baseline, computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.btyd_summary import btyd_summary
from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel
from models.gamma_gamma import GammaGammaModel
from training.ltv_evaluation import evaluate_holdout, write_ltv_report

CAL_END = pd.Timestamp("2020-03-01")
HOLDOUT_END = pd.Timestamp("2020-04-01")


def _transactions() -> pd.DataFrame:
    rows = [
        ("a", "2020-01-01", 10.0),
        ("a", "2020-01-15", 20.0),
        ("a", "2020-02-01", 30.0),
        ("a", "2020-03-05 09:00", 12.0),  # two payments on one day: one purchase day, spend 20
        ("a", "2020-03-05 17:00", 8.0),
        ("a", "2020-03-20", 5.0),
        ("b", "2020-02-10", 50.0),
        ("b", "2020-03-10", 40.0),
        ("c", "2020-01-05", 7.0),
        ("c", "2020-02-20", 0.0),  # a free repeat purchase: observed spend 0
        ("d", "2020-03-15", 99.0),  # first seen in the holdout: not a calibration customer
        ("b", "2020-04-01", 1000.0),  # after the holdout (exclusive end)
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "occurred_at", "amount"])
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], format="ISO8601")
    return frame


def test_spend_metrics_equal_the_hand_computation(tmp_path: Path) -> None:
    tx = _transactions()
    bg = BetaGeoModel.from_params(0.5, 2.0, 0.8, 2.5, time_unit=TimeUnit.WEEK)
    gg = GammaGammaModel.from_params(6.0, 4.0, 15.0)
    evaluation = evaluate_holdout(bg, tx, CAL_END, HOLDOUT_END, spend_model=gg)
    summary = btyd_summary(tx, CAL_END, TimeUnit.WEEK)
    assert list(summary.index) == ["a", "b", "c"]
    t = 31 / 7
    x, t_x, T = (summary[c].to_numpy() for c in ("frequency", "recency", "T"))
    purchases = bg.conditional_expected_purchases(t, x, t_x, T)
    # E[M]: a uses its own mean repeat spend (25), b (no repeat) the population mean v p/(q-1), c (free) 0
    own = 6.0 * 2 / (6.0 * 2 + 3.0)
    spend = np.array([own * 25.0 + (1 - own) * 30.0, 30.0, 0.0])
    predicted = purchases * spend
    baseline = np.array([2 / T[0] * t * 25.0, 0.0, 1 / T[2] * t * 0.0])
    actual = np.array([25.0, 40.0, 0.0])
    m = evaluation.metrics
    assert m["ltv_spend_actual_total"] == 65.0
    assert m["ltv_spend_predicted_total"] == pytest.approx(predicted.sum(), rel=1e-12)
    assert m["ltv_spend_baseline_total"] == pytest.approx(baseline.sum(), rel=1e-12)
    assert m["ltv_spend_holdout_mae"] == pytest.approx(np.mean(np.abs(predicted - actual)), rel=1e-12)
    assert m["ltv_spend_baseline_mae"] == pytest.approx(np.mean(np.abs(baseline - actual)), rel=1e-12)
    assert m["ltv_spend_holdout_rmse"] == pytest.approx(np.sqrt(np.mean((predicted - actual) ** 2)), rel=1e-12)
    assert m["ltv_holdout_actual_total"] == 3.0  # purchase days: a 2, b 1
    table = evaluation.buckets
    assert table.loc["0", "actual_spend"] == 40.0
    assert table.loc["1", "actual_spend"] == 0.0
    assert table.loc["2", "predicted_spend"] == pytest.approx(predicted[0])
    page = write_ltv_report(tmp_path, evaluation, {"bgnbd": bg.params_}, {}).read_text()
    assert page.count("data:image/png;base64,") == 2
    assert "ltv_spend_holdout_mae" in page


def test_without_a_spend_model_only_purchases_are_evaluated() -> None:
    bg = BetaGeoModel.from_params(0.5, 2.0, 0.8, 2.5, time_unit=TimeUnit.WEEK)
    evaluation = evaluate_holdout(bg, _transactions(), CAL_END, HOLDOUT_END)
    assert not any(k.startswith("ltv_spend") for k in evaluation.metrics)
    assert "actual_spend" not in evaluation.buckets.columns
