"""Churn bundle: plain files, exact round trip, spec mismatch named, fast one-row scoring path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.errors import UserInputError
from features.feature_spec import FeatureSpec, feature_catalog
from features.settings import FeatureSettings
from models.churn_bundle import BUNDLE_FILES, ChurnBundle
from models.churn_classifier import ChurnClassifier
from models.probability_calibration import ProbabilityCalibration

NAMES = ("days_since_last_event", "core_trend_ratio", "events_30d", "segment")


def small_spec(names: tuple[str, ...] = NAMES) -> FeatureSpec:
    catalog = {f.name: f for f in feature_catalog(FeatureSettings())}
    return FeatureSpec(features=[catalog[n] for n in names], settings={"n_core_modules": 6})


def synthetic(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    silence = rng.exponential(10, n)
    trend = rng.lognormal(0, 0.5, n)
    segment = rng.choice(["b2c", "b2b"], n)
    logit = -2.5 + 0.12 * silence - 1.2 * np.log(trend)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(n)],
            "days_since_last_event": silence,
            "core_trend_ratio": trend,
            "events_30d": rng.poisson(20, n),
            "segment": pd.Categorical(segment),
        }
    )
    return frame, y


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[ChurnBundle, Path]:
    X, y = synthetic(3000, 1)
    X_val, y_val = synthetic(1000, 2)
    clf = ChurnClassifier(small_spec(), num_threads=1, max_rounds=80, min_data_in_leaf=20).fit(
        X, y, eval_set=(X_val, y_val)
    )
    cal = ProbabilityCalibration().fit(clf.predict_proba(X_val)[:, 1], y_val)
    b = ChurnBundle.from_classifier(clf, cal, {"horizon_days": 30, "reference_values": {"days_since_last_event": 7.0}})
    path = b.save(tmp_path_factory.mktemp("bundle"))
    return b, path


def test_bundle_is_plain_files(bundle: tuple[ChurnBundle, Path]) -> None:
    _, path = bundle
    assert sorted(p.name for p in path.iterdir()) == sorted(BUNDLE_FILES)
    meta = json.loads((path / "metadata.json").read_text())
    assert meta["categories"] == {"segment": ["b2b", "b2c"]}
    assert meta["feature_names"] == list(NAMES)
    assert "lightgbm" in meta["library_versions"]
    assert (path / "model.txt").read_text().startswith("tree")


def test_load_gives_identical_predictions(bundle: tuple[ChurnBundle, Path]) -> None:
    original, path = bundle
    loaded = ChurnBundle.load(path, expected_spec=small_spec())
    X, _ = synthetic(500, 5)
    np.testing.assert_array_equal(original.predict_proba(X), loaded.predict_proba(X))
    assert loaded.horizon_days == 30
    p = loaded.predict_proba(X)
    assert p.shape == (500,)
    assert (p >= 0).all()
    assert (p <= 1).all()


def test_one_row_mapping_scores_like_the_frame(bundle: tuple[ChurnBundle, Path]) -> None:
    b, _ = bundle
    X, _ = synthetic(3, 6)
    row = {name: X[name].iloc[1] for name in NAMES}
    row["segment"] = str(row["segment"])
    assert b.predict_proba(row)[0] == pytest.approx(b.predict_proba(X)[1], abs=0)
    p, reasons = b.predict_with_reasons(row, k=2)
    assert p[0] == b.predict_proba(row)[0]
    assert len(reasons) == 1
    assert len(reasons[0]) <= 2
    for reason in reasons[0]:
        assert set(reason) == {"feature", "value", "contribution", "phrase"}
        assert reason["contribution"] > 0
        assert reason["phrase"]


def test_spec_mismatch_lists_exact_differences(bundle: tuple[ChurnBundle, Path]) -> None:
    _, path = bundle
    other = small_spec(("days_since_last_event", "core_trend_ratio", "segment", "tenure_days"))
    with pytest.raises(UserInputError) as err:
        ChurnBundle.load(path, expected_spec=other)
    text = str(err.value)
    assert "missing feature 'events_30d'" in text
    assert "extra feature 'tenure_days'" in text
    assert "2 difference(s)" in text


def test_incomplete_bundle_names_missing_files(tmp_path: Path, bundle: tuple[ChurnBundle, Path]) -> None:
    _, path = bundle
    for name in ("model.txt", "feature_spec.json", "metadata.json"):
        (tmp_path / name).write_text((path / name).read_text())
    with pytest.raises(UserInputError, match=r"missing calibrator.json"):
        ChurnBundle.load(tmp_path)
    with pytest.raises(UserInputError, match="does not exist"):
        ChurnBundle.load(tmp_path / "nope")


def test_missing_column_in_scoring_frame_is_named(bundle: tuple[ChurnBundle, Path]) -> None:
    b, _ = bundle
    X, _ = synthetic(3, 7)
    with pytest.raises(UserInputError, match="no column 'core_trend_ratio'"):
        b.predict_proba(X.drop(columns="core_trend_ratio"))
