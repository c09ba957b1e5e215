"""The API's row path (``score_rows``) and the batch's frame path (``score_frame``) give the same records.

Both go through the one prediction assembly (``service.prediction.assemble``) and the one response builder
(``service.api.responses``); this checks that the two ways features arrive (JSON rows, a frame) lead to the same
answers.

Both are fed the same point-in-time features of real customers of the shared trained world, so a batch score
and an API answer for the same customer, date and models cannot disagree. Rows go through ``score_rows`` one at
a time (the API's usual single-customer body) and all together (a multi-customer body).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from models.btyd_family import CANDIDATES
from support.world import TrainedWorld

pytestmark = pytest.mark.slow

N_CUSTOMERS = 300


def _json_value(v: Any) -> Any:
    """A feature value as it arrives in a JSON request body (NaN -> null, numpy scalars -> Python)."""
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v.item() if hasattr(v, "item") else v


def _row_records(models: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``POST /v1/predict`` answers for ``rows``."""
    from service.api.responses import prediction_records
    from service.prediction import score_rows

    return prediction_records(score_rows(models, rows))


def _frame_records(models: Any, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """What a live lookup answers for the customers of ``frame``."""
    from service.api.responses import frame_records
    from service.prediction import score_frame

    return frame_records(score_frame(models, frame))


def _assert_same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict), where
        assert a.keys() == b.keys(), f"{where}: keys differ: {set(a) ^ set(b)}"
        for k in a:
            _assert_same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert isinstance(b, list), where
        assert len(a) == len(b), f"{where}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        # the LTV interval sums can differ in the last bit between array shapes; nothing else may differ
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12, nan_ok=True), f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


@pytest.fixture(scope="module")
def scored(trained_world: TrainedWorld) -> tuple[pd.DataFrame, Any]:
    from features.point_in_time import build_features
    from features.settings import FeatureSettings
    from features.sources import open_source
    from service.model_set import load_model_set

    models = load_model_set(churn_ref="champion", ltv_ref="champion", tracking_uri=trained_world.tracking_uri)
    spec = models.churn.spec
    settings = FeatureSettings.model_validate(spec.settings) if spec.settings else FeatureSettings()
    con = open_source(trained_world.data).connect(validate=False)
    try:
        as_of = pd.Timestamp(con.execute("SELECT max(occurred_at) FROM events").fetchall()[0][0]).normalize()
        frame, _ = build_features(con, [as_of], settings)
    finally:
        con.close()
    return frame.sample(n=N_CUSTOMERS, random_state=5).reset_index(drop=True), models


def test_rows_one_at_a_time_and_together_equal_the_frame_path(scored: tuple[pd.DataFrame, Any]) -> None:
    frame, models = scored
    expected = _frame_records(models, frame)
    rows = [{str(k): _json_value(v) for k, v in r.items()} for r in frame.to_dict(orient="records")]
    together = _row_records(models, rows)
    assert len(together) == len(expected) == N_CUSTOMERS
    tiers = {r["risk_tier"] for r in expected}
    assert len(tiers) >= 2, f"the sample should cover several tiers, got {tiers}"
    for i, (row, want) in enumerate(zip(rows, expected, strict=True)):
        _assert_same(_row_records(models, [row])[0], want, f"customer {want['customer_id']} (alone)")
        _assert_same(together[i], want, f"customer {want['customer_id']} (in a batch)")


def _contractual_by_hand(models: Any, mrr: float, p: float) -> float:
    """docs/DOMAIN.md section 6 with the bundle's settings: r = (1 - p)^(month / H), 12 future months discounted."""
    ltv = models.ltv
    sub = ltv.subscription
    r = (1.0 - p) ** ((365.25 / 12) / models.churn.horizon_days)
    margin = mrr * (1 - sub.cost_share_of_mrr) - sub.cost_per_month
    first = 1 if sub.pay_after_service else 0
    return sum(margin * (r / (1 + sub.monthly_discount)) ** t for t in range(first, first + ltv.horizon_months))


def test_subscribers_get_contractual_clv_on_both_paths(scored: tuple[pd.DataFrame, Any]) -> None:
    """Issue 5: subscription customers get contractual CLV from their MRR and churn probability, transactional
    customers BG/NBD + Gamma-Gamma, and ltv.method says which; the row and frame paths agree on both kinds."""
    frame, models = scored
    assert models.churn.horizon_days is not None
    # real subscribers of the sample, plus constructed cases: a transactional customer given a subscription, and
    # a subscriber whose MRR is unknown
    extra = frame[frame["sub_active"] != 1].head(2).copy()  # index = position in frame (reset_index above)
    extra["customer_id"] = extra["customer_id"].astype(str) + "-made-subscriber"
    extra["sub_active"] = 1
    extra["sub_mrr"] = [49.0, np.nan]
    cases = pd.concat([frame, extra], ignore_index=True)
    subscriber = (cases["sub_active"] == 1).to_numpy()
    assert subscriber.sum() >= 10, "the sample should hold real subscribers"
    expected = _frame_records(models, cases)
    rows = [{str(k): _json_value(v) for k, v in r.items()} for r in cases.to_dict(orient="records")]
    together = _row_records(models, rows)
    for i, want in enumerate(expected):
        _assert_same(_row_records(models, [rows[i]])[0], want, f"customer {want['customer_id']} (alone)")
        _assert_same(together[i], want, f"customer {want['customer_id']} (in a batch)")
        ltv = want["ltv"]
        if not subscriber[i]:
            # the spend model's name follows the count model the LTV job selected on the holdout
            fitted = {f"{name}_gamma_gamma" for name in (*CANDIDATES, "nbd")}
            assert ltv["method"] in {*fitted, "population_mean_spend", "zero_observed_spend"}
            continue
        mrr = cases["sub_mrr"].iloc[i]
        if np.isnan(mrr):
            assert ltv["method"] == "unavailable: active subscription without sub_mrr"
            assert ltv["predicted"] is None
            assert want["value_at_risk"] is None
            continue
        assert ltv["method"] == "contractual_retention_no_interval"
        assert ltv["lower"] is None
        assert ltv["upper"] is None
        p = want["churn_probability"]
        assert ltv["predicted"] == pytest.approx(_contractual_by_hand(models, float(mrr), p), rel=1e-12)
        assert want["value_at_risk"] == pytest.approx(p * ltv["predicted"], rel=1e-12)
    made, original = expected[-2], expected[int(extra.index[0])]
    assert made["ltv"]["predicted"] == pytest.approx(_contractual_by_hand(models, 49.0, made["churn_probability"]))
    assert original["ltv"]["method"] != made["ltv"]["method"]
    # purchase quantities still come from BG/NBD: the same as before the subscription was added
    for key in ("p_alive", "expected_purchases", "p_no_purchase", "horizon_days"):
        assert made[key] == original[key], key


def test_the_health_scale_comes_from_the_churn_models_training_population(scored: tuple[pd.DataFrame, Any]) -> None:
    from models.health_scale import HEALTH_SCALE_KEY
    from service.prediction import score_frame

    features, models = scored
    frame = score_frame(models, features)
    scale = models.churn.metadata[HEALTH_SCALE_KEY]
    assert scale["customers"] > 0
    assert 1.0 <= scale["activity_full_days"] <= 30.0
    assert models.policy.activity_full_days == scale["activity_full_days"]  # the API and batch both score with it
    assert frame["health_score"].quantile(0.9) - frame["health_score"].quantile(0.1) > 25
