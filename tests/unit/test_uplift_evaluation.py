"""Qini curve, coefficient and uplift at k% on cases small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest

from features.errors import UserInputError
from training.uplift_evaluation import evaluate_action, incremental_at_budget, qini_coefficient, qini_curve, uplift_at


def test_qini_curve_by_hand() -> None:
    # score order: a (treated, 1), b (control, 0), c (treated, 0), d (control, 1)
    y = np.array([1.0, 0.0, 0.0, 1.0])
    t = np.array([True, False, True, False])
    s = np.array([4.0, 3.0, 2.0, 1.0])
    x, q = qini_curve(y, t, s)
    # k=1: 1 - 0; k=2: 1 - 0*1/1; k=3: 1 - 0*2/1; k=4: 1 - 1*2/2 = 0
    np.testing.assert_allclose(q * 4, [0.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(x, [0, 0.25, 0.5, 0.75, 1.0])
    # random line is 0 (Q(N) = 0): area = trapezoid of the curve = (0.5 + 1 + 1 + 0.5) * 0.25 / 4
    assert qini_coefficient(y, t, s) == pytest.approx(0.75 / 4)
    assert qini_coefficient(y, t, -s) < 0  # the reverse ranking puts the non-responder first
    assert uplift_at(y, t, s, 0.5) == pytest.approx(1.0)


def test_ranking_by_true_effect_beats_random_and_intervals_cover() -> None:
    rng = np.random.default_rng(1)
    n = 4000
    tau = rng.choice([0.3, 0.0, -0.2], n)
    t = rng.random(n) < 0.6
    y = (rng.random(n) < 0.5 + t * tau).astype(float)
    ev = evaluate_action("a", y, t, {"model": tau, "random": rng.random(n)}, n_boot=60, seed=2)
    model, rand = ev.strategies["model"], ev.strategies["random"]
    assert model.qini_coefficient > 0.02 > abs(rand.qini_coefficient)
    assert model.qini_interval[0] <= model.qini_coefficient <= model.qini_interval[1]
    assert rand.difference_to_model is not None
    assert rand.difference_to_model[1] > 0
    assert model.uplift_at["10pct"] > 0.2
    assert set(model.uplift_at) == {"10pct", "20pct", "30pct"}
    assert ev.average_effect == pytest.approx(y[t].mean() - y[~t].mean())
    assert model.curve_x[0] == 0.0
    assert model.curve_x[-1] == 1.0
    assert len(model.curve_x) == 4


def test_evaluation_refuses_one_arm_and_unknown_outcomes() -> None:
    y = np.array([1.0, 0.0])
    with pytest.raises(UserInputError, match="treated and control"):
        evaluate_action("a", y, np.array([True, True]), {"model": y})
    with pytest.raises(UserInputError, match="known"):
        evaluate_action("a", np.array([1.0, np.nan]), np.array([True, False]), {"model": y})


def test_incremental_at_budget_sums_the_top() -> None:
    assert incremental_at_budget(np.array([1.0, 5.0, 2.0]), np.array([0.1, 0.9, 0.5]), 2) == 7.0
    assert incremental_at_budget(np.array([1.0]), np.array([0.1]), 0) == 0.0
