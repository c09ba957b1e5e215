"""ProbabilityCalibration: fitted on validation scores, stored as JSON, ranking preserved."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from features.errors import UserInputError
from models.probability_calibration import ProbabilityCalibration
from training.churn_evaluation import expected_calibration_error, roc_auc


def overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True probability q; the raw score squashes it towards the extremes (q^3 style distortion)."""
    rng = np.random.default_rng(seed)
    q = rng.beta(1, 6, n)
    y = (rng.random(n) < q).astype(int)
    return q**2, y


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_calibration_reduces_ece_on_new_data(method: str) -> None:
    s_val, y_val = overconfident(20_000, 1)
    s_test, y_test = overconfident(20_000, 2)
    cal = ProbabilityCalibration(method).fit(s_val, y_val)  # type: ignore[arg-type]
    before = expected_calibration_error(y_test, s_test)
    after = expected_calibration_error(y_test, cal.predict(s_test))
    assert before > 0.03
    assert after < 0.015


@pytest.mark.parametrize("method", ["isotonic", "platt"])
def test_json_round_trip_gives_identical_predictions(method: str) -> None:
    s, y = overconfident(5000, 3)
    cal = ProbabilityCalibration(method).fit(s, y)  # type: ignore[arg-type]
    text = cal.to_json()
    assert json.loads(text)["method"] == method
    again = ProbabilityCalibration.from_json(text)
    grid = np.linspace(0, 1, 101)
    np.testing.assert_array_equal(cal.predict(grid), again.predict(grid))


def test_isotonic_keeps_the_ranking() -> None:
    s, y = overconfident(5000, 4)
    cal = ProbabilityCalibration().fit(s, y)
    out = cal.predict(s)
    assert np.all(np.diff(cal.predict(np.sort(s))) > 0)  # strictly increasing: no ties created
    assert roc_auc(y, out) == pytest.approx(roc_auc(y, s), abs=1e-12)
    assert out.min() >= 0
    assert out.max() <= 1


def test_errors_are_clear() -> None:
    with pytest.raises(UserInputError, match="one outcome per score"):
        ProbabilityCalibration().fit([0.1, 0.2], [1])
    with pytest.raises(UserInputError, match="0 or 1"):
        ProbabilityCalibration().fit([0.1, 0.2], [1, 2])
    with pytest.raises(UserInputError, match="unknown calibration method"):
        ProbabilityCalibration("magic").fit([0.1, 0.2], [0, 1])  # type: ignore[arg-type]
    with pytest.raises(NotFittedError, match="not fitted"):
        ProbabilityCalibration().predict([0.5])
    with pytest.raises(UserInputError, match="missing key 'y_thresholds'"):
        ProbabilityCalibration.from_json('{"method": "isotonic", "x_thresholds": [0, 1]}')


def test_is_a_scikit_learn_estimator() -> None:
    cal = ProbabilityCalibration("platt")
    assert cal.get_params() == {"method": "platt"}
    copy = clone(cal)
    assert copy is not cal
    assert copy.get_params() == {"method": "platt"}
    assert copy.set_params(method="isotonic") is copy
    assert copy.method == "isotonic"
    with pytest.raises(NotFittedError):
        check_is_fitted(cal)
    fitted = ProbabilityCalibration().fit([0.1, 0.4, 0.6, 0.9], [0, 0, 1, 1])
    check_is_fitted(fitted)
    assert not hasattr(clone(fitted), "n_samples_")  # a clone is unfitted
