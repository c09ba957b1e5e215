"""``lifecycle``: stage funnels in both vocabularies (B2C growth view and B2B relationship view)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from training.report import plots
from training.report.inputs import ReportInputs
from training.report.page import Image, table_view
from training.report.section import ReportSection, require_scores


def build(inputs: ReportInputs) -> dict[str, Any]:
    from models.lifecycle_stage import B2B_LABELS, B2C_LABELS

    scores = require_scores(inputs)
    b2c = scores["stage_b2c"].value_counts().reindex(B2C_LABELS, fill_value=0)
    b2b = scores["stage_b2b"].value_counts().reindex(B2B_LABELS, fill_value=0)
    rows = max(len(B2C_LABELS), len(B2B_LABELS))  # the vocabularies differ in length (B2C has "lost")

    def padded(values: list[Any], fill: Any) -> list[Any]:
        return values + [fill] * (rows - len(values))

    table = pd.DataFrame(
        {
            "B2C stage (growth view)": padded(list(B2C_LABELS), ""),
            "B2C customers": padded([int(v) for v in b2c.to_numpy()], ""),
            "B2B stage (relationship view)": padded(list(B2B_LABELS), ""),
            "B2B customers": padded([int(v) for v in b2b.to_numpy()], ""),
        }
    )
    funnel = plots.funnel_pair(
        ("B2C growth funnel", list(B2C_LABELS), b2c.to_numpy()),
        ("B2B relationship stages", list(B2B_LABELS), b2b.to_numpy()),
        xlabel="customers",
    )
    return {
        "image": Image(funnel, "lifecycle stage funnel"),
        "table": table_view(table, text=("B2C stage (growth view)", "B2B stage (relationship view)")),
    }


SECTION = ReportSection("lifecycle", "Lifecycle stages", build)
