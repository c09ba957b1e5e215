"""The linear churn candidate: log-scaled design, plain-JSON round trip, contributions that add up to the log-odds,
and a bundle that loads, scores, explains and serves (pyfunc) like the LightGBM one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from features.feature_spec import FeatureSpec, feature_catalog
from features.settings import FeatureSettings
from models.churn_bundle import BUNDLE_FILES, LINEAR_MODEL_FILE, ChurnBundle
from models.churn_linear import ChurnLinearClassifier, ChurnLinearModel
from models.probability_calibration import ProbabilityCalibration
from training.churn_evaluation import roc_auc

NAMES = ("days_since_last_event", "core_trend_ratio", "events_30d", "segment")


def small_spec() -> FeatureSpec:
    catalog = {f.name: f for f in feature_catalog(FeatureSettings())}
    return FeatureSpec(features=[catalog[n] for n in NAMES], settings={"n_core_modules": 6})


def synthetic(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    silence = rng.exponential(10, n)
    trend = rng.lognormal(0, 0.5, n)
    logit = -2.5 + 0.12 * silence - 1.2 * np.log(trend)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "days_since_last_event": silence,
            "core_trend_ratio": trend,
            "events_30d": rng.poisson(20, n),
            "segment": pd.Categorical(rng.choice(["b2c", "b2b"], n)),
        }
    )
    return frame, y


@pytest.fixture(scope="module")
def fitted() -> tuple[ChurnLinearClassifier, pd.DataFrame, np.ndarray]:
    X, y = synthetic(3000, 1)
    X = X.copy()
    X.loc[X.index[::7], "core_trend_ratio"] = np.nan  # missing values get the median and a missing column
    return ChurnLinearClassifier(small_spec(), C=0.1).fit(X, y), X, y


def test_linear_model_learns_the_signal_and_handles_missing_values(
    fitted: tuple[ChurnLinearClassifier, pd.DataFrame, np.ndarray],
) -> None:
    clf, _, _ = fitted
    X_test, y_test = synthetic(2000, 3)
    assert roc_auc(y_test, clf.predict_proba(X_test)[:, 1]) > 0.75
    kinds = {(c.feature, c.kind) for c in clf.model_.columns}
    assert ("core_trend_ratio", "missing") in kinds
    assert ("segment", "category") in kinds
    coef = {c.feature: c.coef for c in clf.model_.columns if c.kind == "log1p"}
    assert coef["days_since_last_event"] > 0  # longer silence, more churn
    assert coef["core_trend_ratio"] < 0


def test_json_round_trip_and_contributions_add_up(
    fitted: tuple[ChurnLinearClassifier, pd.DataFrame, np.ndarray],
) -> None:
    clf, X, _ = fitted
    model = clf.model_
    again = ChurnLinearModel.from_json(model.to_json())
    assert again == model
    from models.churn_classifier import feature_matrix

    m = feature_matrix(X.head(50), list(model.names), clf.categories_)
    contrib = model.contributions(m)
    assert contrib.shape == (50, len(model.names) + 1)
    np.testing.assert_allclose(contrib.sum(axis=1), model.log_odds(m), atol=1e-10)
    # an unseen category and an all-missing row score without a crash
    odd = feature_matrix({"days_since_last_event": [np.nan], "core_trend_ratio": [np.nan], "events_30d": [np.nan],
                          "segment": ["never-seen"]}, list(model.names), clf.categories_)  # fmt: skip
    assert np.isfinite(model.predict(odd)).all()


def test_a_damaged_linear_model_file_is_named() -> None:
    with pytest.raises(UserInputError, match=r"bundle/linear_model\.json is not a valid linear churn model"):
        ChurnLinearModel.from_json('{"format": 1, "names": []}', where="bundle/linear_model.json")


def test_linear_bundle_saves_loads_scores_and_explains(
    tmp_path: Path, fitted: tuple[ChurnLinearClassifier, pd.DataFrame, np.ndarray]
) -> None:
    clf, X, y = fitted
    cal = ProbabilityCalibration().fit(clf.predict_proba(X)[:, 1], y)
    bundle = ChurnBundle.from_classifier(clf, cal, {"horizon_days": 30, "reference_values": {}})
    path = bundle.save(tmp_path / "b")
    files = sorted(p.name for p in path.iterdir())
    assert files == sorted([LINEAR_MODEL_FILE, *BUNDLE_FILES[1:]])  # no model.txt, no pickle
    assert json.loads((path / LINEAR_MODEL_FILE).read_text())["kind"] == "logistic_regression_l2"
    loaded = ChurnBundle.load(path, small_spec())
    assert loaded.model_kind == "logistic"
    head = X.head(20)
    np.testing.assert_allclose(loaded.predict_proba(head), cal.predict(clf.predict_proba(head)[:, 1]))
    m = loaded.matrix(head)
    contrib = loaded.contributions_from_matrix(m)
    np.testing.assert_allclose(loaded.raw_proba_from_contributions(contrib, m), loaded.raw_proba(head), atol=1e-12)
    _, reasons = loaded.predict_with_reasons(head, k=2)
    assert len(reasons) == 20
    assert all(len(r) <= 2 for r in reasons)
    assert {r["feature"] for rs in reasons for r in rs} <= set(loaded.names)
    assert set(loaded.feature_importance()) == set(loaded.names)


def test_linear_bundle_serves_through_the_pyfunc(
    tmp_path: Path, fitted: tuple[ChurnLinearClassifier, pd.DataFrame, np.ndarray]
) -> None:
    from mlflow.pyfunc import PythonModelContext

    from models.churn_pyfunc import ChurnPyfunc

    clf, X, y = fitted
    cal = ProbabilityCalibration().fit(clf.predict_proba(X)[:, 1], y)
    path = ChurnBundle.from_classifier(clf, cal, {"horizon_days": 30}).save(tmp_path / "b")
    model = ChurnPyfunc()
    model.load_context(PythonModelContext(artifacts={"bundle": str(path)}, model_config={}))
    out = model.predict(None, X.head(5))
    np.testing.assert_allclose(out["churn_probability"], cal.predict(clf.predict_proba(X.head(5))[:, 1]))
    assert list(out["customer_id"]) == list(X["customer_id"].head(5))
