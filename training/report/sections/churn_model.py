"""``churn-model``: the churn champion's holdout metrics vs baselines (and the oracle when logged), with its plots.

The ROC, lift, calibration and feature-importance plots are the ones logged with the model's MLflow run (drawn by
``training.churn_report`` at training time); when the run's artifacts are gone they are redrawn from the bundle on
its own test window, which the bundle's metadata records exactly.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from training.report import plots, tracking_reads
from training.report.inputs import ReportInputs
from training.report.page import Image, fmt, markup, pct, table_view
from training.report.section import ReportSection, SectionMissing

if TYPE_CHECKING:
    from training.registry import ModelVersionInfo

logger = logging.getLogger(__name__)

CHURN_PLOTS = (
    ("roc.png", "ROC curve of the model and the baselines"),
    ("lift.png", "Cumulative lift and capture"),
    ("calibration.png", "Calibration curve"),
    ("feature_importance.png", "Feature importance (total gain)"),
)
CHURN_METRICS = (
    ("roc_auc", "ROC-AUC", "chance of ranking a churner above a non-churner (0.5 = random)"),
    ("pr_auc", "PR-AUC", "average precision over the ranking"),
    ("lift_at_10pct", "lift, top 10%", "churn rate in the top 10% / overall churn rate"),
    ("capture_at_10pct", "capture, top 10%", "share of all churners found in the top 10%"),
    ("capture_at_20pct", "capture, top 20%", "share of all churners found in the top 20%"),
    ("brier", "Brier score", "mean squared error of the probabilities (lower is better)"),
    ("ece", "ECE", "expected calibration error (lower is better)"),
)


def _metric_rows(metrics: Mapping[str, float]) -> pd.DataFrame:
    rows = []
    for key, label, meaning in CHURN_METRICS:
        value = metrics.get(f"test_{key}")
        if value is None:
            continue
        low, high = metrics.get(f"test_{key}_ci_low"), metrics.get(f"test_{key}_ci_high")
        interval = f"{fmt(low)} .. {fmt(high)}" if low is not None and high is not None else "n/a"
        rows.append({"metric": label, "value": value, "95% interval": interval, "what it means": meaning})
    return pd.DataFrame(rows)


def _baseline_rows(metrics: Mapping[str, float]) -> pd.DataFrame:
    rows = []
    for key in sorted(metrics):
        if not (key.startswith("baseline_") and key.endswith("_test_roc_auc")):
            continue
        name = key.removeprefix("baseline_").removesuffix("_test_roc_auc")
        low = metrics.get(f"baseline_{name}_auc_diff_ci_low")
        high = metrics.get(f"baseline_{name}_auc_diff_ci_high")
        better = low is not None and low > 0
        rows.append(
            {
                "scorer": name,
                "ROC-AUC": metrics[key],
                "model minus scorer": metrics.get(f"baseline_{name}_auc_diff"),
                "paired 95% interval": f"{fmt(low)} .. {fmt(high)}",
                "model clearly better": "yes" if better else "no",
            }
        )
    if "oracle_test_roc_auc" in metrics:
        rows.append(
            {
                "scorer": "oracle (generator's true hazard)",
                "ROC-AUC": metrics["oracle_test_roc_auc"],
                "model minus scorer": metrics.get("test_roc_auc", np.nan) - metrics["oracle_test_roc_auc"],
                "paired 95% interval": "n/a",
                "model clearly better": "no",
            }
        )
    return pd.DataFrame(rows)


def recomputed_plots(info: ModelVersionInfo, workdir: Path) -> list[Image]:
    """Re-score the champion on its own test window and draw the plots with ``training.churn_report``.

    Used when the run's logged report is gone (e.g. an artifact store that moved). The bundle records its
    source, cutoff and feature settings, so the test window can be rebuilt exactly.
    """
    from training.churn_evaluation import evaluate
    from training.churn_holdout import HoldoutComparison
    from training.churn_promotion import holdout_of, load_version_bundle
    from training.churn_report import draw_plots
    from training.churn_split import LABEL

    bundle = load_version_bundle(info)
    frame, _ = holdout_of(bundle)
    y = frame[LABEL].to_numpy(np.float64)
    p = bundle.predict_proba(frame)
    evaluation = evaluate(y, p, n_boot=0)
    comparison = HoldoutComparison(evaluation, {}, None, {}, {})
    importance = bundle.feature_importance()
    paths = draw_plots(workdir, comparison, y, p, importance)
    labels = dict(CHURN_PLOTS)
    return [Image(plots.png_file_to_data_uri(path), labels.get(path.name, path.stem)) for path in paths]


def _logged_plots(info: ModelVersionInfo, workdir: Path) -> list[Image]:
    folder = tracking_reads.run_artifacts(info.run_id, "report", workdir) if info.run_id else None
    if folder is None:
        return []
    return [
        Image(plots.png_file_to_data_uri(folder / name), label)
        for name, label in CHURN_PLOTS
        if (folder / name).is_file()
    ]


def build(inputs: ReportInputs) -> dict[str, Any]:
    from training.registry import CHURN_MODEL

    no_model = markup(
        "no churn model is registered in {} (run <code>churnltv train</code> then <code>churnltv promote</code>).",
        inputs.tracking_uri,
    )
    if tracking_reads.registry_is_empty(inputs.tracking_uri):
        raise SectionMissing(no_model)
    with tracking_reads.tracking(inputs.tracking_uri):
        info, which = tracking_reads.model_version(CHURN_MODEL)
        if info is None:
            raise SectionMissing(no_model)
        metrics = info.metrics
        with tempfile.TemporaryDirectory(prefix="churnltv-report-") as tmp:
            images = _logged_plots(info, Path(tmp))
            if not images:
                logger.info("churn plots not in the run's artifacts; recomputing them from the bundle")
                images = recomputed_plots(info, Path(tmp))
    table, baselines = _metric_rows(metrics), _baseline_rows(metrics)
    rows = metrics.get("test_rows")
    return {
        "which": which,
        "test_cutoff": info.tags.get("test_cutoff", "n/a"),
        "test_rows": None if rows is None else f"{int(rows):,}",
        "churn_rate": pct(metrics.get("test_churn_rate")),
        "metrics": table_view(table, text=("95% interval", "what it means")) if len(table) else None,
        "baselines": table_view(baselines, text=("paired 95% interval", "model clearly better"))
        if len(baselines)
        else None,
        "oracle_ratio": pct(metrics.get("oracle_ratio_test_roc_auc")) if "oracle_test_roc_auc" in metrics else None,
        "images": images,
    }


SECTION = ReportSection("churn-model", "Churn model: holdout metrics vs baselines", build)
