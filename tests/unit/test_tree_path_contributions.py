"""Decision-path contributions (Saabas): exact additivity, the per-split credit checked by walking trees by hand."""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np
import pytest

from models.reason_codes import ReasonSettings
from models.tree_path_contributions import TreePathContributions


@pytest.fixture(scope="module")
def booster() -> lgb.Booster:
    rng = np.random.default_rng(3)
    n = 3000
    X = rng.exponential(4.0, size=(n, 5))
    X[rng.random(X.shape) < 0.15] = np.nan  # missing values take LightGBM's default direction
    X[:, 4] = rng.integers(0, 4, n)  # a categorical column (codes)
    logit = np.nan_to_num(X[:, 0]) - np.nan_to_num(X[:, 1]) + (X[:, 4] == 2) * 2.0 - 1.0
    y = (logit + rng.normal(0, 1, n) > 0).astype(int)
    params = {"objective": "binary", "num_leaves": 15, "learning_rate": 0.1, "verbose": -1, "min_data_in_leaf": 20}
    return lgb.train(params, lgb.Dataset(X, y, categorical_feature=[4]), num_boost_round=40)


def _rows(n: int = 400) -> np.ndarray:
    rng = np.random.default_rng(8)
    X = rng.exponential(4.0, size=(n, 5))
    X[rng.random(X.shape) < 0.15] = np.nan
    X[:, 4] = rng.integers(0, 4, n)
    return X


def _goes_left(node: dict[str, Any], x: float) -> bool:
    """LightGBM's decision at one split, from the dump (numerical <= threshold, categorical in the set)."""
    if np.isnan(x):
        if node["missing_type"] == "NaN":
            return bool(node["default_left"])
        x = 0.0
    if node["decision_type"] == "==":
        return int(x) in {int(v) for v in str(node["threshold"]).split("||")}
    return bool(x <= float(node["threshold"]))


def _by_hand(booster: lgb.Booster, row: np.ndarray) -> np.ndarray:
    """Walk each tree from its root: the change of expected value at each split goes to the split's feature."""
    n_features = booster.num_feature()
    out = np.zeros(n_features + 1)
    for info in booster.dump_model()["tree_info"]:
        node = info["tree_structure"]
        value = node.get("internal_value", node.get("leaf_value"))
        out[n_features] += value
        while "leaf_index" not in node:
            child = node["left_child"] if _goes_left(node, row[node["split_feature"]]) else node["right_child"]
            child_value = child["leaf_value"] if "leaf_index" in child else child["internal_value"]
            out[node["split_feature"]] += child_value - value
            node, value = child, child_value
    return out


def test_contributions_sum_to_the_raw_score_for_one_row_and_many(booster: lgb.Booster) -> None:
    paths = TreePathContributions.from_booster(booster)
    X = _rows()
    many = paths(booster, X)
    assert many.shape == (len(X), booster.num_feature() + 1)
    np.testing.assert_allclose(many.sum(axis=1), booster.predict(X, raw_score=True), rtol=0, atol=1e-10)
    one = np.vstack([paths(booster, X[i : i + 1]) for i in range(20)])
    np.testing.assert_allclose(one, many[:20], rtol=0, atol=1e-12)
    assert paths(booster, X[:0]).shape == (0, booster.num_feature() + 1)


def test_each_split_credits_its_feature_with_the_change_of_expected_value(booster: lgb.Booster) -> None:
    paths = TreePathContributions.from_booster(booster)
    X = _rows(60)
    expected = np.vstack([_by_hand(booster, row) for row in X])
    np.testing.assert_allclose(paths(booster, X), expected, rtol=0, atol=1e-10)


def test_a_feature_no_tree_splits_on_gets_no_credit() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 3))
    X[:, 2] = 1.0  # constant: LightGBM cannot split on it
    y = (X[:, 0] > 0).astype(int)
    b = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 7}, lgb.Dataset(X, y), num_boost_round=10)
    contrib = TreePathContributions.from_booster(b)(b, X[:100])
    assert np.all(contrib[:, 2] == 0.0)
    assert np.abs(contrib[:, 0]).sum() > 0


def test_it_agrees_with_treeshap_on_the_total_and_mostly_on_the_top_feature(booster: lgb.Booster) -> None:
    X = _rows()
    path = TreePathContributions.from_booster(booster)(booster, X)
    shap = booster.predict(X, pred_contrib=True)
    np.testing.assert_allclose(path.sum(axis=1), shap.sum(axis=1), atol=1e-9)
    same_top = np.mean(np.argmax(path[:, :-1], axis=1) == np.argmax(shap[:, :-1], axis=1))
    assert same_top > 0.6  # not identical (Saabas is not consistent), but the same story for most rows


def test_the_method_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ReasonSettings().method == "path"
    monkeypatch.setenv("CHURNLTV_REASONS_METHOD", "treeshap")
    assert ReasonSettings().method == "treeshap"
    monkeypatch.setenv("CHURNLTV_REASONS_METHOD", "lime")
    with pytest.raises(ValueError, match=r"method"):
        ReasonSettings()
