"""Model selection by rolling-origin evaluation: which candidate the churn job keeps.

One validation window is one draw: on a small base, or a cutoff with a dozen churners, the candidate that wins
it is often just lucky (issue 14: the run kept a LightGBM that lost to its own RFM baseline on the holdout). So
every candidate is scored over several origins: for each of the latest ``rolling_folds`` cutoffs before the test
window (the validation cutoff and the ones before it), the candidate is fitted on the rows of the cutoffs whose
labels end by that origin (as_of + H <= origin) and scored (ROC-AUC) on the origin's rows. The candidate with the
best mean over the folds is kept, then refitted on the training window (early-stopped and calibrated on the
validation window as before) and judged on the untouched test window against every baseline.

* A fold whose origin has fewer than ``min_cutoff_churners`` churners is skipped (its AUC would be noise); when
  every fold is that small, the folds are merged (one AUC over their pooled rows), and the run says which and why.
* Candidates, in order: LightGBM with the robust default, the regularised logistic regression on log-scaled
  features (``models.churn_linear``), and, when the training churners are few, LightGBM with strong
  regularisation (small trees, large leaves, a large L2 penalty), then the rest of ``SEARCH_SPACE`` and a second
  logistic penalty. LightGBM is early-stopped on each fold's origin rows (what the single-window search did).
* Budget: LightGBM fits spend the nominal seconds of ``churn_tuning`` (rows x features x trees / 1e8), summed
  over the folds; a candidate starts only while budget is left and the wall-clock cap is not reached (the first
  always runs). Same data + same seed = same choice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from training.churn_split import LABEL, TimeSplit, feature_matrix
from training.churn_tuning import (
    NOMINAL_CELL_ROUNDS_PER_SECOND,
    SEARCH_SPACE,
    STOPPED_BUDGET,
    STOPPED_COMPLETE,
    STOPPED_WALL_CLOCK,
)

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec
    from models.churn_classifier import ChurnClassifier
    from models.churn_linear import ChurnLinearClassifier

logger = logging.getLogger(__name__)

FEW_CHURNERS = 1000
"""Below this many training churners the strongly regularised LightGBM candidates join the search."""
REGULARISED_LIGHTGBM: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.03, "num_leaves": 7, "min_data_in_leaf": 200, "feature_fraction": 0.7, "lambda_l2": 20.0},
    {"learning_rate": 0.03, "num_leaves": 4, "min_data_in_leaf": 400, "feature_fraction": 0.6, "lambda_l2": 50.0},
)
LOGISTIC_PENALTIES = (0.1, 1.0)
"""Inverse L2 strengths C of the logistic candidates (on standardised columns)."""
LOGISTIC_NOMINAL_SECONDS_PER_CELL = 5e-8  # a lbfgs fit is about 5 passes' worth of one boosting round per cell


@dataclass(frozen=True)
class Candidate:
    """One model configuration the selection tries."""

    name: str
    kind: str  # "lightgbm" | "logistic"
    params: dict[str, Any]

    def build(self, spec: FeatureSpec, *, seed: int, num_threads: int) -> ChurnClassifier | ChurnLinearClassifier:
        from models.churn_classifier import ChurnClassifier
        from models.churn_linear import ChurnLinearClassifier

        if self.kind == "logistic":
            return ChurnLinearClassifier(spec, **self.params)
        return ChurnClassifier(spec, random_state=seed, num_threads=num_threads, **self.params)


@dataclass(frozen=True)
class Fold:
    """One rolling origin: train on ``train_cutoffs``, score on ``origin``."""

    origin: pd.Timestamp
    train_cutoffs: tuple[pd.Timestamp, ...]
    churners: int
    rows: int


@dataclass(frozen=True)
class SelectionOutcome:
    """The refitted chosen model, every candidate's fold scores, the folds used and skipped, and why it stopped."""

    best: ChurnClassifier | ChurnLinearClassifier
    selected: Candidate
    trials: list[dict[str, Any]]
    folds: list[Fold]
    skipped: list[str]
    merged: bool
    stopped_by: str
    nominal_seconds: float
    wall_seconds: float

    def describe_folds(self) -> str:
        used = ", ".join(f"{f.origin.date()} ({f.churners} churners)" for f in self.folds)
        text = f"rolling origins {used}" + (" merged into one pooled score" if self.merged else "")
        return text + ("; " + "; ".join(self.skipped) if self.skipped else "")


