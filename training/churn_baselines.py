"""Simple churn scorers the model must beat, computed on exactly the model's test rows.

Every baseline scores the validation rows and the test rows with a value in [0, 1] (higher = more likely to
churn). The training job maps that score to a probability with the model's own calibration (isotonic, fitted on
the validation window), so Brier, log loss and ECE compare like with like; the map is strictly increasing, so
the ranking metrics (ROC-AUC, PR-AUC, lift, capture) are those of the raw score.

* ``recency``: days since the last event d (a longer silence = more likely gone), as ``d / (1 + d)``; the rule
  a CRM team would use without a model. Customers never active rank first.
* ``rfm_logistic``: logistic regression on recency, frequency and (when transactions exist) monetary value,
  log-transformed and standardised, fitted on the training rows (Hughes' RFM; the classic direct-marketing
  baseline).
* ``btyd``: 1 - P(alive) from a BG/NBD model (Fader, Hardie & Lee 2005), fitted at each scored cutoff on the
  BTYD summary of *every* customer with a purchase before it (not only the labelled, still-active rows, which
  would select survivors). The fit uses purchases before the cutoff and no labels, so it leaks nothing.
  P(alive | x, t_x, T) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) (FHL 2005, eq. 11 note), so a
  one-time buyer (x = 0) is alive by the model's assumption (drop-out happens right after a purchase).
  Customers who never bought are outside BG/NBD: they get the churn rate of never-buyers in the training rows
  (the overall training churn rate when the training rows have none), the honest prior for a group the model
  cannot describe. Skipped with a note when the data has no transactions table or too few repeat buyers.

The BG/NBD fit here maximises the paper's likelihood (eq. 6, ``models.bgnbd.bgnbd_log_likelihood``) with
L-BFGS-B over bounded log-parameters and an L2 penalty, retried with a larger penalty when it does not converge.
A baseline needs only the point estimate, and a flat likelihood must not make it disappear: lifetimes'
unbounded optimiser (behind ``BetaGeoModel.fit``, even with ``compute_covariance=False``) reports no convergence
on such data, where the bounded fit still returns finite parameters (tests/unit/test_churn_baselines.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from features.errors import UserInputError

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec

FloatArray = NDArray[np.float64]
SummaryAt = Callable[["pd.Timestamp"], "pd.DataFrame"]
"""The BTYD summary (index customer_id; frequency, recency, T in the spec's time unit) of all buyers before a cutoff."""

BTYD_PENALIZERS = (0.001, 0.01, 0.1)
"""L2 penalties tried in order until the BG/NBD fit converges."""
BTYD_MIN_REPEAT_BUYERS = 20
_LOG_PARAM_BOUNDS = (-12.0, 12.0)  # keeps exp(log-parameter) finite when the likelihood is flat in a direction


@dataclass(frozen=True)
class BaselineScores:
    """Scores of one baseline on the test rows (higher = more likely to churn), or why it was skipped.

    ``validation`` holds the same score on the validation rows, from which the job calibrates it.
    """

    name: str
    scores: FloatArray | None
    note: str
    validation: FloatArray | None = None


def _first_present(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in frame.columns), None)


def _recency_of(frame: pd.DataFrame, column: str) -> FloatArray:
    values = frame[column].to_numpy(dtype=np.float64, na_value=np.nan)
    finite = values[np.isfinite(values)]
    never = (finite.max() if finite.size else 0.0) + 1.0
    days = np.maximum(np.where(np.isfinite(values), values, never), 0.0)
    out: FloatArray = days / (1.0 + days)
    return out


def recency_scores(test: pd.DataFrame, validation: pd.DataFrame | None = None) -> BaselineScores:
    column = _first_present(test, ("days_since_last_event", "days_since_last_core_action", "days_since_last_txn"))
    if column is None:
        return BaselineScores("recency", None, "skipped: no days_since_last_* feature in the data")
    return BaselineScores(
        "recency",
        _recency_of(test, column),
        f"score = d / (1 + d), d = {column} (never active: longest silence + 1)",
        None if validation is None else _recency_of(validation, column),
    )


def _rfm(frame: pd.DataFrame) -> tuple[FloatArray, list[str]]:
    cols: list[FloatArray] = []
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


def rfm_logistic_scores(
    train: pd.DataFrame, y_train: FloatArray, test: pd.DataFrame, validation: pd.DataFrame | None = None
) -> BaselineScores:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X_train, used = _rfm(train)
    if not used:
        return BaselineScores("rfm_logistic", None, "skipped: no recency/frequency/monetary features")
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(X_train, y_train)

    def score(frame: pd.DataFrame) -> FloatArray:
        return np.asarray(model.predict_proba(_rfm(frame)[0])[:, 1], dtype=np.float64)

    return BaselineScores(
        "rfm_logistic",
        score(test),
        "logistic regression on " + ", ".join(used) + " (fitted on the training rows)",
        None if validation is None else score(validation),
    )


# -- BTYD -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BgnbdFit:
    """Point estimate of the BG/NBD parameters on one cutoff's buyers."""

    r: float
    alpha: float
    a: float
    b: float
    penalizer: float
    n_buyers: int
    n_repeat_buyers: int


