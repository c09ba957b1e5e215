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
    top_share = float(values.nlargest(max(1, len(values) // 10)).sum() / values.sum()) if values.sum() > 0 else np.nan
    methods = scores["ltv_method"].value_counts().to_dict() if "ltv_method" in scores else {}
    months = (inputs.score_run or {}).get("ltv_horizon_months")
    return {
        "over": f"over the next {int(months)} months" if months else "over the LTV model's horizon",
        "days": fmt(horizon.iloc[0], 0) if len(horizon) else "n/a",
        "top_share": pct(top_share),
        "image": Image(
            plots.distribution_with_intervals(ltv, lower, upper, unit="base currency"),
            "LTV distribution with intervals",
        ),
        "stats": table_view(stats, digits={"value": 2}),
        "methods": [f"{k} ({int(v):,})" for k, v in methods.items()],
    }


SECTION = ReportSection("ltv-distribution", "Lifetime value distribution", build)
