"""``risk-tiers``: customers per risk tier, the action of each tier, and which triggers fired."""

from __future__ import annotations

from typing import Any

import pandas as pd

from training.report import plots
from training.report.inputs import ReportInputs
from training.report.page import Image, table_view
from training.report.section import ReportSection, require_scores

TIER_ORDER = ("none", "low", "medium", "high")


def build(inputs: ReportInputs) -> dict[str, Any]:
    scores = require_scores(inputs)
    counts = scores["risk_tier"].value_counts()
    order = [t for t in TIER_ORDER if t in counts.index] + [t for t in counts.index if t not in TIER_ORDER]
    first = scores.drop_duplicates("risk_tier").set_index("risk_tier")

    def label(tier: str, column: str) -> str:
        return str(first.loc[tier, column]) if column in first.columns else ""

    table = pd.DataFrame(
        {
            "tier": order,
            "customers": [int(counts[t]) for t in order],
            "share": [counts[t] / counts.sum() for t in order],
            "action": [label(t, "action_key") for t in order],
            "what to do": [label(t, "action_text") for t in order],
        }
    )
    fired: dict[str, int] = {}
    for triggers in scores.get("triggers", pd.Series(dtype=object)):
        for trigger in triggers if isinstance(triggers, list) else []:
            name = str(trigger.get("trigger")) if isinstance(trigger, dict) else str(trigger)
            fired[name] = fired.get(name, 0) + 1
    triggers_table = None
    if fired:
        ranked = sorted(fired.items(), key=lambda kv: (-kv[1], kv[0]))
        trig = pd.DataFrame({"trigger": [k for k, _ in ranked], "customers": [v for _, v in ranked]})
        triggers_table = table_view(trig, text=("trigger",))
    chart = plots.horizontal_bars(order, table["customers"], title="Customers per risk tier", xlabel="customers")
    return {
        "image": Image(chart, "customers per risk tier"),
        "tiers": table_view(table, percent=("share",), text=("tier", "action", "what to do")),
        "triggers": triggers_table,
    }


SECTION = ReportSection("risk-tiers", "Risk tiers and actions", build)