def fit_bgnbd_point(frequency: FloatArray, recency: FloatArray, T: FloatArray) -> BgnbdFit:
    """Maximum (penalised) likelihood BG/NBD parameters, without a covariance (see the module docstring).

    Identical (x, t_x, T) rows are merged with weights; time is rescaled so the longest T is 1 and the penalty is
    ``penalizer * sum(params**2)`` on the mean log-likelihood, both as in lifetimes, so the estimates match
    ``lifetimes.BetaGeoFitter(penalizer_coef=...)``. Raises ``UserInputError`` when no penalty in
    ``BTYD_PENALIZERS`` gives a converged fit.
    """
    from scipy.optimize import minimize

    from models.bgnbd import bgnbd_log_likelihood
    from models.btyd_inputs import check_summary

    x, t_x, t = check_summary(frequency, recency, T)
    n_repeat = int((x > 0).sum())
    if n_repeat < BTYD_MIN_REPEAT_BUYERS:
        raise UserInputError(
            f"BG/NBD needs at least {BTYD_MIN_REPEAT_BUYERS} repeat buyers to fit, got {n_repeat} of {x.size} buyers"
        )
    rows, weights = np.unique(np.column_stack([x, t_x, t]), axis=0, return_counts=True)
    scale = 1.0 / max(float(t.max()), 1e-9)
    ux, utx, ut = rows[:, 0], rows[:, 1] * scale, rows[:, 2] * scale
    w = weights.astype(np.float64) / weights.sum()

    failures: list[str] = []
    for penalizer in BTYD_PENALIZERS:

        def objective(log_params: FloatArray, penalizer: float = penalizer) -> float:
            params = np.exp(log_params)
            r, alpha, a, b = (float(v) for v in params)
            ll = bgnbd_log_likelihood(r, alpha, a, b, ux, utx, ut)
            value = -float((w * ll).sum()) + penalizer * float((params**2).sum())
            return value if np.isfinite(value) else 1e300

        with np.errstate(all="ignore"):
            result = minimize(
                objective,
                np.full(4, np.log(0.5)),
                method="L-BFGS-B",
                bounds=[_LOG_PARAM_BOUNDS] * 4,
                options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000},
            )
        params = np.exp(result.x)
        if result.success and np.isfinite(result.fun) and result.fun < 1e300 and np.all(np.isfinite(params)):
            r, alpha, a, b = (float(v) for v in params)
            return BgnbdFit(r, alpha / scale, a, b, penalizer, int(x.size), n_repeat)
        failures.append(f"penalizer {penalizer}: {result.message}")
    raise UserInputError("BG/NBD did not converge: " + "; ".join(failures))


def _never_buyer_rate(train: pd.DataFrame, y_train: FloatArray) -> tuple[float, str]:
    never = ~np.isfinite(train["btyd_frequency"].to_numpy(dtype=np.float64, na_value=np.nan))
    if never.any():
        return float(y_train[never].mean()), f"training churn rate of never-buyers ({int(never.sum())} rows)"
    return float(y_train.mean()), "training churn rate (no never-buyer in the training rows)"


def _btyd_score(
    frame: pd.DataFrame, summary_at: SummaryAt, spec: FeatureSpec, never_score: float
) -> tuple[FloatArray, BgnbdFit]:
    import pandas as pd

    from models.bgnbd import BetaGeoModel

    as_of = pd.to_datetime(frame["as_of"])
    if len(as_of) == 0 or bool((as_of != as_of.iloc[0]).any()):
        raise UserInputError("the BTYD baseline scores the rows of exactly one cutoff at a time")
    summary = summary_at(pd.Timestamp(as_of.iloc[0]))
    fit = fit_bgnbd_point(
        summary["frequency"].to_numpy(np.float64), summary["recency"].to_numpy(np.float64), summary["T"].to_numpy()
    )
    rows = summary.reindex(frame["customer_id"].astype(str).to_numpy())
    bought = rows["frequency"].notna().to_numpy()
    model = BetaGeoModel.from_params(fit.r, fit.alpha, fit.a, fit.b, time_unit=spec.time_unit)
    scores = np.full(len(frame), never_score)
    if bought.any():
        p_alive = model.p_alive(
            rows["frequency"].to_numpy(np.float64)[bought],
            rows["recency"].to_numpy(np.float64)[bought],
            rows["T"].to_numpy(np.float64)[bought],
        )
        scores[bought] = 1.0 - np.asarray(p_alive, dtype=np.float64)
    return scores, fit


def btyd_scores(
    train: pd.DataFrame,
    y_train: FloatArray,
    test: pd.DataFrame,
    spec: FeatureSpec,
    *,
    summary_at: SummaryAt | None,
    validation: pd.DataFrame | None = None,
) -> BaselineScores:
    if "btyd_frequency" not in spec.names or summary_at is None:
        why = spec.absent.get("btyd_frequency", "no BTYD summary available")
        return BaselineScores("btyd", None, f"skipped: {why}")
    never_score, never_note = _never_buyer_rate(train, y_train)
    try:
        scores, fit = _btyd_score(test, summary_at, spec, never_score)
        val_scores = None if validation is None else _btyd_score(validation, summary_at, spec, never_score)[0]
    except UserInputError as err:
        return BaselineScores("btyd", None, f"skipped: {err}")
    note = (
        f"1 - P(alive) from BG/NBD fitted on all {fit.n_buyers} buyers before the test cutoff "
        f"({fit.n_repeat_buyers} repeat buyers; r={fit.r:.3g}, alpha={fit.alpha:.3g}, a={fit.a:.3g}, "
        f"b={fit.b:.3g}, penalizer {fit.penalizer}); never-buyers score {never_score:.3f} = {never_note}"
    )
    return BaselineScores("btyd", scores, note, val_scores)


def baseline_scores(
    train: pd.DataFrame,
    y_train: FloatArray,
    test: pd.DataFrame,
    spec: FeatureSpec,
    *,
    validation: pd.DataFrame | None = None,
    summary_at: SummaryAt | None = None,
) -> list[BaselineScores]:
    """All baselines on the test (and validation) rows, in a fixed order; skipped ones carry ``scores=None``."""
    return [
        recency_scores(test, validation),
        rfm_logistic_scores(train, y_train, test, validation),
        btyd_scores(train, y_train, test, spec, summary_at=summary_at, validation=validation),
    ]
