"""Holdout evaluation of BG/NBD: predicted vs actual repeat purchases, against a naive baseline, with an HTML page.

Fit on the calibration period (purchases before ``calibration_end``), then count each calibration customer's
purchase days in the holdout [calibration_end, holdout_end) and compare with E[Y(t) | x, t_x, T] for t = the
holdout length (Fader, Hardie & Lee 2005, Figure 4: conditional expectations per calibration-frequency bucket).
The naive baseline extrapolates each customer's own historical rate, x / T, over the holdout.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.btyd_summary import btyd_summary
from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel

MAX_BUCKET = 7  # buckets 0, 1, ..., 6, "7+"


@dataclass
class HoldoutEvaluation:
    """Per-customer errors of the model and the baseline, plus the per-bucket table."""

    metrics: dict[str, float]
    buckets: pd.DataFrame  # index bucket label; columns n_customers, actual, predicted, baseline (means)
    holdout_periods: float
    time_unit: TimeUnit
    notes: list[str] = field(default_factory=list)


def holdout_purchase_days(
    transactions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, customers: pd.Index
) -> pd.Series:
    """Distinct purchase days per customer in [start, end), for ``customers`` (0 when none)."""
    times = pd.to_datetime(transactions["occurred_at"])
    mask = ((times >= start) & (times < end)).to_numpy()
    window = pd.DataFrame(
        {
            "customer_id": transactions["customer_id"].to_numpy()[mask].astype(str),
            "day": times.to_numpy()[mask].astype("datetime64[D]"),
        }
    )
    counts = window.drop_duplicates().groupby("customer_id").size()
    return counts.reindex(customers, fill_value=0).astype("int64")


def evaluate_holdout(
    model: BetaGeoModel,
    transactions: pd.DataFrame,
    calibration_end: pd.Timestamp,
    holdout_end: pd.Timestamp,
) -> HoldoutEvaluation:
    """Compare the model fitted on purchases before ``calibration_end`` with the holdout's actual purchase days."""
    unit = model.time_unit
    calibration = btyd_summary(transactions, calibration_end, unit)
    actual = holdout_purchase_days(transactions, calibration_end, holdout_end, calibration.index).to_numpy()
    holdout_days = (holdout_end - calibration_end) / pd.Timedelta(1, "D")
    t = unit.from_days(float(holdout_days))
    x = calibration["frequency"].to_numpy(dtype="float64")
    T = calibration["T"].to_numpy()
    predicted = model.conditional_expected_purchases(t, x, calibration["recency"].to_numpy(), T)
    with np.errstate(divide="ignore", invalid="ignore"):
        baseline = np.where(T > 0, x / T * t, 0.0)
    err_model, err_base = predicted - actual, baseline - actual
    metrics = {
        "ltv_holdout_mae": float(np.mean(np.abs(err_model))),
        "ltv_holdout_rmse": float(np.sqrt(np.mean(err_model**2))),
        "ltv_baseline_mae": float(np.mean(np.abs(err_base))),
        "ltv_baseline_rmse": float(np.sqrt(np.mean(err_base**2))),
        "ltv_holdout_actual_total": float(actual.sum()),
        "ltv_holdout_predicted_total": float(predicted.sum()),
        "ltv_baseline_predicted_total": float(baseline.sum()),
        "ltv_holdout_total_rel_error": float((predicted.sum() - actual.sum()) / max(actual.sum(), 1)),
        "ltv_holdout_customers": float(len(x)),
        "ltv_holdout_days": float(holdout_days),
    }
    bucket = np.minimum(x, MAX_BUCKET).astype(int)
    labels = [str(b) if b < MAX_BUCKET else f"{MAX_BUCKET}+" for b in bucket]
    table = (
        pd.DataFrame({"bucket": labels, "actual": actual, "predicted": predicted, "baseline": baseline})
        .groupby("bucket", sort=False)
        .agg(
            n_customers=("actual", "size"),
            actual=("actual", "mean"),
            predicted=("predicted", "mean"),
            baseline=("baseline", "mean"),
        )
    )
    order = [str(b) for b in range(MAX_BUCKET)] + [f"{MAX_BUCKET}+"]
    table = table.reindex([o for o in order if o in table.index])
    notes = []
    if metrics["ltv_holdout_mae"] > metrics["ltv_baseline_mae"]:
        notes.append("BG/NBD has a higher per-customer MAE than the naive historical-rate baseline on this holdout")
    return HoldoutEvaluation(metrics, table, t, unit, notes)


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def write_ltv_report(
    directory: Path, evaluation: HoldoutEvaluation, params: dict[str, Any], diagnostics: dict[str, Any]
) -> Path:
    """``directory/ltv_report.html``: the bucket plot (embedded PNG), metrics, parameters and diagnostics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    table = evaluation.buckets
    fig, ax = plt.subplots(figsize=(7, 4))
    pos = np.arange(len(table))
    ax.bar(pos - 0.27, table["actual"], width=0.27, label="actual")
    ax.bar(pos, table["predicted"], width=0.27, label="BG/NBD")
    ax.bar(pos + 0.27, table["baseline"], width=0.27, label="historical rate")
    ax.set_xticks(pos, table.index)
    ax.set_xlabel("repeat purchases in the calibration period")
    ax.set_ylabel(f"mean purchases in the holdout ({evaluation.holdout_periods:.1f} {evaluation.time_unit.value})")
    ax.legend()
    image = _png(fig)
    plt.close(fig)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.4g}</td></tr>" for k, v in evaluation.metrics.items())
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in evaluation.notes)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>churnltv LTV holdout</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:2px 8px;text-align:right}}</style>
</head><body><h1>LTV model: holdout evaluation</h1>
<p>Predicted (BG/NBD) vs actual repeat purchase days in the holdout, per calibration-frequency bucket, and the
naive baseline (each customer's historical rate x/T).</p>
<img alt="holdout purchases per bucket" src="data:image/png;base64,{image}">
<h2>Per bucket</h2>{table.to_html(float_format=lambda v: f"{v:.3f}")}
<h2>Metrics</h2><table>{rows}</table><ul>{notes}</ul>
<h2>Parameters</h2><pre>{html.escape(pd.Series(params, dtype=object).to_string())}</pre>
<h2>Diagnostics</h2><pre>{html.escape(pd.Series(diagnostics, dtype=object).to_string())}</pre>
</body></html>"""
    path = directory / "ltv_report.html"
    path.write_text(page)
    return path
