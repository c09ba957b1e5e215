"""Reason codes: top positive contributions per row, phrased by the feature specification."""

from __future__ import annotations

import numpy as np

from features.feature_spec import FeatureSpec, feature_catalog
from features.settings import FeatureSettings
from models.reason_codes import reason_codes, top_contributions

NAMES = ["core_trend_ratio", "days_since_last_event", "uses_3plus_modules", "segment"]


def spec() -> FeatureSpec:
    catalog = {f.name: f for f in feature_catalog(FeatureSettings())}
    return FeatureSpec(features=[catalog[n] for n in NAMES], settings={"n_core_modules": 6})


def test_top_contributions_are_sorted_and_flag_positive_ones() -> None:
    contrib = np.array([[0.1, 0.5, -0.2, 0.3], [-0.1, -0.5, -0.2, -0.3]])
    idx, positive = top_contributions(contrib, 3)
    assert idx.tolist() == [[1, 3, 0], [0, 2, 3]]
    assert positive.tolist() == [[True, True, True], [False, False, False]]
    idx, _ = top_contributions(contrib, 10)  # k larger than the number of features
    assert idx.shape == (2, 4)


def test_reasons_use_spec_phrases_and_only_positive_contributions() -> None:
    # columns: 4 features + bias (LightGBM pred_contrib layout)
    contrib = np.array(
        [
            [0.9, 0.4, 0.2, -0.1, -2.0],
            [-0.3, 0.0, 0.6, 0.1, -2.0],
        ]
    )
    matrix = np.array([[0.55, 21.0, 0.0, 1.0], [1.2, 3.0, 0.0, 0.0]])
    out = reason_codes(contrib, matrix, NAMES, spec(), k=3, categories={"segment": ["b2b", "b2c"]})
    assert [r["feature"] for r in out[0]] == ["core_trend_ratio", "days_since_last_event", "uses_3plus_modules"]
    assert out[0][0]["phrase"] == "core actions down 45% vs prior 30 days"
    assert out[0][1]["phrase"] == "no activity for 21 days"
    assert out[0][2]["phrase"] == "uses fewer than 3 core modules"
    assert out[0][0]["contribution"] == 0.9
    # second row: only two positive contributions; the categorical value is decoded
    assert [r["feature"] for r in out[1]] == ["uses_3plus_modules", "segment"]
    assert out[1][1]["value"] == "b2b"
    assert out[1][1]["phrase"] == "segment b2b"


def test_missing_values_get_the_missing_phrase_and_reference_is_passed() -> None:
    contrib = np.array([[0.0, 0.7, 0.0, 0.0, 0.0]])
    matrix = np.array([[1.0, np.nan, 1.0, 1.0]])
    out = reason_codes(contrib, matrix, NAMES, spec(), k=2, references={"days_since_last_event": 3.0})
    assert out == [[{"feature": "days_since_last_event", "value": None, "contribution": 0.7, "phrase": "never active"}]]
    matrix[0, 1] = 30.0
    out = reason_codes(contrib, matrix, NAMES, spec(), k=1, references={"days_since_last_event": 3.0})
    assert out[0][0]["phrase"] == "no activity for 30 days (typical: 3)"
