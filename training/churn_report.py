"""The churn evaluation page: one self-contained HTML file with the holdout numbers and four plots.

The metric table shows every holdout metric (ROC-AUC, PR-AUC, Brier, log loss, lift and capture at 10%/20%,
ECE) with its bootstrap 95% interval for the model, each baseline and the oracle, on the same test rows.
Plots (PNG, also embedded as base64 so the page works when downloaded alone): ROC curves of the model and the
baselines, cumulative lift/capture chart, calibration curve (reliability diagram), and feature importance
(total gain). The numbers are the same ones logged as MLflow metrics.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from training.churn_evaluation import Evaluation
    from training.churn_holdout import HoldoutComparison

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:48%;margin:.5%}
.note{color:#666;font-size:.9rem}
"""


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


def _plots(
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
    return html.escape(str(value))


def _cell(evaluation: Evaluation | None, name: str) -> str:
    if evaluation is None or name not in evaluation.metrics:
        return "<td>n/a</td>"
    low, high = evaluation.intervals.get(name, (float("nan"), float("nan")))
    return f"<td>{_fmt(evaluation.metrics[name])}<br><small>{_fmt(low)} .. {_fmt(high)}</small></td>"


def comparison_table(comparison: HoldoutComparison) -> str:
    """Every holdout metric (rows) for the model, each baseline and the oracle (columns), with 95% intervals."""
    scorers: list[tuple[str, Evaluation | None]] = [("model", comparison.model)]
    scorers += list(comparison.baseline_evaluations.items())
    if comparison.oracle_evaluation is not None:
        scorers.append(("oracle", comparison.oracle_evaluation))
    head = "".join(f"<th>{html.escape(name)}</th>" for name, _ in scorers)
    rows = [
        f"<tr><td>{html.escape(metric)}</td>{''.join(_cell(ev, metric) for _, ev in scorers)}</tr>"
        for metric in comparison.model.metrics
    ]
    return f"<table><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


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
    plots = _plots(out_dir, comparison, y_test, p_test, importance)
    ev = comparison.model
    rows = []
    for name, value in ev.metrics.items():
        low, high = ev.intervals.get(name, (float("nan"), float("nan")))
        rows.append(f"<tr><td>{name}</td><td>{_fmt(value)}</td><td>{_fmt(low)} .. {_fmt(high)}</td></tr>")
    base_rows = []
    for name, info in comparison.baselines.items():
        if "test_roc_auc" in info:
            low, high = info["auc_diff_ci"]
            base_rows.append(
                f"<tr><td>{name}</td><td>{_fmt(info['test_roc_auc'])}</td><td>{_fmt(info['auc_diff'])}</td>"
                f"<td>{_fmt(low)} .. {_fmt(high)}</td><td>{html.escape(info['note'])}</td></tr>"
            )
        else:
            base_rows.append(f"<tr><td>{name}</td><td colspan=3>n/a</td><td>{html.escape(info['note'])}</td></tr>")
    oracle = comparison.oracle
    oracle_html = (
        f"<p>Oracle (generator's true hazard) ROC-AUC {_fmt(oracle['oracle_test_roc_auc'])} on {oracle['rows']} rows; "
        f"model on the same rows {_fmt(oracle['model_test_roc_auc_same_rows'])} (ratio {_fmt(oracle['ratio'])}).</p>"
        if oracle
        else "<p class=note>No ground truth was passed to training (<code>churnltv train --truth FILE</code>, "
        "generated data only): oracle not computed.</p>"
    )
    images = "".join(
        f'<img alt="{p.stem}" src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">' for p in plots
    )
    cutoffs = metadata.get("cutoffs", {})
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>churnltv churn model evaluation</title>
<style>{_CSS}</style></head><body>
<h1>Churn model: holdout evaluation</h1>
<p>Source {html.escape(str(metadata.get("source_url")))}; horizon {metadata.get("horizon_days")} days;
test window as of {html.escape(str(cutoffs.get("test")))} ({ev.n_rows} customers, churn rate {ev.churn_rate:.3f});
validation {html.escape(str(cutoffs.get("validation")))}; training cutoffs
{html.escape(", ".join(cutoffs.get("train", [])))}.</p>
<h2>Model (calibrated, {html.escape(str(metadata.get("calibration")))})</h2>
<table><tr><th>metric</th><th>value</th><th>bootstrap 95% interval</th></tr>{"".join(rows)}</table>
<h2>Model, baselines and oracle on the same rows</h2>
{comparison_table(comparison)}
<p class=note>Each cell: value and bootstrap 95% interval. Baseline scores are calibrated like the model (isotonic
on the validation window), which leaves their ranking metrics unchanged; the oracle is the generator's true
probability, uncalibrated, on the rows where it is defined.</p>
<h2>Model minus baseline (ROC-AUC)</h2>
<table><tr><th>baseline</th><th>ROC-AUC</th><th>model minus baseline</th><th>paired 95% interval</th><th>what</th></tr>
{"".join(base_rows)}</table>
{oracle_html}
<h2>Plots</h2>{images}
<p class=note>Intervals: percentile bootstrap over test rows (200 resamples); baseline differences resample the
same rows for both scorers.</p>
</body></html>"""
    path = out_dir / "report.html"
    path.write_text(page, encoding="utf-8")
    return path
