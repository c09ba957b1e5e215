"""The leakage alarm: a label that is nearly known at the cutoff makes every holdout number meaningless.

When one feature on its own, or one simple baseline, ranks the holdout's churners almost perfectly (ROC-AUC at or
above ``leakage_auc_alarm``, 0.98 by default), the label is nearly known at the cutoff: the population holds
customers who already left (a fixed lookback on a base whose customers left weeks ago), or a column records the
outcome (a cancellation ticket, a "churned" flag). A high AUC then says nothing about predicting churn. The run
does not stop (the user may know why), but says so loudly: a logged WARNING, the evaluation report's banner, the
``train`` output and ``--json``'s ``warnings``, and the MLflow tag ``churnltv.leakage_alarm``.

A single feature is scored in its better direction (max(AUC, 1 - AUC)): a leak is a leak whichever way it points.
Missing values are ranked below every value and above, whichever ranks better, so "no ticket at all" counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import pandas as pd

    from features.feature_spec import FeatureSpec


@dataclass(frozen=True)
class LeakageFinding:
    """One scorer (feature or baseline) that alone reaches the alarm's ROC-AUC on the holdout."""

    scorer: str
    kind: str  # "feature" or "baseline"
    roc_auc: float

    def message(self, threshold: float) -> str:
        return (
            f"label nearly known at the cutoff: {self.kind} {self.scorer} alone reaches holdout ROC-AUC "
            f"{self.roc_auc:.4f} (>= leakage_auc_alarm {threshold:g}); the holdout numbers say little about "
            "predicting churn. Check the population (customers already gone at the cutoff) and columns that "
            "record the outcome"
        )


def single_feature_auc(y: NDArray[np.float64], values: NDArray[np.float64]) -> float:
    """ROC-AUC of one feature in its better direction, missing values placed where they rank best."""
    from training.churn_evaluation import roc_auc

    finite = np.isfinite(values)
    if not finite.any():
        return float("nan")
    low, high = float(values[finite].min()) - 1.0, float(values[finite].max()) + 1.0
    best = float("nan")
    for fill in (low, high) if not finite.all() else (low,):
        auc = roc_auc(y, np.where(finite, values, fill))
        if np.isfinite(auc):
            best = max(auc, 1.0 - auc) if not np.isfinite(best) else max(best, auc, 1.0 - auc)
    return best


def feature_aucs(test: pd.DataFrame, y: NDArray[np.float64], spec: FeatureSpec) -> dict[str, float]:
    """Holdout ROC-AUC of every numeric feature alone (categorical features are left out)."""
    out: dict[str, float] = {}
    for name in spec.names:
        if name in spec.categorical or name not in test.columns:
            continue
        auc = single_feature_auc(y, test[name].to_numpy(dtype=np.float64, na_value=np.nan))
        if np.isfinite(auc):
            out[name] = auc
    return out


def leakage_findings(
    feature_auc: Mapping[str, float], baseline_auc: Mapping[str, float], threshold: float
) -> list[LeakageFinding]:
    """Every feature or baseline at or above ``threshold``, the highest first."""
    found = [LeakageFinding(n, "feature", a) for n, a in feature_auc.items() if a >= threshold]
    found += [LeakageFinding(n, "baseline", a) for n, a in baseline_auc.items() if np.isfinite(a) and a >= threshold]
    return sorted(found, key=lambda f: (-f.roc_auc, f.kind, f.scorer))


def leakage_warning(findings: list[LeakageFinding], threshold: float) -> str | None:
    """One sentence naming the strongest finding (and how many more), or None when nothing reaches the alarm."""
    if not findings:
        return None
    text = findings[0].message(threshold)
    if len(findings) > 1:
        others = ", ".join(f"{f.scorer} {f.roc_auc:.3f}" for f in findings[1:6])
        text += f"; also {others}"
    return text
