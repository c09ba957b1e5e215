"""The honest holdout comparison: the calibrated model, every baseline and the oracle, same metrics, same test rows.

The oracle is optional and injected: on generated data the composition root passes the generator's true churn
probabilities (any object with ``ChurnOracle``'s shape); on anyone else's data there is none. Training never looks for
a truth file by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from training.churn_split import LABEL, TimeSplit, feature_matrix

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec
    from training.churn_evaluation import Evaluation

logger = logging.getLogger(__name__)

N_BOOT = 200
"""Bootstrap resamples behind every interval (and the promotion's paired difference)."""


class ChurnOracle(Protocol):
    """The best achievable churn score of a base whose true hazard is known (generated data only)."""

    @property
    def source(self) -> str:
        """Where the truth came from (recorded in ``evaluation.json``)."""
        ...

    def churn_probability(self, as_of: pd.Timestamp, horizon_days: int, customer_ids: Sequence[str]) -> pd.Series:
        """P(churn in the horizon after ``as_of``) per customer, in ``customer_ids`` order (NaN where undefined)."""
        ...


@dataclass(frozen=True)
class HoldoutComparison:
    """Model vs baselines (and oracle) on the test rows.

    ``baselines``/``oracle`` are the JSON-able summaries logged as ``evaluation.json``; ``baseline_scores`` are the
    baselines' calibrated probabilities on the test rows; ``baseline_evaluations``/``oracle_evaluation`` carry the
    full metric set with bootstrap intervals (the oracle's on the rows where it is defined).
    """

    model: Evaluation
    baselines: dict[str, dict[str, Any]]
    oracle: dict[str, Any] | None
    metrics: dict[str, float]
    baseline_scores: dict[str, NDArray[np.float64]]
    baseline_evaluations: dict[str, Evaluation] = field(default_factory=dict)
    oracle_evaluation: Evaluation | None = None


def _summary(evaluation: Evaluation) -> dict[str, Any]:
    return {"metrics": dict(evaluation.metrics), "intervals": {k: list(v) for k, v in evaluation.intervals.items()}}


def compare_on_holdout(
    y_test: NDArray[np.float64],
    p_test: NDArray[np.float64],
    split: TimeSplit,
    spec: FeatureSpec,
    *,
    horizon_days: int,
    seed: int,
    summary_at: Callable[[pd.Timestamp], pd.DataFrame] | None = None,
    oracle: ChurnOracle | None = None,
) -> HoldoutComparison:
    """Evaluate the calibrated model, every baseline and the oracle with the same metric set on the same rows.

    Each baseline's score is calibrated like the model (isotonic on the validation window), then gets every
    metric of ``METRICS`` with a bootstrap interval (``baseline_<name>_test_<metric>``, ``..._ci_low/high``) and
    the paired ROC-AUC difference model - baseline. The oracle (generated data only) is scored raw: it is the
    generator's true probability, not something fitted to labels (``oracle_test_<metric>``).
    """

    from models.probability_calibration import ProbabilityCalibration
    from training.churn_baselines import baseline_scores
    from training.churn_evaluation import evaluate, paired_bootstrap_difference, roc_auc

    model_eval = evaluate(y_test, p_test, n_boot=N_BOOT, seed=seed)
    metrics = model_eval.flat("test_")
    metrics["test_rows"] = float(model_eval.n_rows)
    metrics["test_churn_rate"] = model_eval.churn_rate
    y_val = split.validation[LABEL].to_numpy(np.float64)
    baselines: dict[str, dict[str, Any]] = {}
    scores: dict[str, NDArray[np.float64]] = {}
    evaluations: dict[str, Evaluation] = {}
    for base in baseline_scores(
        feature_matrix(split.train, spec),
        split.train[LABEL].to_numpy(np.float64),
        split.test,
        spec,
        validation=split.validation,
        summary_at=summary_at,
    ):
        info: dict[str, Any] = {"note": base.note}
        if base.scores is not None:
            calibrated = base.scores
            if base.validation is not None:
                calibrated = ProbabilityCalibration("isotonic").fit(base.validation, y_val).predict(base.scores)
                info["calibration"] = "isotonic on the validation window"
            scores[base.name] = calibrated
            evaluation = evaluate(y_test, calibrated, n_boot=N_BOOT, seed=seed)
            evaluations[base.name] = evaluation
            diff = paired_bootstrap_difference(roc_auc, y_test, p_test, calibrated, n_boot=N_BOOT, seed=seed)
            info.update(_summary(evaluation))
            info.update(
                test_roc_auc=evaluation.metrics["roc_auc"],
                auc_diff=diff.difference,
                auc_diff_ci=(diff.lower, diff.upper),
            )
            metrics.update(evaluation.flat(f"baseline_{base.name}_test_"))
            metrics[f"baseline_{base.name}_auc_diff"] = diff.difference
            metrics[f"baseline_{base.name}_auc_diff_ci_low"] = diff.lower
            metrics[f"baseline_{base.name}_auc_diff_ci_high"] = diff.upper
        baselines[base.name] = info
        logger.info("baseline %s: %s", base.name, {k: v for k, v in info.items() if k != "intervals"})

    summary: dict[str, Any] | None = None
    oracle_eval: Evaluation | None = None
    if oracle is not None:
        ids = split.test["customer_id"].astype(str).tolist()
        p_oracle = oracle.churn_probability(split.test_cutoff, horizon_days, ids).to_numpy(np.float64)
        ok = np.isfinite(p_oracle)
        oracle_eval = evaluate(y_test[ok], p_oracle[ok], n_boot=N_BOOT, seed=seed)
        oracle_auc = oracle_eval.metrics["roc_auc"]
        model_auc_same_rows = roc_auc(y_test[ok], p_test[ok])
        summary = {
            "truth_file": oracle.source,
            "rows": int(ok.sum()),
            "rows_without_oracle": int((~ok).sum()),
            "oracle_test_roc_auc": oracle_auc,
            "model_test_roc_auc_same_rows": model_auc_same_rows,
            "ratio": model_auc_same_rows / oracle_auc if oracle_auc else float("nan"),
            **_summary(oracle_eval),
        }
        metrics.update(oracle_eval.flat("oracle_test_"))
        metrics["oracle_ratio_test_roc_auc"] = summary["ratio"]
        logger.info("oracle: %s", {k: v for k, v in summary.items() if k not in ("metrics", "intervals")})
    return HoldoutComparison(model_eval, baselines, summary, metrics, scores, evaluations, oracle_eval)


def summary_source(con: Any, spec: FeatureSpec) -> Callable[[pd.Timestamp], pd.DataFrame] | None:
    """The BTYD summary of all buyers before a cutoff, from the job's connection (None without transactions)."""
    if "btyd_frequency" not in spec.names:
        return None
    from features.btyd_summary import btyd_summary_sql

    def summary_at(cutoff: pd.Timestamp) -> pd.DataFrame:
        return btyd_summary_sql(con, cutoff, spec.time_unit)

    return summary_at
