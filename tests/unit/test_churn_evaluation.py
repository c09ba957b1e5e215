"""Holdout metrics on arrays whose answers are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from features.errors import UserInputError
from training.churn_evaluation import (
    bootstrap_ci,
    brier,
    calibration_curve,
    capture_at,
    evaluate,
    expected_calibration_error,
    lift_at,
    log_loss,
    paired_bootstrap_difference,
    pr_auc,
    roc_auc,
)


def test_roc_auc_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    assert roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert roc_auc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5
    # one inverted pair out of four: 3/4
    assert roc_auc(y, [0.1, 0.6, 0.5, 0.9]) == 0.75
    assert np.isnan(roc_auc([1, 1], [0.2, 0.3]))


def test_roc_auc_matches_sklearn_on_random_data() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 1000)
    p = np.round(rng.random(1000), 2)  # with ties
    assert roc_auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_pr_brier_logloss_known_values() -> None:
    y = np.array([1, 0, 1, 0])
    assert pr_auc(y, [0.9, 0.8, 0.7, 0.1]) == pytest.approx((1 + 2 / 3) / 2)
    assert brier(y, [1, 0, 1, 0]) == 0.0
    assert brier(y, [0.5] * 4) == 0.25
    assert log_loss(y, [0.5] * 4) == pytest.approx(np.log(2))


def test_lift_and_capture_known_values() -> None:
    # 10 customers, 2 churners, both ranked in the top 2 (top 20%)
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.linspace(1, 0, 10)
    assert capture_at(y, p, 0.2) == 1.0
    assert lift_at(y, p, 0.2) == pytest.approx(5.0)  # rate 1.0 in the top vs 0.2 overall
    assert capture_at(y, p, 0.1) == 0.5
    assert lift_at(y, p, 0.1) == pytest.approx(5.0)


def test_ece_known_values() -> None:
    # bin [0.2, 0.3): mean p 0.2, observed 0.5 -> |0.3| weight 1/2; bin [0.8, 0.9): mean 0.8, observed 1 -> 0.2 w 1/2
    y = np.array([0, 1, 1, 1])
    p = np.array([0.2, 0.2, 0.8, 0.8])
    assert expected_calibration_error(y, p) == pytest.approx(0.5 * 0.3 + 0.5 * 0.2)
    curve = calibration_curve(y, p)
    assert curve.counts == [2, 2]
    assert curve.observed == [0.5, 1.0]
    perfect = np.repeat([0.1, 0.5], 10)
    outcome = np.concatenate([[1] + [0] * 9, [1] * 5 + [0] * 5])
    assert expected_calibration_error(outcome, perfect) == pytest.approx(0.0, abs=1e-12)


def test_bootstrap_interval_covers_the_point_and_is_reproducible() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 2000)
    p = np.clip(y * 0.3 + rng.random(2000) * 0.7, 0, 1)
    low, high = bootstrap_ci(roc_auc, y, p, n_boot=100, seed=3)
    assert low < roc_auc(y, p) < high
    assert (low, high) == bootstrap_ci(roc_auc, y, p, n_boot=100, seed=3)
    assert high - low < 0.06


def test_paired_difference() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 3000)
    good = y * 0.5 + rng.random(3000)
    noise = rng.random(3000)
    same = paired_bootstrap_difference(roc_auc, y, good, good, n_boot=50)
    assert same.difference == 0.0
    assert same.lower == 0.0
    assert same.upper == 0.0
    better = paired_bootstrap_difference(roc_auc, y, good, noise, n_boot=50)
    assert better.excludes_zero
    assert better.lower > 0.2


def test_evaluate_flat_names() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 500)
    p = np.clip(0.5 * y + 0.5 * rng.random(500), 0, 1)
    ev = evaluate(y, p, n_boot=20)
    flat = ev.flat("test_")
    for name in ("test_roc_auc", "test_pr_auc", "test_brier", "test_log_loss", "test_ece", "test_lift_at_10pct"):
        assert name in flat
        assert flat[f"{name}_ci_low"] <= flat[name] <= flat[f"{name}_ci_high"]
    with pytest.raises(UserInputError, match="one score per outcome"):
        roc_auc([0, 1], [0.5])
    with pytest.raises(UserInputError, match="NaN"):
        roc_auc([0, 1], [0.5, np.nan])


def test_fast_weighted_bootstrap_equals_recomputing_on_the_resample() -> None:
    from training.churn_evaluation import METRICS, _Sorted

    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400).astype(float)
    p = np.round(np.clip(0.3 * y + 0.7 * rng.random(400), 0, 1), 2)  # ties on purpose
    ranked = _Sorted(y, p)
    names = tuple(METRICS)
    plain = ranked.metrics(np.ones(400)[ranked.order], names)
    for name in names:
        assert plain[name] == pytest.approx(METRICS[name](y, p), abs=1e-12), name
    idx = rng.integers(0, 400, 400)
    w = np.bincount(idx, minlength=400).astype(float)
    weighted = ranked.metrics(w[ranked.order], names)
    for name in ("roc_auc", "pr_auc", "brier", "log_loss", "ece"):
        assert weighted[name] == pytest.approx(METRICS[name](y[idx], p[idx]), abs=1e-12), name
