"""``risk-tiers``: tier shares of the active base, the action of each tier, which triggers fired, and the lost.

Tiers apply to the active base: customers already gone by their own rhythm (B2C stage ``lost``; older score runs:
the win-back action) are counted apart and listed in the win-back list (``models.lost_customers.win_back_list``).
A trigger that fires for more than ``UNINFORMATIVE_SHARE`` of the active base does not single anyone out and is
flagged uninformative; a tier holding more than ``CROWDED_TIER_SHARE`` of the active base is flagged as crowded.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from training.report import plots
from training.report.inputs import ReportInputs
from training.report.page import Image, table_view
from training.report.section import ReportSection, require_scores

TIER_ORDER = ("none", "low", "medium", "high")
UNINFORMATIVE_SHARE = 0.5
"""A trigger firing for more than this share of the active base is flagged uninformative (issue 15)."""
CROWDED_TIER_SHARE = 0.4
"""A tier holding more than this share of the active base is flagged: a list that long cannot be worked."""
WIN_BACK_ROWS = 20


def lost_mask(scores: pd.DataFrame, lost_action: str) -> pd.Series:
    """Customers outside the tiers: B2C stage lost, or (score runs before the stage existed) the win-back action."""
    lost = pd.Series(False, index=scores.index)
    if "stage_b2c" in scores.columns:
        lost |= scores["stage_b2c"].astype(object) == "lost"
    if "action_key" in scores.columns:
        lost |= scores["action_key"].astype(object) == lost_action
    return lost


def build(inputs: ReportInputs) -> dict[str, Any]:
    from models.lost_customers import win_back_list

    scores = require_scores(inputs)
    lost = lost_mask(scores, inputs.policy.action_lost_key)
    active = scores[~lost]
    n_active = len(active)
    counts = active["risk_tier"].value_counts()
    order = [t for t in TIER_ORDER if t in counts.index] + [t for t in counts.index if t not in TIER_ORDER]
    first = active.drop_duplicates("risk_tier").set_index("risk_tier")

    def label(tier: str, column: str) -> str:
        return str(first.loc[tier, column]) if column in first.columns else ""

    shares = [counts[t] / n_active if n_active else float("nan") for t in order]
    table = pd.DataFrame(
        {
            "tier": order,
            "customers": [int(counts[t]) for t in order],
            "share of active base": shares,
            "action": [label(t, "action_key") for t in order],
            "what to do": [label(t, "action_text") for t in order],
        }
    )
    crowded = [f"{t} ({s:.0%})" for t, s in zip(order, shares, strict=True) if t != "none" and s > CROWDED_TIER_SHARE]
    fired: dict[str, int] = {}
    for triggers in active.get("triggers", pd.Series(dtype=object)):
        for trigger in triggers if isinstance(triggers, list) else []:
            name = str(trigger.get("trigger")) if isinstance(trigger, dict) else str(trigger)
            fired[name] = fired.get(name, 0) + 1
    triggers_table = None
    uninformative: list[str] = []
    if fired:
        ranked = sorted(fired.items(), key=lambda kv: (-kv[1], kv[0]))
        share = [v / n_active if n_active else float("nan") for _, v in ranked]
        uninformative = [k for (k, _), s in zip(ranked, share, strict=True) if s > UNINFORMATIVE_SHARE]
        trig = pd.DataFrame(
            {
                "trigger": [k for k, _ in ranked],
                "customers": [v for _, v in ranked],
                "share of active base": share,
                "informative": ["no: fires for most of the base" if s > UNINFORMATIVE_SHARE else "yes" for s in share],
            }
        )
        triggers_table = table_view(trig, percent=("share of active base",), text=("trigger", "informative"))
    win_back = None
    if lost.any():
        listed = win_back_list(scores.assign(lost=lost.to_numpy()), top=WIN_BACK_ROWS)
        win_back = table_view(listed, text=("customer_id", "action_key", "stage_b2c"))
    chart = plots.horizontal_bars(order, table["customers"], title="Active customers per risk tier", xlabel="customers")
    return {
        "image": Image(chart, "active customers per risk tier"),
        "tiers": table_view(table, percent=("share of active base",), text=("tier", "action", "what to do")),
        "triggers": triggers_table,
        "n_active": n_active,
        "n_lost": int(lost.sum()),
        "lost_share": float(lost.mean()) if len(scores) else float("nan"),
        "crowded": crowded,
        "crowded_share": CROWDED_TIER_SHARE,
        "uninformative": uninformative,
        "uninformative_share": UNINFORMATIVE_SHARE,
        "win_back": win_back,
        "win_back_rows": WIN_BACK_ROWS,
    }


SECTION = ReportSection("risk-tiers", "Risk tiers and actions", build)