def candidates(training_churners: int) -> list[Candidate]:
    """The candidates in the order they are tried (see the module docstring)."""
    out = [
        Candidate("lightgbm_default", "lightgbm", dict(SEARCH_SPACE[0])),
        Candidate(f"logistic_C{LOGISTIC_PENALTIES[0]:g}", "logistic", {"C": LOGISTIC_PENALTIES[0]}),
    ]
    if training_churners < FEW_CHURNERS:
        out += [
            Candidate(f"lightgbm_regularised_{i + 1}", "lightgbm", dict(p)) for i, p in enumerate(REGULARISED_LIGHTGBM)
        ]
    out += [Candidate(f"lightgbm_search_{i + 2}", "lightgbm", dict(p)) for i, p in enumerate(SEARCH_SPACE[1:])]
    out += [Candidate(f"logistic_C{c:g}", "logistic", {"C": c}) for c in LOGISTIC_PENALTIES[1:]]
    return out


def rolling_folds(
    frame: pd.DataFrame, horizon_days: int, *, n_folds: int, min_churners: int
) -> tuple[list[Fold], list[str], bool]:
    """The latest ``n_folds`` origins of ``frame`` (training + validation rows) that have a training cutoff whose
    labels end by them; small ones skipped, or all merged when every one is small (see the module docstring)."""
    import pandas as pd

    cutoffs = sorted(pd.to_datetime(frame["as_of"].unique()))
    horizon = pd.Timedelta(days=horizon_days)
    possible: list[Fold] = []
    for origin in reversed(cutoffs):
        train = tuple(c for c in cutoffs if c + horizon <= origin)
        if not train:
            continue
        rows = frame["as_of"] == origin
        possible.append(Fold(origin, train, int(frame.loc[rows, LABEL].sum()), int(rows.sum())))
        if len(possible) == n_folds:
            break
    possible.reverse()
    big = [f for f in possible if f.churners >= min_churners]
    skipped = [
        f"origin {f.origin.date()} skipped: {f.churners} churners in {f.rows} rows "
        f"(< min_cutoff_churners {min_churners})"
        for f in possible
        if f.churners < min_churners
    ]
    if big or not possible:
        return big, skipped, False
    total = sum(f.churners for f in possible)
    merged = [
        f"every origin has fewer than {min_churners} churners (min_cutoff_churners): the {len(possible)} folds are "
        f"merged into one score over their pooled rows ({total} churners)"
    ]
    return possible, merged, True


def _fold_scores(
    candidate: Candidate,
    frame: pd.DataFrame,
    folds: Sequence[Fold],
    spec: FeatureSpec,
    *,
    seed: int,
    num_threads: int,
) -> tuple[list[float], list[tuple[np.ndarray, np.ndarray]], float, list[int]]:
    """Per fold: the origin's ROC-AUC, its (y, p), the nominal seconds spent and the trees built."""
    from training.churn_evaluation import roc_auc

    aucs: list[float] = []
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    nominal = 0.0
    trees: list[int] = []
    for fold in folds:
        train = frame[frame["as_of"].isin(fold.train_cutoffs)]
        held = frame[frame["as_of"] == fold.origin]
        y_train, y_held = train[LABEL].to_numpy(np.float64), held[LABEL].to_numpy(np.float64)
        if np.unique(y_train).size < 2 or np.unique(y_held).size < 2:
            continue
        model = candidate.build(spec, seed=seed, num_threads=num_threads)
        X_held = feature_matrix(held, spec)
        model.fit(feature_matrix(train, spec), y_train, eval_set=(X_held, y_held))
        p = model.predict_proba(X_held)[:, 1]
        aucs.append(roc_auc(y_held, p))
        pairs.append((y_held, p))
        cells = len(train) * len(spec.names)
        if candidate.kind == "lightgbm":
            rounds = model.booster_.current_iteration()  # type: ignore[union-attr]
            nominal += cells * rounds / NOMINAL_CELL_ROUNDS_PER_SECOND
            trees.append(int(model.best_iteration_))
        else:
            nominal += cells * LOGISTIC_NOMINAL_SECONDS_PER_CELL
    return aucs, pairs, nominal, trees


