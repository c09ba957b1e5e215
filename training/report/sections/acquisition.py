"""``acquisition``: CAC, mean predicted LTV and LTV/CAC per channel, with the > 3 rule and the 60/30/10 split."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from training.report import plots
from training.report.inputs import NO_SCORES, ReportInputs, numeric
from training.report.page import Image, fmt, markup, table_view
from training.report.section import ReportSection, SectionMissing


def build(inputs: ReportInputs) -> dict[str, Any]:
    from models.acquisition_economics import budget_split, channel_economics

    if "acquisition_spend" not in inputs.tables:
        raise SectionMissing(
            markup("the data has no <code>acquisition_spend</code> table (marketing spend per channel and month).")
        )
    spend = inputs.table("acquisition_spend", "channel, month, spend")
    if spend.empty:
        raise SectionMissing(markup("the <code>acquisition_spend</code> table is empty."))
    customers = inputs.table("customers", "CAST(customer_id AS VARCHAR) AS customer_id, signup_at, acquisition_channel")
    ltv: pd.Series | None = None
    note: str | Markup = ""
    if inputs.has_scores and inputs.scores is not None and "predicted_ltv" in inputs.scores:
        scored = inputs.scores.assign(customer_id=inputs.scores["customer_id"].astype(str))
        ltv = numeric(scored, "predicted_ltv").set_axis(scored["customer_id"])
        if ltv.notna().sum() == 0:
            ltv, note = None, "the score run has no predicted LTV, so LTV/CAC is unknown for every channel."
    else:
        note = NO_SCORES + markup("; without predicted LTV every channel is <i>no_data</i>.")
    p = inputs.policy
    economics = channel_economics(spend, customers, ltv, p)
    months = pd.to_datetime(spend["month"])
    latest = months.max()
    total = float(spend.loc[months == latest, "spend"].sum())
    split = budget_split(economics, total, p)
    split["channel"] = split["channel"].fillna("(reserve)")
    finite = economics[np.isfinite(economics["ltv_cac"].to_numpy(np.float64))]
    image = None
    if len(finite):
        chart = plots.ltv_cac_bars(finite["channel"].tolist(), finite["ltv_cac"], threshold=p.ltv_cac_min)
        image = Image(chart, "LTV/CAC per channel")
    shown = economics.rename(columns={"meets_ltv_cac_rule": f"LTV/CAC > {p.ltv_cac_min:g}"})
    return {
        "ltv_cac_min": f"{p.ltv_cac_min:g}",
        "proven": f"{p.budget_proven_share:.0%}",
        "test": f"{p.budget_test_share:.0%}",
        "reserve": f"{p.budget_reserve_share:.0%}",
        "note": note,
        "image": image,
        "economics": table_view(shown, digits={"spend": 0, "cac": 2, "mean_predicted_ltv": 2, "ltv_cac": 2}),
        "total": fmt(total, 0),
        "latest": f"{latest:%B %Y}",
        "split": table_view(split, percent=("share",), digits={"budget": 0}, text=("channel", "pool")),
    }


SECTION = ReportSection("acquisition", "Acquisition economics: LTV/CAC per channel", build)
