"""Holdout evaluation of BG/NBD (+ Gamma-Gamma): predicted vs actual repeat purchases and spend, against a naive
baseline, with an HTML page.

Fit on the calibration period (purchases before ``calibration_end``), then count each calibration customer's
purchase days in the holdout [calibration_end, holdout_end) and compare with E[Y(t) | x, t_x, T] for t = the
holdout length (Fader, Hardie & Lee 2005, Figure 4: conditional expectations per calibration-frequency bucket).
The naive baseline extrapolates each customer's own historical rate, x / T, over the holdout.

Spend (with the Gamma-Gamma model): each customer's actual holdout spend (sum of amounts) against
E[Y(t)] x E[M | x, m_x] (independence of spend and purchases is Gamma-Gamma's assumption; E[M] with the same
fallbacks as the served CLV), and the baseline x / T x t x m_x (own rate times own mean repeat spend). This is the
CLV formula cut to the holdout window and undiscounted: a 12-month CLV itself cannot be checked on a shorter
holdout, and discounting over a few months would only rescale both sides.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.btyd_summary import btyd_summary
from features.time_units import TimeUnit
from models.bgnbd import BetaGeoModel
from models.customer_value import expected_spend
from models.gamma_gamma import GammaGammaModel
from training.report import plots
from training.report.page import Image, render_page, table_view

MAX_BUCKET = 7  # buckets 0, 1, ..., 6, "7+"


@dataclass
class HoldoutEvaluation:
    """Per-customer errors of the model and the baseline, plus the per-bucket table."""

    metrics: dict[str, float]
    # index bucket label; columns n_customers, actual, predicted, baseline (mean purchases) and, with a spend model,
    # actual_spend, predicted_spend, baseline_spend (mean spend)
    buckets: pd.DataFrame
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


def holdout_spend(transactions: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp, customers: pd.Index) -> pd.Series:
    """Total amount per customer in [start, end), for ``customers`` (0 when none)."""
    times = pd.to_datetime(transactions["occurred_at"])
    mask = ((times >= start) & (times < end)).to_numpy()
    window = pd.DataFrame(
        {
            "customer_id": transactions["customer_id"].to_numpy()[mask].astype(str),
            "amount": pd.to_numeric(transactions["amount"]).to_numpy(dtype="float64")[mask],
        }
    )
    totals = window.groupby("customer_id")["amount"].sum()
    return totals.reindex(customers, fill_value=0.0).astype("float64")


def _errors(prefix: str, predicted: np.ndarray, baseline: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    err_model, err_base = predicted - actual, baseline - actual
    return {
        f"{prefix}_holdout_mae": float(np.mean(np.abs(err_model))),
        f"{prefix}_holdout_rmse": float(np.sqrt(np.mean(err_model**2))),
        f"{prefix}_baseline_mae": float(np.mean(np.abs(err_base))),
        f"{prefix}_baseline_rmse": float(np.sqrt(np.mean(err_base**2))),
    }


def evaluate_holdout(
    model: BetaGeoModel,
    transactions: pd.DataFrame,
    calibration_end: pd.Timestamp,
    holdout_end: pd.Timestamp,
    *,
    spend_model: GammaGammaModel | None = None,
) -> HoldoutEvaluation:
    """Compare the model fitted on purchases before ``calibration_end`` with the holdout's actual purchase days
    (and, with ``spend_model``, the holdout's actual spend)."""
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
    metrics = {
        **_errors("ltv", predicted, baseline, actual),
        "ltv_holdout_actual_total": float(actual.sum()),
        "ltv_holdout_predicted_total": float(predicted.sum()),
        "ltv_baseline_predicted_total": float(baseline.sum()),
        "ltv_holdout_total_rel_error": float((predicted.sum() - actual.sum()) / max(actual.sum(), 1)),
        "ltv_holdout_customers": float(len(x)),
        "ltv_holdout_days": float(holdout_days),
    }
    columns: dict[str, np.ndarray] = {"actual": actual, "predicted": predicted, "baseline": baseline}
    if spend_model is not None:
        m = calibration["monetary_value"].to_numpy(dtype="float64")
        spend_actual = holdout_spend(transactions, calibration_end, holdout_end, calibration.index).to_numpy()
        spend_predicted = predicted * expected_spend(spend_model, x, m)
        spend_baseline = baseline * np.where(np.isfinite(m), m, 0.0)  # x = 0: no own spend, and baseline 0 anyway
        metrics.update(_errors("ltv_spend", spend_predicted, spend_baseline, spend_actual))
        metrics.update(
            {
                "ltv_spend_actual_total": float(spend_actual.sum()),
                "ltv_spend_predicted_total": float(spend_predicted.sum()),
                "ltv_spend_baseline_total": float(spend_baseline.sum()),
                "ltv_spend_total_rel_error": float(
                    (spend_predicted.sum() - spend_actual.sum()) / max(spend_actual.sum(), 1.0)
                ),
            }
        )
        columns.update(actual_spend=spend_actual, predicted_spend=spend_predicted, baseline_spend=spend_baseline)
    bucket = np.minimum(x, MAX_BUCKET).astype(int)
    labels = [str(b) if b < MAX_BUCKET else f"{MAX_BUCKET}+" for b in bucket]
    frame = pd.DataFrame({"bucket": labels, **columns})
    table = frame.groupby("bucket", sort=False).agg(
        n_customers=("actual", "size"), **{name: (name, "mean") for name in columns}
    )
    order = [str(b) for b in range(MAX_BUCKET)] + [f"{MAX_BUCKET}+"]
    table = table.reindex([o for o in order if o in table.index])
    notes = []
    if metrics["ltv_holdout_mae"] > metrics["ltv_baseline_mae"]:
        notes.append("BG/NBD has a higher per-customer MAE than the naive historical-rate baseline on this holdout")
    if spend_model is not None and metrics["ltv_spend_holdout_mae"] > metrics["ltv_spend_baseline_mae"]:
        notes.append(
            "BG/NBD + Gamma-Gamma has a higher per-customer holdout spend MAE than the naive baseline (own rate x own "
            "mean spend) on this holdout"
        )
    return HoldoutEvaluation(metrics, table, t, unit, notes)


def _bucket_plot(table: pd.DataFrame, columns: tuple[str, str, str], ylabel: str) -> str:
    """Grouped bars of actual / model / baseline means per calibration-frequency bucket, as a PNG data URI."""
    return plots.grouped_bars(
        [str(b) for b in table.index],
        {label: table[column] for column, label in zip(columns, ("actual", "model", "historical rate"), strict=True)},
        title="",
        xlabel="repeat purchases in the calibration period",
        ylabel=ylabel,
    )


def write_ltv_report(
    directory: Path, evaluation: HoldoutEvaluation, params: dict[str, Any], diagnostics: dict[str, Any]
) -> Path:
    """``directory/ltv_report.html``: the bucket plot (embedded PNG), metrics, parameters and diagnostics."""
    directory.mkdir(parents=True, exist_ok=True)
    table = evaluation.buckets
    unit = f"{evaluation.holdout_periods:.1f} {evaluation.time_unit.value}"
    images = [_bucket_plot(table, ("actual", "predicted", "baseline"), f"mean purchases in the holdout ({unit})")]
    if "actual_spend" in table.columns:
        names = ("actual_spend", "predicted_spend", "baseline_spend")
        images.append(_bucket_plot(table, names, f"mean spend in the holdout ({unit})"))
    buckets = table.reset_index()
    page = render_page(
        "ltv_evaluation.html.j2",
        title="churnltv LTV holdout",
        with_spend=len(images) > 1,
        images=[Image(uri, "holdout per bucket") for uri in images],
        buckets=table_view(buckets, digits=dict.fromkeys(buckets.columns, 3), text=(str(buckets.columns[0]),)),
        metrics=[(k, f"{v:.4g}") for k, v in evaluation.metrics.items()],
        notes=list(evaluation.notes),
        params=pd.Series(params, dtype=object).to_string(),
        diagnostics=pd.Series(diagnostics, dtype=object).to_string(),
    )
    path = directory / "ltv_report.html"
    path.write_text(page, encoding="utf-8")
    return path
