"""Simple churn scorers the model must beat, computed on exactly the model's test rows.

* ``recency``: days since the last event (a longer silence = more likely gone); the rule a CRM team would use
  without a model. Customers never active rank first.
* ``rfm_logistic``: logistic regression on recency, frequency and (when transactions exist) monetary value,
  log-transformed and standardised, fitted on the training rows (Hughes' RFM; the classic direct-marketing
  baseline).
* ``btyd``: 1 - P(alive) from a BG/NBD model (Fader, Hardie & Lee 2005) fitted on the test cutoff's
  ``btyd_*`` summary. That fit only uses purchases before the cutoff and no labels, so it leaks nothing.
  Customers without purchases enter with frequency 0, recency 0 and T = tenure (the model's "no repeat
  purchase" case). Skipped with a note when the data has no transactions table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from features.errors import UserInputError

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec


@dataclass(frozen=True)
class BaselineScores:
    """Scores of one baseline on the test rows (higher = more likely to churn), or why it was skipped."""

    name: str
    scores: NDArray[np.float64] | None
    note: str


def _first_present(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def recency_scores(test: pd.DataFrame) -> BaselineScores:
    column = _first_present(test, ("days_since_last_event", "days_since_last_core_action", "days_since_last_txn"))
    if column is None:
        return BaselineScores("recency", None, "skipped: no days_since_last_* feature in the data")
    values = test[column].to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[np.isfinite(values)]
    never = (finite.max() if finite.size else 0.0) + 1.0
    return BaselineScores("recency", np.where(np.isfinite(values), values, never), f"score = {column}")


def _rfm(frame: pd.DataFrame) -> tuple[NDArray[np.float64], list[str]]:
    cols: list[NDArray[np.float64]] = []
    used: list[str] = []
    recency = _first_present(frame, ("days_since_last_event", "days_since_last_core_action"))
    if recency is not None:
        r = frame[recency].to_numpy(dtype=np.float64, na_value=np.nan)
        tenure = frame["tenure_days"].to_numpy(dtype=np.float64, na_value=np.nan) if "tenure_days" in frame else r
        cols.append(np.log1p(np.where(np.isfinite(r), r, np.nan_to_num(tenure, nan=365.0))))
        used.append(recency)
    frequency = _first_present(frame, ("events_90d", "active_days_90d", "txn_count_90d"))
    if frequency is not None:
        cols.append(np.log1p(np.nan_to_num(frame[frequency].to_numpy(dtype=np.float64, na_value=np.nan))))
        used.append(frequency)
    monetary = _first_present(frame, ("txn_amount_90d", "sub_mrr"))
    if monetary is not None:
        cols.append(np.log1p(np.nan_to_num(frame[monetary].to_numpy(dtype=np.float64, na_value=np.nan))))
        used.append(monetary)
    if not cols:
        return np.empty((len(frame), 0)), used
    return np.column_stack(cols), used


def rfm_logistic_scores(train: pd.DataFrame, y_train: NDArray[np.float64], test: pd.DataFrame) -> BaselineScores:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, used = _rfm(train)
    if not used:
        return BaselineScores("rfm_logistic", None, "skipped: no recency/frequency/monetary features")
    X_test, _ = _rfm(test)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)
    return BaselineScores(
        "rfm_logistic", model.predict_proba(X_test)[:, 1], "logistic regression on " + ", ".join(used)
    )


def btyd_scores(test: pd.DataFrame, spec: FeatureSpec) -> BaselineScores:
    needed = ("btyd_frequency", "btyd_recency", "btyd_T")
    if any(n not in test.columns for n in needed):
        why = spec.absent.get("btyd_frequency", "no btyd_* features")
        return BaselineScores("btyd", None, f"skipped: {why}")
    try:
        from models.bgnbd import BetaGeoModel
    except ImportError:
        return BaselineScores("btyd", None, "skipped: models.bgnbd is not available")
    unit_days = spec.time_unit.days
    freq = test["btyd_frequency"].to_numpy(dtype=np.float64, na_value=np.nan)
    rec = test["btyd_recency"].to_numpy(dtype=np.float64, na_value=np.nan)
    T = test["btyd_T"].to_numpy(dtype=np.float64, na_value=np.nan)
    tenure = (
        test["tenure_days"].to_numpy(dtype=np.float64, na_value=np.nan) / unit_days
        if "tenure_days" in test
        else np.nanmax(T)
    )
    no_purchase = ~np.isfinite(freq)
    freq = np.where(no_purchase, 0.0, freq)
    rec = np.where(no_purchase, 0.0, rec)
    T = np.where(no_purchase | ~np.isfinite(T), np.maximum(tenure, 1e-3), T)
    # BG/NBD describes customers from their first purchase on: fit on buyers, score everyone
    fit_rows = ~no_purchase & np.isfinite(T) & (T > 0)
    if fit_rows.sum() < 50 or freq[fit_rows].max() == 0:
        return BaselineScores("btyd", None, "skipped: too few repeat purchases to fit BG/NBD")
    try:
        model = BetaGeoModel(penalizer_coef=0.001, time_unit=spec.time_unit).fit(
            freq[fit_rows], rec[fit_rows], T[fit_rows]
        )
    except UserInputError as err:
        return BaselineScores("btyd", None, f"skipped: BG/NBD fit failed: {err}")
    p_alive = np.asarray(model.p_alive(freq, rec, T), dtype=np.float64)
    p_alive = np.where(np.isfinite(p_alive), p_alive, 0.5)
    return BaselineScores("btyd", 1.0 - p_alive, "1 - P(alive) from BG/NBD fitted on the test cutoff's btyd_* summary")


def baseline_scores(
    train: pd.DataFrame, y_train: NDArray[np.float64], test: pd.DataFrame, spec: FeatureSpec
) -> list[BaselineScores]:
    """All baselines on the test rows, in a fixed order (skipped ones carry ``scores=None`` and a note)."""
    return [recency_scores(test), rfm_logistic_scores(train, y_train, test), btyd_scores(test, spec)]
