"""``campaign-results``: what past campaigns measurably did, and how well the uplift model targets.

* Measured lift per campaign and action (``training.campaign_lift``): retention and spend of the contacted vs the
  campaign's random control group, with 95% intervals; campaigns without a control arm are named, unmeasured.
* From the uplift model's evaluation (the champion, else the challenger; logged by ``churnltv uplift train`` as
  ``evaluation.json``): the Qini curves of every targeting strategy on the held-out latest campaigns, and the
  strategies compared at the same budget (uplift among the top 10/20/30% each strategy would contact).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from models.registry_address import UPLIFT_MODEL
from training.report import plots, tracking_reads
from training.report.inputs import ReportInputs
from training.report.page import Image, markup, table_view
from training.report.section import ReportSection, SectionMissing

STRATEGY_NAMES = {
    "model": "uplift model",
    "oracle": "oracle (true effect)",
    "churn_probability": "by churn probability",
    "value_at_risk": "by value at risk",
    "random": "random",
}


def _lift_table(lift: pd.DataFrame) -> Any:
    def interval(point: float, low: float, high: float, digits: int) -> str:
        if pd.isna(point):
            return "not measurable (no control)"
        return f"{point:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"

    view = pd.DataFrame(
        {
            "campaign": lift["campaign_id"],
            "action": lift["action"],
            "sent": lift["sent_at"].dt.strftime("%Y-%m-%d"),
            "contacted": lift["n_treated"],
            "control": lift["n_control"],
            "retained (contacted)": lift["retained_treated"],
            "retained (control)": lift["retained_control"],
            "retention lift [95%]": [
                interval(p, lo, hi, 3)
                for p, lo, hi in lift[["retention_lift", "retention_lift_low", "retention_lift_high"]].to_numpy()
            ],
            "spend lift [95%]": [
                interval(p, lo, hi, 2)
                for p, lo, hi in lift[["spend_lift", "spend_lift_low", "spend_lift_high"]].to_numpy()
            ],
        }
    )
    return table_view(
        view,
        percent=("retained (contacted)", "retained (control)"),
        digits={"contacted": 0, "control": 0},
        text=("campaign", "action", "sent", "retention lift [95%]", "spend lift [95%]"),
    )


def _evaluation(inputs: ReportInputs) -> tuple[dict[str, Any] | None, Markup]:
    """The uplift model's logged evaluation and which version it is (None and a note when there is none)."""
    none = markup(
        "no uplift model is registered (run <code>churnltv uplift train --data SOURCE</code>): the model's Qini "
        "curves and the strategies compared appear here once it is."
    )
    if tracking_reads.registry_is_empty(inputs.tracking_uri):
        return None, none
    with tracking_reads.tracking(inputs.tracking_uri):
        info, which = tracking_reads.model_version(UPLIFT_MODEL)
        if info is None or not info.run_id:
            return None, none
        with tempfile.TemporaryDirectory(prefix="churnltv-report-") as tmp:
            file = tracking_reads.run_artifacts(info.run_id, "evaluation.json", Path(tmp))
            if file is None or not file.is_file():
                return None, markup("{}: its run has no <code>evaluation.json</code>.", which)
            logged = json.loads(file.read_text(encoding="utf-8"))
    return logged.get("evaluation", {}), which


def _strategies(action: str, evaluation: dict[str, Any]) -> tuple[Image, Any]:
    strategies: dict[str, Any] = evaluation["strategies"]
    names: list[str] = [s for s in STRATEGY_NAMES if s in strategies]
    names += [str(s) for s in strategies if s not in STRATEGY_NAMES]
    image = plots.curves(
        {STRATEGY_NAMES.get(s, s): (strategies[s]["curve"]["x"], strategies[s]["curve"]["y"]) for s in names},
        title=f"Qini curves: {action} (held-out campaigns)",
        xlabel="share of contacts targeted, best first",
        ylabel="extra retained per contact",
    )

    def with_interval(point: float | None, ci: list[float] | None) -> str:
        if point is None:
            return ""
        return f"{point:.4f}" if not ci else f"{point:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]"

    rows = []
    for s in names:
        part = strategies[s]
        row = {
            "strategy": STRATEGY_NAMES.get(s, s),
            "Qini [95%]": with_interval(part["qini_coefficient"], part["qini_interval"]),
        }
        for key, value in part["uplift_at"].items():
            label = f"uplift at top {key.removesuffix('pct')}%"
            row[label] = with_interval(value, part["uplift_at_interval"].get(key))
        rows.append(row)
    frame = pd.DataFrame(rows)
    return Image(image, f"Qini curves of {action}"), table_view(frame, text=tuple(frame.columns))


def build(inputs: ReportInputs) -> dict[str, Any]:
    from features.campaign_outcomes import contact_outcomes, has_campaign_contacts, read_contacts
    from training.campaign_lift import measured_lift

    if "campaign_contacts" not in inputs.tables or not has_campaign_contacts(inputs.con):
        raise SectionMissing(
            markup(
                "the data has no <code>campaign_contacts</code> table (past campaigns with a random control group; "
                "docs/RETENTION_DECISIONS.md): without it the retention list ranks by risk x value."
            )
        )
    outcomes = contact_outcomes(inputs.con, read_contacts(inputs.con), inputs.feature_settings)
    lift = measured_lift(outcomes)
    unmeasured = sorted(set(lift.loc[lift["n_control"] == 0, "campaign_id"]))
    pending = int((~outcomes["observable"].astype(bool)).sum())
    evaluation, which = _evaluation(inputs)
    actions = []
    for action, by_outcome in sorted((evaluation or {}).items()):
        retention = by_outcome.get("retention")
        if retention and retention.get("strategies"):
            image, table = _strategies(action, retention)
            actions.append(
                {
                    "action": action,
                    "image": image,
                    "table": table,
                    "n_treated": retention["n_treated"],
                    "n_control": retention["n_control"],
                }
            )
    return {
        "horizon_days": inputs.feature_settings.horizon_days,
        "n_contacts": len(outcomes),
        "n_campaigns": int(outcomes["campaign_id"].nunique()),
        "pending": pending,
        "lift": _lift_table(lift) if len(lift) else None,
        "unmeasured": unmeasured,
        "model": which,
        "actions": actions,
    }


SECTION = ReportSection("campaign-results", "Campaign results", build)
