"""The risk-tiers report section: tier shares of the active base, uninformative triggers, the win-back list."""

from __future__ import annotations

import duckdb
import pandas as pd

from features.settings import FeatureSettings
from models.policy_settings import PolicySettings
from training.report.inputs import ReportInputs
from training.report.sections import risk_tiers


def _trigger(name: str) -> dict[str, object]:
    return {"trigger": name, "tier": "medium", "column": "x", "value": 1.0, "operator": ">=", "threshold": 1.0}


def _inputs(scores: pd.DataFrame) -> ReportInputs:
    return ReportInputs(
        con=duckdb.connect(),
        scores=scores,
        score_run=None,
        data_quality=None,
        tracking_uri="sqlite:///unused.db",
        policy=PolicySettings(),
        feature_settings=FeatureSettings(),
    )


def test_tiers_are_shares_of_the_active_base_and_busy_triggers_are_flagged() -> None:
    # 10 customers: 4 lost (outside the tiers), 6 active: 3 high (50%: crowded), 1 medium, 2 none
    scores = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(10)],
            "risk_tier": ["high"] * 3 + ["medium"] + ["none"] * 6,
            "action_key": ["time_limited_offer"] * 3
            + ["account_manager_callback"]
            + ["no_action"] * 2
            + ["win_back_campaign"] * 4,
            "action_text": [""] * 10,
            "stage_b2c": ["retention"] * 6 + ["lost"] * 3 + ["acquisition"],  # c9: an older run, no lost stage
            "predicted_ltv": [1.0] * 6 + [5.0, 50.0, 20.0, 1.0],
            # below_aha fires for 4 of the 6 active (uninformative); idle for 1 (and for every lost one, not counted)
            "triggers": [[_trigger("below_aha"), _trigger("idle")]]
            + [[_trigger("below_aha")]] * 3
            + [[]] * 2
            + [[_trigger("idle")]] * 4,
        }
    )
    out = risk_tiers.build(_inputs(scores))
    assert out["n_active"] == 6
    assert out["n_lost"] == 4
    assert out["crowded"] == ["high (50%)"]
    assert out["uninformative"] == ["below_aha"]
    tiers = {row[0].text: row[2].text for row in out["tiers"].rows}
    assert tiers["high"] == "50.0%"
    assert tiers["medium"] == "16.7%"
    triggers = {row[0].text: (row[1].text, row[3].text) for row in out["triggers"].rows}
    assert triggers["idle"][0] == "1"
    assert triggers["below_aha"][1].startswith("no")
    assert [row[1].text for row in out["win_back"].rows] == ["c7", "c8", "c6", "c9"]
