"""The live lookup (``GET /v1/customers/{id}?as_of=``) answers exactly what the batch path gives for the same cutoff.

The live path takes shortcuts for speed (the source's columns read once per open, feature settings validated once
per bundle, scoring through ``score_rows`` instead of ``score_frame``); for random customers and two cutoffs its
features must equal ``build_features`` over the whole base, and its response records ``frame_records`` of
``score_frame`` over that whole-base frame.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

from service.api.state import LiveData, ScoreReads
from service.model_set import ModelSet
from support.world import AS_OF, TrainedWorld

CUTOFFS = (AS_OF, AS_OF - pd.Timedelta(days=75) + pd.Timedelta(hours=13, minutes=7))
N_CUSTOMERS = 30


@pytest.fixture(scope="module")
def live(trained_world: TrainedWorld) -> Iterator[tuple[ModelSet, LiveData]]:
    data = LiveData(str(trained_world.data))
    data.open()
    assert data.connection is not None, data.error
    yield trained_world.models(), data
    data.close()


def _whole_base(models: ModelSet, data: LiveData, as_of: pd.Timestamp) -> pd.DataFrame:
    from features.point_in_time import build_features
    from service.live_features import model_feature_settings

    assert data.connection is not None
    frame, _ = build_features(data.connection.cursor(), [as_of], model_feature_settings(models.churn.spec))
    return frame.set_index("customer_id", drop=False)


def _sample(frame: pd.DataFrame, seed: int) -> list[str]:
    return random.Random(seed).sample(sorted(frame.index), N_CUSTOMERS)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Category columns as their values: a one-customer frame knows fewer categories than the whole base."""
    out = frame.reset_index(drop=True)
    for name in out.columns:
        if isinstance(out[name].dtype, pd.CategoricalDtype):
            out[name] = out[name].astype(object)
    return out


def _assert_same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict), where
        assert a.keys() == b.keys(), f"{where}: {sorted(a.keys() ^ b.keys())}"
        for key in a:
            _assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert isinstance(b, list), where
        assert len(a) == len(b), f"{where}: {len(a)} vs {len(b)} items"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        # the LTV interval sums can differ in the last bit between array shapes (test_prediction_paths.py)
        assert a == pytest.approx(b, rel=1e-12, abs=1e-12), f"{where}: {a} vs {b}"
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


@pytest.mark.parametrize("as_of", CUTOFFS, ids=["as_of", "earlier_as_of"])
def test_live_features_equal_the_whole_base(live: tuple[ModelSet, LiveData], as_of: pd.Timestamp) -> None:
    from service.live_features import customer_features, model_feature_settings

    models, data = live
    everyone = _whole_base(models, data, as_of)
    settings = model_feature_settings(models.churn.spec)
    ids = _sample(everyone, seed=int(as_of.value % 1000))
    assert data.connection is not None
    cursor = data.connection.cursor()
    for customer in ids:
        one = customer_features(cursor, [customer], as_of.to_pydatetime(), settings, data.columns)
        pd.testing.assert_frame_equal(_plain(one), _plain(everyone.loc[[customer]]), obj=customer)
    together = customer_features(cursor, ids, as_of.to_pydatetime(), settings, data.columns)
    pd.testing.assert_frame_equal(_plain(together), _plain(everyone.loc[sorted(ids)]))


@pytest.mark.parametrize("as_of", CUTOFFS, ids=["as_of", "earlier_as_of"])
def test_live_records_equal_the_batch_path(live: tuple[ModelSet, LiveData], as_of: pd.Timestamp) -> None:
    from service.api.responses import frame_records
    from service.api.routes.customers import lookup
    from service.prediction import score_frame

    models, data = live
    everyone = _whole_base(models, data, as_of)
    ids = _sample(everyone, seed=int(as_of.value % 997))
    batch = score_frame(models, everyone.reset_index(drop=True), top_reasons=3)
    expected = {r["customer_id"]: {**r, "source": "live", "run_id": None} for r in frame_records(batch)}
    scores = ScoreReads(None, 1)
    when: dt.datetime = as_of.to_pydatetime()
    tiers = set()
    for customer in ids:
        found, missing = lookup(models, [customer], when, data=data, scores=scores, top_reasons=3)
        assert not missing
        _assert_same(found[0], expected[customer], customer)
        tiers.add(found[0]["risk_tier"])
    assert len(tiers) >= 2, f"the sample should cover several tiers, got {tiers}"
    found, missing = lookup(models, [*ids, "no-such-customer"], when, data=data, scores=scores, top_reasons=3)
    assert missing == ["no-such-customer"]
    for record in found:
        _assert_same(record, expected[record["customer_id"]], f"{record['customer_id']} (in a batch)")
