"""``nps``: NPS trend by month (overall and per segment), by segment and by acquisition channel."""

from __future__ import annotations

from typing import Any

import pandas as pd

from training.report import plots
from training.report.inputs import ReportInputs
from training.report.page import Image, fmt, markup, table_view
from training.report.section import ReportSection, SectionMissing


def build(inputs: ReportInputs) -> dict[str, Any]:
    from models.nps import nps_breakdown

    if "nps_responses" not in inputs.tables:
        raise SectionMissing(markup("the data has no <code>nps_responses</code> table (NPS survey answers)."))
    responses = inputs.table("nps_responses", "CAST(customer_id AS VARCHAR) AS customer_id, answered_at, score")
    if responses.empty:
        raise SectionMissing(markup("the <code>nps_responses</code> table is empty."))
    customers = inputs.table("customers", "CAST(customer_id AS VARCHAR) AS customer_id, segment, acquisition_channel")
    breakdown = nps_breakdown(responses, customers, inputs.policy)
    overall = breakdown[breakdown["dimension"] == "overall"].iloc[0]
    months = breakdown[breakdown["dimension"] == "month"].sort_values("group")
    series = {"all customers": months["nps"].to_numpy()}
    segment_of = customers.set_index("customer_id")["segment"]
    answer_segment = segment_of.reindex(responses["customer_id"]).to_numpy()
    for segment in sorted(pd.unique(answer_segment[pd.notna(answer_segment)])):
        part = nps_breakdown(responses[answer_segment == segment], customers, inputs.policy)
        by_month = part[part["dimension"] == "month"].set_index("group")["nps"]
        series[str(segment)] = by_month.reindex(months["group"]).to_numpy()
    cols = ["group", "responses", "pct_promoters", "pct_detractors", "nps"]
    pretty = {"pct_promoters": "% promoters", "pct_detractors": "% detractors", "nps": "NPS"}
    trend = plots.lines(
        months["group"].tolist(),
        series,
        title="NPS by month",
        xlabel="month answered",
        ylabel="NPS",
        secondary=("answers", months["responses"].to_numpy()),
    )
    breakdowns = []
    for dimension, label in (("segment", "By segment"), ("channel", "By acquisition channel")):
        part = breakdown[breakdown["dimension"] == dimension][cols].rename(columns={**pretty, "group": dimension})
        breakdowns.append((label, table_view(part, digits={v: 1 for v in pretty.values()}, text=(dimension,))))
    return {
        "promoter_min": inputs.policy.nps_promoter_min,
        "detractor_max": inputs.policy.nps_detractor_max,
        "overall": fmt(overall["nps"], 1),
        "responses": f"{int(overall['responses']):,}",
        "image": Image(trend, "NPS trend by month"),
        "breakdowns": breakdowns,
    }


SECTION = ReportSection("nps", "Net Promoter Score", build)
