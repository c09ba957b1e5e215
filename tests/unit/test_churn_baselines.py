"""Churn baselines: scores on [0, 1] with the raw ranking, and an honest, robust 1 - P(alive) BTYD baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from features.errors import UserInputError
from features.feature_spec import FeatureSpec, feature_catalog
from features.settings import FeatureSettings
from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel
from training.churn_baselines import (
    BTYD_MIN_REPEAT_BUYERS,
    baseline_scores,
    btyd_scores,
    fit_bgnbd_point,
    recency_scores,
)

CUTOFF = pd.Timestamp("2026-03-01")


def _spec(names: tuple[str, ...], absent: dict[str, str] | None = None) -> FeatureSpec:
    catalog = {f.name: f for f in feature_catalog(FeatureSettings())}
    return FeatureSpec(features=[catalog[n] for n in names], absent=absent or {}, time_unit=TimeUnit.WEEK)


def _summary(n: int, seed: int) -> pd.DataFrame:
    """A BG/NBD-like population of buyers (weeks): Poisson buying, geometric drop-out after purchases."""
    rng = np.random.default_rng(seed)
    T = rng.uniform(4, 80, n).round(3)
    lam = rng.gamma(0.8, 1 / 3.0, n)
    p = rng.beta(1.0, 4.0, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T[i]:
                break
            x[i] += 1
            t_x[i] = t
            if rng.random() < p[i]:
                break
    frame = pd.DataFrame({"frequency": x.astype(np.int64), "recency": t_x.round(3), "T": T})
    frame.index = pd.Index([f"c{i:05d}" for i in range(n)], name="customer_id")
    return frame


def test_point_fit_matches_lifetimes_on_cdnow() -> None:
    from lifetimes import BetaGeoFitter
    from lifetimes.datasets import load_cdnow_summary

    cdnow = load_cdnow_summary()
    fit = fit_bgnbd_point(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    ref = BetaGeoFitter(penalizer_coef=fit.penalizer).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"]).params_
    np.testing.assert_allclose([fit.r, fit.alpha, fit.a, fit.b], ref[["r", "alpha", "a", "b"]], rtol=1e-4)
    assert fit.n_buyers == len(cdnow)
    assert fit.n_repeat_buyers == int((cdnow["frequency"] > 0).sum())


def test_point_fit_refuses_too_few_repeat_buyers() -> None:
    x = np.zeros(500)
    x[: BTYD_MIN_REPEAT_BUYERS - 1] = 2
    t_x = np.where(x > 0, 3.0, 0.0)
    with pytest.raises(UserInputError, match=f"at least {BTYD_MIN_REPEAT_BUYERS} repeat buyers"):
        fit_bgnbd_point(x, t_x, np.full(500, 10.0))


def test_point_fit_survives_a_flat_likelihood() -> None:
    # every repeat buyer looks the same: the likelihood is flat along some parameter directions, so a Hessian
    # would be singular; the point estimate still exists (bounded log-parameters, no covariance needed)
    x = np.r_[np.full(300, 1.0), np.zeros(300)]
    t_x = np.r_[np.full(300, 5.0), np.zeros(300)]
    fit = fit_bgnbd_point(x, t_x, np.full(600, 10.0))
    assert np.isfinite([fit.r, fit.alpha, fit.a, fit.b]).all()


def _frame(ids: list[str], summary: pd.DataFrame) -> pd.DataFrame:
    rows = summary.reindex(ids)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "as_of": CUTOFF,
            "btyd_frequency": rows["frequency"].to_numpy(dtype=np.float64, na_value=np.nan),
            "btyd_recency": rows["recency"].to_numpy(),
            "btyd_T": rows["T"].to_numpy(),
        }
    )


def test_btyd_fits_on_all_buyers_and_gives_never_buyers_their_training_rate() -> None:
    summary = _summary(3000, 1)
    spec = _spec(("btyd_frequency", "btyd_recency", "btyd_T"))
    # the labelled test rows: 400 of the buyers (the still-active ones, in a real base) and 50 never-buyers
    ids = [*summary.index[:400], *(f"new{i}" for i in range(50))]
    test = _frame(ids, summary)
    train = pd.DataFrame({"btyd_frequency": [np.nan] * 10 + [1.0] * 30})
    y_train = np.r_[np.ones(7), np.zeros(3), np.ones(3), np.zeros(27)]  # never-buyers churned 7 of 10
    calls: list[pd.Timestamp] = []

    def summary_at(cutoff: pd.Timestamp) -> pd.DataFrame:
        calls.append(cutoff)
        return summary

    base = btyd_scores(train, y_train, test, spec, summary_at=summary_at)
    assert calls == [CUTOFF]
    assert base.scores is not None
    assert "all 3000 buyers" in base.note
    fit = fit_bgnbd_point(summary["frequency"], summary["recency"], summary["T"])
    model = BetaGeoModel.from_params(fit.r, fit.alpha, fit.a, fit.b, time_unit=TimeUnit.WEEK)
    head = summary.iloc[:400]
    expected = 1.0 - model.p_alive(head["frequency"], head["recency"], head["T"])
    np.testing.assert_allclose(base.scores[:400], expected)
    np.testing.assert_allclose(base.scores[400:], 0.7)  # training churn rate of never-buyers
    assert "never-buyers score 0.700" in base.note
    one_time = (head["frequency"] == 0).to_numpy()
    assert one_time.any()
    np.testing.assert_array_equal(base.scores[:400][one_time], 0.0)  # BG/NBD: no repeat purchase = alive
    assert ((base.scores >= 0) & (base.scores <= 1)).all()
    # a fit on the labelled rows only (survivors) would give other parameters: that is what changed
    survivors = fit_bgnbd_point(head["frequency"], head["recency"], head["T"])
    assert not np.allclose([fit.r, fit.a, fit.b], [survivors.r, survivors.a, survivors.b], rtol=1e-3)


def test_btyd_is_skipped_with_the_reason_when_there_are_no_purchases() -> None:
    spec = _spec(("days_since_last_event",), absent={"btyd_frequency": "no transactions table"})
    frame = pd.DataFrame({"customer_id": ["a"], "as_of": [CUTOFF], "days_since_last_event": [3.0]})
    base = btyd_scores(frame, np.zeros(1), frame, spec, summary_at=None)
    assert base.scores is None
    assert base.note == "skipped: no transactions table"
    few = _summary(15, 2)  # fewer repeat buyers than BTYD_MIN_REPEAT_BUYERS
    spec = _spec(("btyd_frequency", "btyd_recency", "btyd_T"))
    test = _frame(list(few.index), few)
    base = btyd_scores(test, np.zeros(len(test)), test, spec, summary_at=lambda cutoff: few)
    assert base.scores is None
    assert base.note.startswith("skipped: BG/NBD needs at least")


def test_recency_score_is_on_the_unit_interval_with_the_days_ranking() -> None:
    days = np.array([0.0, 3.0, 10.0, np.nan, 45.0, 3.0])
    test = pd.DataFrame({"days_since_last_event": days})
    base = recency_scores(test, test)
    assert base.scores is not None
    assert base.validation is not None
    assert ((base.scores >= 0) & (base.scores < 1)).all()
    filled = np.where(np.isnan(days), 46.0, days)  # never active ranks first
    np.testing.assert_array_equal(rankdata(base.scores), rankdata(filled))


def test_every_baseline_scores_validation_and_test_rows() -> None:
    rng = np.random.default_rng(3)
    summary = _summary(800, 4)

    def frame(n: int) -> pd.DataFrame:
        ids = list(summary.index[rng.choice(len(summary), n, replace=False)])
        out = _frame(ids, summary)
        out["days_since_last_event"] = rng.exponential(10, n)
        out["events_90d"] = rng.poisson(20, n)
        out["tenure_days"] = rng.uniform(30, 700, n)
        return out

    train, validation, test = frame(300), frame(200), frame(250)
    spec = _spec(("tenure_days", "events_90d", "days_since_last_event", "btyd_frequency", "btyd_recency", "btyd_T"))
    y = (rng.random(300) < 0.3).astype(np.float64)
    out = baseline_scores(train, y, test, spec, validation=validation, summary_at=lambda cutoff: summary)
    assert [b.name for b in out] == ["recency", "rfm_logistic", "btyd"]
    for base in out:
        assert base.scores is not None, base.note
        assert base.validation is not None
        assert base.scores.shape == (250,)
        assert base.validation.shape == (200,)
        assert ((base.scores >= 0) & (base.scores <= 1)).all()
