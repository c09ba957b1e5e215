"""``referral``: promoters with high predicted LTV to ask for referrals, and the screened referral events.

Referral events are accepted or rejected (duplicate IP/device, self-referral, already referred) when the data has
them (``models.referral_screening``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from training.report.inputs import NO_SCORES, ReportInputs, numeric
from training.report.page import fmt, markup, pct, table_view
from training.report.section import ReportSection

TOP_REFERRAL_CANDIDATES = 20
REJECTED_EXAMPLES = 10


def _last_nps(inputs: ReportInputs, as_of: pd.Timestamp) -> pd.DataFrame:
    """Each customer's last NPS answer before ``as_of`` (the policy's nps_last)."""
    frame: pd.DataFrame = inputs.con.execute(
        "SELECT CAST(customer_id AS VARCHAR) AS customer_id, arg_max(score, answered_at) AS nps_last "
        "FROM nps_responses WHERE answered_at < $1 GROUP BY ALL",
        [as_of.to_pydatetime()],
    ).df()
    return frame


def candidates_part(inputs: ReportInputs) -> dict[str, Any] | Markup:
    """Whom to ask, or why nobody can be named."""
    from models.referral_screening import referral_candidates

    policy = inputs.policy
    if not inputs.has_scores or inputs.scores is None:
        return NO_SCORES + "; referral candidates need predicted LTV."
    if "nps_responses" not in inputs.tables:
        return markup("the data has no <code>nps_responses</code> table, so promoters are unknown.")
    scores = inputs.scores.assign(customer_id=inputs.scores["customer_id"].astype(str))
    if numeric(scores, "predicted_ltv").notna().sum() == 0:
        return Markup("the score run has no predicted LTV, so there are no referral candidates.")
    nps = _last_nps(inputs, inputs.scores_as_of())
    frame = scores[["customer_id", "predicted_ltv"]].merge(nps, on="customer_id", how="left")
    candidates = referral_candidates(frame, policy)
    promoters = int((numeric(frame, "nps_last") >= policy.nps_promoter_min).sum())
    threshold = float(candidates["ltv_threshold"].iloc[0]) if len(candidates) else np.nan
    table = None
    if not candidates.empty:
        top = candidates.head(TOP_REFERRAL_CANDIDATES)[["customer_id", "nps_last", "predicted_ltv"]]
        extra = [c for c in ("segment", "risk_tier") if c in scores.columns]
        if extra:
            top = top.merge(scores[["customer_id", *extra]], on="customer_id", how="left")
        table = table_view(
            top.assign(nps_last=top["nps_last"].astype("Int64")),
            digits={"predicted_ltv": 2},
            text=("customer_id", "segment", "risk_tier"),
        )
    return {
        "promoter_min": policy.nps_promoter_min,
        "top_share": pct(1 - policy.referral_ltv_quantile, 0),
        "threshold": fmt(threshold, 2),
        "n": f"{len(candidates):,}",
        "promoters": f"{promoters:,}",
        "table": table,
    }


def events_part(inputs: ReportInputs) -> dict[str, Any] | Markup:
    """The screened referral events, or why there are none."""
    from models.referral_screening import screen_referrals

    policy = inputs.policy
    if "referrals" not in inputs.tables:
        return markup("the data has no <code>referrals</code> table (referral events), so none were screened.")
    available = set(inputs.con.execute("SELECT * FROM referrals LIMIT 0").df().columns)
    wanted = ["referrer_id", "referred_id", "occurred_at", "ip", "device_id", "reward_type"]
    casts = {"referrer_id", "referred_id"}
    select = ", ".join(f"CAST({c} AS VARCHAR) AS {c}" if c in casts else c for c in wanted if c in available)
    events = inputs.table("referrals", select)
    if events.empty:
        return markup("the <code>referrals</code> table is empty.")
    screening = screen_referrals(events, policy)
    accepted, rejected = screening.accepted, screening.rejected
    rules = [
        Markup("self-referral"),
        Markup("customer already referred"),
        markup("duplicate IP ({}, <code>referral_dedup_ip</code>)", "on" if policy.referral_dedup_ip else "off"),
        markup(
            "duplicate device ({}, <code>referral_dedup_device</code>)", "on" if policy.referral_dedup_device else "off"
        ),
    ]
    out: dict[str, Any] = {
        "events": f"{len(events):,}",
        "accepted": f"{len(accepted):,}",
        "rejected": f"{len(rejected):,}",
        "rejected_share": pct(len(rejected) / len(events)),
        "rules": Markup("; ").join(rules),
        "by_reason": None,
        "examples": None,
        "n_examples": 0,
        "rewards": None,
    }
    if len(rejected):
        reasons = rejected["reason"].value_counts()
        by_reason = pd.DataFrame({"reason": reasons.index.astype(str), "events": reasons.to_numpy()})
        by_reason["share of rejected"] = by_reason["events"] / len(rejected)
        out["by_reason"] = table_view(by_reason, percent=("share of rejected",), text=("reason",))
        keep = ["input_row", "referrer_id", "referred_id", "occurred_at", "reason", "detail"]
        examples = rejected[keep].head(REJECTED_EXAMPLES).assign(occurred_at=lambda f: f["occurred_at"].astype(str))
        out["n_examples"] = len(examples)
        out["examples"] = table_view(examples, text=("referrer_id", "referred_id", "occurred_at", "reason", "detail"))
    if len(accepted) and "reward_type" in accepted.columns:
        rewards = accepted["reward_type"].fillna("(none)").value_counts()
        out["rewards"] = table_view(
            pd.DataFrame({"reward type": rewards.index.astype(str), "events": rewards.to_numpy()}),
            text=("reward type",),
        )
    return out


def build(inputs: ReportInputs) -> dict[str, Any]:
    return {"candidates": candidates_part(inputs), "events": events_part(inputs)}


SECTION = ReportSection("referral", "Referral: candidates and screened referral events", build)