def select_model(
    split: TimeSplit,
    spec: FeatureSpec,
    *,
    horizon_days: int,
    seed: int,
    budget_seconds: float,
    n_folds: int = 3,
    min_cutoff_churners: int = 30,
    num_threads: int = 2,
    wall_clock_cap_seconds: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> SelectionOutcome:
    """Score the candidates by rolling origin, keep the best mean ROC-AUC, refit it on the training window."""
    import pandas as pd

    from training.churn_evaluation import roc_auc

    frame = pd.concat([split.train, split.validation], ignore_index=True)
    folds, skipped, merged = rolling_folds(frame, horizon_days, n_folds=n_folds, min_churners=min_cutoff_churners)
    for note in skipped:
        logger.warning("model selection: %s", note)
    logger.info(
        "model selection over %d rolling origin(s): %s", len(folds), ", ".join(str(f.origin.date()) for f in folds)
    )
    pool = candidates(int(split.train[LABEL].sum()))
    spent, start = 0.0, clock()
    trials: list[dict[str, Any]] = []
    best: tuple[float, Candidate] | None = None
    stopped_by = STOPPED_COMPLETE
    for i, candidate in enumerate(pool):
        if i > 0 and spent >= budget_seconds:
            logger.info("selection budget of %.0f nominal s used up after %d candidate(s)", budget_seconds, i)
            stopped_by = STOPPED_BUDGET
            break
        elapsed = clock() - start
        if i > 0 and wall_clock_cap_seconds is not None and elapsed >= wall_clock_cap_seconds:
            logger.warning(
                "model selection stopped by the wall-clock safety cap (%.0f s elapsed >= cap %.0f s) after %d "
                "candidate(s), before the nominal budget was used (%.0f of %.0f nominal s): the choice depends on "
                "this machine",
                *(elapsed, wall_clock_cap_seconds, i, spent, budget_seconds),
            )
            stopped_by = STOPPED_WALL_CLOCK
            break
        t0 = clock()
        aucs, pairs, nominal, trees = _fold_scores(candidate, frame, folds, spec, seed=seed, num_threads=num_threads)
        spent += nominal
        if merged and pairs:
            score = roc_auc(np.concatenate([y for y, _ in pairs]), np.concatenate([p for _, p in pairs]))
        else:
            score = float(np.mean(aucs)) if aucs else float("nan")
        trial = {
            "candidate": candidate.name,
            "kind": candidate.kind,
            **candidate.params,
            "fold_roc_auc": [round(a, 6) for a in aucs],
            "rolling_roc_auc": score,
            "trees": trees,
            "seconds": round(clock() - t0, 2),
        }
        trials.append(trial)
        logger.info(
            "candidate %d/%d %s: rolling-origin AUC %.4f over %d fold(s), %.1f s (budget used %.0f of %.0f nominal s)",
            *(i + 1, len(pool), candidate.name, score, len(aucs), trial["seconds"], spent, budget_seconds),
        )
        if np.isfinite(score) and (best is None or score > best[0]):
            best = (score, candidate)
    chosen = best[1] if best is not None else pool[0]
    model = chosen.build(spec, seed=seed, num_threads=num_threads)
    model.fit(
        feature_matrix(split.train, spec),
        split.train[LABEL].to_numpy(),
        eval_set=(feature_matrix(split.validation, spec), split.validation[LABEL].to_numpy()),
    )
    logger.info("selected %s (rolling-origin AUC %.4f)", chosen.name, best[0] if best is not None else float("nan"))
    return SelectionOutcome(model, chosen, trials, folds, skipped, merged, stopped_by, spent, clock() - start)
