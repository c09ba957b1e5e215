"""``ltv-distribution``: predicted LTV of the scored base with its intervals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training.report import plots
from training.report.inputs import ReportInputs, numeric
from training.report.page import Image, fmt, pct, table_view
from training.report.section import ReportSection, SectionMissing, require_scores


def build(inputs: ReportInputs) -> dict[str, Any]:
    scores = require_scores(inputs)
    ltv = numeric(scores, "predicted_ltv")
    known = ltv.notna()
    if not known.any():
        why = (
            scores["ltv_method"].dropna().iloc[0]
            if "ltv_method" in scores and scores["ltv_method"].notna().any()
            else ""
        )
        raise SectionMissing(f"the score run has no predicted LTV ({why or 'no LTV model was loaded'}).")
    lower = numeric(scores, "ltv_lower")
    upper = numeric(scores, "ltv_upper")
    horizon = numeric(scores, "horizon_days").dropna()
    values = ltv[known]
    width = (upper - lower)[known]
    stats = pd.DataFrame(
        [
            {"statistic": "customers with a prediction", "value": int(known.sum())},
            {"statistic": "customers without one", "value": int((~known).sum())},
            {"statistic": "total predicted LTV", "value": float(values.sum())},
            {"statistic": "mean", "value": float(values.mean())},
            {"statistic": "median", "value": float(values.median())},
            {"statistic": "90th percentile", "value": float(values.quantile(0.9))},
            {"statistic": "99th percentile", "value": float(values.quantile(0.99))},
            {"statistic": "median interval width", "value": float(width.median())},
        ],
        dtype=object,  # keeps the counts integers next to the amounts
    )
    predictive = _predictive_rows(scores, known)
    if predictive:
        stats = pd.concat([stats, pd.DataFrame(predictive, dtype=object)], ignore_index=True)
    top_share = float(values.nlargest(max(1, len(values) // 10)).sum() / values.sum()) if values.sum() > 0 else np.nan
    methods = scores["ltv_method"].value_counts().to_dict() if "ltv_method" in scores else {}
    months = (inputs.score_run or {}).get("ltv_horizon_months")
    return {
        "over": f"over the next {int(months)} months" if months else "over the LTV model's horizon",
        "days": fmt(horizon.iloc[0], 0) if len(horizon) else "n/a",
        "top_share": pct(top_share),
        "predictive": bool(predictive),
        "image": Image(
            plots.distribution_with_intervals(
                ltv,
                lower,
                upper,
                unit="base currency",
                predictive=(numeric(scores, "ltv_p10"), numeric(scores, "ltv_p90")) if predictive else None,
            ),
            "LTV distribution with intervals",
        ),
        "stats": table_view(stats, digits={"value": 2}),
        "methods": [f"{k} ({int(v):,})" for k, v in methods.items()],
    }


def _predictive_rows(scores: pd.DataFrame, known: pd.Series) -> list[dict[str, Any]]:
    """The predictive interval's summary where the score run has it (runs of older releases do not): what a
    customer may spend (P10/P50/P90 of the horizon's value), how many 80% intervals are [0, 0] (no purchase is the
    likely outcome), and the expected next purchase."""
    p10 = numeric(scores, "ltv_p10")[known]
    if "ltv_p10" not in scores or not p10.notna().any():
        return []
    p50, p90 = numeric(scores, "ltv_p50")[known], numeric(scores, "ltv_p90")[known]
    low, high = numeric(scores, "ltv_interval_80_low")[known], numeric(scores, "ltv_interval_80_high")[known]
    has = p10.notna()
    rows: list[dict[str, Any]] = [
        {"statistic": "median P10 of the customer", "value": float(p10[has].median())},
        {"statistic": "median P50 of the customer", "value": float(p50[has].median())},
        {"statistic": "median P90 of the customer", "value": float(p90[has].median())},
        {"statistic": "median 80% interval width", "value": float((high - low)[has].median())},
        {"statistic": "customers whose 80% interval is [0, 0]", "value": int(((low == 0) & (high == 0))[has].sum())},
    ]
    days = numeric(scores, "next_purchase_days")[known]
    if days.notna().any():
        rows.append({"statistic": "median days to the next purchase", "value": float(days.median())})
    p30 = numeric(scores, "p_purchase_30d")[known]
    if p30.notna().any():
        rows.append({"statistic": "mean P(purchase in the next 30 days)", "value": float(p30.mean())})
    return rows


SECTION = ReportSection("ltv-distribution", "Lifetime value distribution", build)
