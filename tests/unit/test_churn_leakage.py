"""The leakage alarm's scoring: a single feature in its better direction, missing values where they rank best."""

from __future__ import annotations

import numpy as np

from training.churn_leakage import leakage_findings, leakage_warning, single_feature_auc


def test_a_feature_that_records_the_label_reaches_the_alarm_in_either_direction() -> None:
    rng = np.random.default_rng(3)
    y = (rng.random(500) < 0.2).astype(np.float64)
    assert single_feature_auc(y, y * 5.0) == 1.0
    assert single_feature_auc(y, -y) == 1.0  # pointing the other way is still a leak
    noise = rng.normal(size=500)
    assert single_feature_auc(y, noise) < 0.6
    # "no ticket at all" (missing) for every retained customer is as telling as a value
    missing_for_retained = np.where(y == 1, 1.0, np.nan)
    assert single_feature_auc(y, missing_for_retained) == 1.0


def test_findings_and_the_warning_name_the_strongest_scorer() -> None:
    found = leakage_findings({"tickets_open": 0.995, "events_30d": 0.7}, {"recency": 0.981, "btyd": float("nan")}, 0.98)
    assert [(f.scorer, f.kind) for f in found] == [("tickets_open", "feature"), ("recency", "baseline")]
    text = leakage_warning(found, 0.98)
    assert text is not None
    assert text.startswith(
        "label nearly known at the cutoff: feature tickets_open alone reaches holdout ROC-AUC 0.9950"
    )
    assert "also recency 0.981" in text
    assert leakage_warning(leakage_findings({"a": 0.9}, {"recency": 0.97}, 0.98), 0.98) is None
