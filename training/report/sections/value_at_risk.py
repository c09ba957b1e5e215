"""``value-at-risk``: the top customers by P(churn) x predicted LTV: the CRM's retention list."""

from __future__ import annotations

from typing import Any

import numpy as np

from training.report.inputs import ReportInputs, numeric
from training.report.page import fmt, pct, table_view
from training.report.section import ReportSection, SectionMissing, require_scores

TOP_VALUE_AT_RISK = 20


def build(inputs: ReportInputs) -> dict[str, Any]:
    from models.value_at_risk import retention_list

    scores = require_scores(inputs)
    ltv = numeric(scores, "predicted_ltv")
    if ltv.notna().sum() == 0:
        raise SectionMissing("the score run has no predicted LTV, so value at risk (P(churn) x LTV) is unknown.")
    ranked = retention_list(scores, top=TOP_VALUE_AT_RISK)
    extra = [c for c in ("segment",) if c in scores.columns]
    if extra:
        ranked = ranked.merge(scores[["customer_id", *extra]], on="customer_id", how="left")
    var = numeric(scores, "value_at_risk")
    total = float(var.sum())
    share = float(ranked["value_at_risk"].sum() / total) if total > 0 else np.nan
    return {
        "total": fmt(total, 0),
        "n": len(ranked),
        "share": pct(share),
        "table": table_view(
            ranked,
            digits={"churn_probability": 3, "predicted_ltv": 2, "value_at_risk": 2},
            text=("customer_id", "risk_tier", "action_key", "segment"),
        ),
    }


SECTION = ReportSection("value-at-risk", "Top customers by value at risk", build)
