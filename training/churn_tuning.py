"""The churn model's hyper-parameter search: a fixed list of LightGBM candidates under a nominal-seconds budget.

Determinism: LightGBM runs with ``deterministic=True`` and a thread count that depends only on the data size, the
search is a fixed list tried in order under a budget counted in nominal seconds of work (not wall time), and the
candidates are judged on the validation window of the time split (``churn_split``). A wall-clock safety cap
(``tuning_wall_clock_cap_seconds``) can only stop the search early, between candidates; the run records whether it did
(``tuning_stopped_by``), since only then does the chosen model depend on the machine.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from training.churn_split import LABEL, TimeSplit, feature_matrix

if TYPE_CHECKING:
    from features.feature_spec import FeatureSpec
    from models.churn_classifier import ChurnClassifier

logger = logging.getLogger(__name__)

# training-matrix cells x boosting rounds per nominal second (about what 2 idle cores do with LightGBM)
NOMINAL_CELL_ROUNDS_PER_SECOND = 1.0e8

# A small search space, tried in this order until the time budget runs out (the first is a robust default).
SEARCH_SPACE: tuple[dict[str, Any], ...] = (
    {"learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 100, "feature_fraction": 0.8, "lambda_l2": 1.0},
    {"learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 200, "feature_fraction": 0.8, "lambda_l2": 1.0},
    {"learning_rate": 0.05, "num_leaves": 63, "min_data_in_leaf": 100, "feature_fraction": 0.7, "lambda_l2": 5.0},
    {"learning_rate": 0.1, "num_leaves": 31, "min_data_in_leaf": 50, "feature_fraction": 0.9, "lambda_l2": 0.0},
)


STOPPED_COMPLETE = "search_space_exhausted"
STOPPED_BUDGET = "nominal_budget"
STOPPED_WALL_CLOCK = "wall_clock_cap"


@dataclass(frozen=True)
class TuningOutcome:
    """The chosen classifier, every candidate tried, and why the search stopped."""

    best: ChurnClassifier
    trials: list[dict[str, Any]]
    stopped_by: str
    nominal_seconds: float
    wall_seconds: float


def tune(
    split: TimeSplit,
    spec: FeatureSpec,
    *,
    seed: int,
    budget_seconds: float,
    num_threads: int = 2,
    wall_clock_cap_seconds: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TuningOutcome:
    """Try ``SEARCH_SPACE`` in order within the budget; keep the best validation ROC-AUC (early-stopped).

    The budget is spent in *nominal* seconds: the work of a fit (rows x features x trees built, including the
    early-stopping patience) divided by ``NOMINAL_CELL_ROUNDS_PER_SECOND``. Wall-clock seconds would make the
    number of candidates, and so the chosen model, depend on how busy the machine is; nominal seconds keep
    "same data + same seed = same model" while still bounding the search by data size.

    ``wall_clock_cap_seconds`` is a safety net on top: when the search has run that long, no further candidate
    starts (the first always runs). It is logged and returned as ``stopped_by = "wall_clock_cap"``; runs that stop
    this way are not reproducible on another machine, and the job records it as an MLflow param and tag.
    """
    from models.churn_classifier import ChurnClassifier
    from training.churn_evaluation import roc_auc

    X_train, y_train = feature_matrix(split.train, spec), split.train[LABEL].to_numpy()
    X_val, y_val = feature_matrix(split.validation, spec), split.validation[LABEL].to_numpy()
    spent = 0.0
    start = clock()
    best: ChurnClassifier | None = None
    best_auc = -np.inf
    trials: list[dict[str, Any]] = []
    stopped_by = STOPPED_COMPLETE
    for i, params in enumerate(SEARCH_SPACE):
        if i > 0 and spent >= budget_seconds:
            logger.info("tuning budget of %.0f nominal s used up after %d candidate(s)", budget_seconds, i)
            stopped_by = STOPPED_BUDGET
            break
        elapsed = clock() - start
        if i > 0 and wall_clock_cap_seconds is not None and elapsed >= wall_clock_cap_seconds:
            logger.warning(
                "tuning stopped by the wall-clock safety cap (%.0f s elapsed >= cap %.0f s) after %d candidate(s), "
                "before the nominal budget was used (%.0f of %.0f nominal s): the choice depends on this machine",
                *(elapsed, wall_clock_cap_seconds, i, spent, budget_seconds),
            )
            stopped_by = STOPPED_WALL_CLOCK
            break
        t0 = clock()
        clf = ChurnClassifier(spec, random_state=seed, num_threads=num_threads, **params)
        clf.fit(X_train, y_train, eval_set=(X_val, y_val))
        auc = roc_auc(y_val, clf.predict_proba(X_val)[:, 1])
        rounds = clf.booster_.current_iteration()
        spent += len(X_train) * len(spec.names) * rounds / NOMINAL_CELL_ROUNDS_PER_SECOND
        seconds = round(clock() - t0, 2)
        trials.append({**params, "best_iteration": clf.best_iteration_, "val_roc_auc": auc, "seconds": seconds})
        logger.info(
            "candidate %d/%d %s: validation AUC %.4f, %d trees, %.1f s (budget used %.0f of %.0f nominal s)",
            *(i + 1, len(SEARCH_SPACE), params, auc, clf.best_iteration_, seconds, spent, budget_seconds),
        )
        if auc > best_auc:
            best, best_auc = clf, auc
    assert best is not None
    return TuningOutcome(best, trials, stopped_by, spent, clock() - start)
