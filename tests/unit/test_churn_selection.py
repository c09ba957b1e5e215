"""Rolling-origin folds: which origins score the candidates, which are skipped or merged for too few churners."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.churn_selection import FEW_CHURNERS, candidates, rolling_folds

CUTOFFS = [pd.Timestamp("2026-01-01") + pd.Timedelta(days=30 * i) for i in range(5)]


def _frame(churners: list[int], rows: int = 200) -> pd.DataFrame:
    parts = []
    for cutoff, k in zip(CUTOFFS, churners, strict=True):
        y = np.zeros(rows, dtype=np.int8)
        y[:k] = 1
        parts.append(pd.DataFrame({"customer_id": [f"c{i}" for i in range(rows)], "as_of": cutoff, "churned": y}))
    return pd.concat(parts, ignore_index=True)


def test_the_latest_origins_with_a_training_cutoff_before_them() -> None:
    folds, notes, merged = rolling_folds(_frame([40] * 5), 30, n_folds=3, min_churners=30)
    assert [f.origin for f in folds] == CUTOFFS[2:]
    assert folds[0].train_cutoffs == tuple(CUTOFFS[:2])  # labels of 01-31 end exactly at 03-02's origin
    assert folds[-1].train_cutoffs == tuple(CUTOFFS[:4])
    assert (notes, merged) == ([], False)
    # a horizon longer than the spacing: a cutoff trains a fold only when its labels end by the origin
    folds, _, _ = rolling_folds(_frame([40] * 5), 45, n_folds=3, min_churners=30)
    assert folds[-1].train_cutoffs == tuple(CUTOFFS[:3])


def test_origins_with_few_churners_are_skipped_and_said() -> None:
    folds, notes, merged = rolling_folds(_frame([40, 40, 40, 12, 40]), 30, n_folds=3, min_churners=30)
    assert [f.origin for f in folds] == [CUTOFFS[2], CUTOFFS[4]]
    assert not merged
    assert notes == [f"origin {CUTOFFS[3].date()} skipped: 12 churners in 200 rows (< min_cutoff_churners 30)"]


def test_when_every_origin_is_small_the_folds_are_merged() -> None:
    folds, notes, merged = rolling_folds(_frame([10, 10, 10, 12, 8]), 30, n_folds=3, min_churners=30)
    assert merged
    assert [f.origin for f in folds] == CUTOFFS[2:]
    assert notes == [
        "every origin has fewer than 30 churners (min_cutoff_churners): the 3 folds are merged into one score over "
        "their pooled rows (30 churners)"
    ]


def test_few_churners_bring_the_regularised_candidates() -> None:
    many = [c.name for c in candidates(FEW_CHURNERS)]
    few = [c.name for c in candidates(FEW_CHURNERS - 1)]
    assert many[:2] == ["lightgbm_default", "logistic_C0.1"]
    assert set(few) - set(many) == {"lightgbm_regularised_1", "lightgbm_regularised_2"}
    assert few.index("lightgbm_regularised_1") == 2  # tried right after the default and the linear model
