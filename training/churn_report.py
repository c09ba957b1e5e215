"""The churn evaluation page: one self-contained HTML file with the holdout numbers and four plots.

The metric table shows every holdout metric (ROC-AUC, PR-AUC, Brier, log loss, lift and capture at 10%/20%,
ECE) with its bootstrap 95% interval for the model, each baseline and the oracle, on the same test rows.
Plots (PNG, also embedded as base64 so the page works when downloaded alone): ROC curves of the model and the
baselines, cumulative lift/capture chart, calibration curve (reliability diagram), and feature importance
(total gain). The numbers are the same ones logged as MLflow metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from training.report.page import Image, render_page
from training.report.plots import png_file_to_data_uri

if TYPE_CHECKING:
    from training.churn_evaluation import Evaluation
    from training.churn_holdout import HoldoutComparison


def _roc_points(y: NDArray[np.float64], p: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    order = np.argsort(-p, kind="stable")
    ys = y[order]
    tp = np.concatenate([[0.0], np.cumsum(ys)])
    fp = np.concatenate([[0.0], np.cumsum(1 - ys)])
    return fp / max(fp[-1], 1.0), tp / max(tp[-1], 1.0)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def draw_plots(
    out: Path,
    comparison: HoldoutComparison,
    y: NDArray[np.float64],
    p: NDArray[np.float64],
    importance: Mapping[str, float],
) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for name, scores in {"model": p, **comparison.baseline_scores}.items():
        fpr, tpr = _roc_points(y, scores)
        ax.plot(fpr, tpr, label=name, lw=2 if name == "model" else 1)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test window")
    ax.legend(loc="lower right")
    paths.append(_save(fig, out / "roc.png"))

    fig, ax = plt.subplots(figsize=(5, 4.5))
    order = np.argsort(-p, kind="stable")
    frac = np.arange(1, y.size + 1) / y.size
    capture = np.cumsum(y[order]) / max(y.sum(), 1.0)
    ax.plot(frac, capture, label="model (capture)")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="random")
    ax2 = ax.twinx()
    with np.errstate(divide="ignore", invalid="ignore"):
        ax2.plot(frac, capture / frac, color="tab:orange", alpha=0.6, label="lift")
    ax2.set_ylabel("cumulative lift")
    ax.set(xlabel="share of customers contacted (by score)", ylabel="share of churners captured", title="Lift")
    ax.legend(loc="center right")
    paths.append(_save(fig, out / "lift.png"))

    fig, ax = plt.subplots(figsize=(5, 4.5))
    curve = comparison.model.calibration
    if curve is not None:
        ax.plot(curve.predicted, curve.observed, "o-", label="model")
    ax.plot([0, 1], [0, 1], "k:", lw=0.8, label="perfect")
    ece = comparison.model.metrics.get("ece", float("nan"))
    ax.set(xlabel="predicted churn probability", ylabel="observed churn rate", title=f"Calibration (ECE {ece:.4f})")
    ax.legend()
    paths.append(_save(fig, out / "calibration.png"))

    top = sorted(importance.items(), key=lambda kv: kv[1], reverse=True)[:20]
    fig, ax = plt.subplots(figsize=(5, 5.5))
    ax.barh([k for k, _ in reversed(top)], [v for _, v in reversed(top)])
    ax.set(xlabel="total gain", title="Feature importance")
    paths.append(_save(fig, out / "feature_importance.png"))
    return paths


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.4f}" if np.isfinite(value) else "n/a"
    return str(value)


def _cell(evaluation: Evaluation | None, name: str) -> dict[str, str] | None:
    """A metric's value and interval for the comparison table; None when the scorer has no such metric."""
    if evaluation is None or name not in evaluation.metrics:
        return None
    low, high = evaluation.intervals.get(name, (float("nan"), float("nan")))
    return {"value": _fmt(evaluation.metrics[name]), "interval": f"{_fmt(low)} .. {_fmt(high)}"}


def comparison_rows(comparison: HoldoutComparison) -> tuple[list[str], list[tuple[str, list[dict[str, str] | None]]]]:
    """Every holdout metric (rows) for the model, each baseline and the oracle (columns), with 95% intervals."""
    scorers: list[tuple[str, Evaluation | None]] = [("model", comparison.model)]
    scorers += list(comparison.baseline_evaluations.items())
    if comparison.oracle_evaluation is not None:
        scorers.append(("oracle", comparison.oracle_evaluation))
    rows = [(metric, [_cell(ev, metric) for _, ev in scorers]) for metric in comparison.model.metrics]
    return [name for name, _ in scorers], rows


def write_report(
    out_dir: Path,
    *,
    comparison: HoldoutComparison,
    y_test: NDArray[np.float64],
    p_test: NDArray[np.float64],
    importance: Mapping[str, float],
    metadata: Mapping[str, Any],
) -> Path:
    """Write ``report.html`` and its PNG plots into ``out_dir``; return the HTML path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = draw_plots(out_dir, comparison, y_test, p_test, importance)
    ev = comparison.model
    model_rows = []
    for name, value in ev.metrics.items():
        low, high = ev.intervals.get(name, (float("nan"), float("nan")))
        model_rows.append((name, _fmt(value), f"{_fmt(low)} .. {_fmt(high)}"))
    baselines = []
    for name, info in comparison.baselines.items():
        row: dict[str, Any] = {"name": name, "note": info["note"]}
        if "test_roc_auc" in info:
            low, high = info["auc_diff_ci"]
            row |= {
                "auc": _fmt(info["test_roc_auc"]),
                "diff": _fmt(info["auc_diff"]),
                "ci": f"{_fmt(low)} .. {_fmt(high)}",
            }
        baselines.append(row)
    oracle = comparison.oracle
    scorers, rows = comparison_rows(comparison)
    cutoffs = metadata.get("cutoffs", {})
    page = render_page(
        "churn_evaluation.html.j2",
        title="churnltv churn model evaluation",
        source=metadata.get("source_url"),
        horizon_days=metadata.get("horizon_days"),
        churn_definition=metadata.get("churn_definition", "n/a"),
        churn_definition_reason=metadata.get("churn_definition_reason", "not recorded"),
        warnings=list(metadata.get("warnings", [])),
        test=cutoffs.get("test"),
        validation=cutoffs.get("validation"),
        train=", ".join(cutoffs.get("train", [])),
        n_rows=ev.n_rows,
        churn_rate=f"{ev.churn_rate:.3f}",
        calibration=metadata.get("calibration"),
        model_rows=model_rows,
        scorers=scorers,
        comparison=rows,
        baselines=baselines,
        oracle=None
        if not oracle
        else {
            "auc": _fmt(oracle["oracle_test_roc_auc"]),
            "rows": oracle["rows"],
            "model_auc": _fmt(oracle["model_test_roc_auc_same_rows"]),
            "ratio": _fmt(oracle["ratio"]),
        },
        images=[Image(png_file_to_data_uri(p), p.stem) for p in plots],
    )
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
