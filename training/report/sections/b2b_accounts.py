"""``b2b-accounts``: users rolled up to their B2B account: tier counts, health distribution, top accounts at risk.

``models.account_rollup.account_policy`` on features rebuilt at the score run's as_of, with the feature settings
the run's churn model was trained with.
"""

from __future__ import annotations

import logging
import tempfile
from itertools import pairwise
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from features.errors import UserInputError
from training.report import plots, tracking_reads
from training.report.inputs import NO_SCORES, ReportInputs, numeric
from training.report.page import Image, fmt, markup, pct, table_view
from training.report.section import ReportSection, SectionMissing

if TYPE_CHECKING:
    from features.settings import FeatureSettings

logger = logging.getLogger(__name__)

TOP_ACCOUNTS = 20
HEALTH_BINS = tuple(range(0, 101, 10))
TIER_ORDER = ("none", "low", "medium", "high")


def scoring_feature_settings(inputs: ReportInputs) -> tuple[FeatureSettings, Markup]:
    """The feature settings the score run's churn model was trained with, else the given ones (with a note).

    Account-level rules must see the features the user-level scores saw (same Aha rule, core event types).
    """
    from features.feature_spec import FeatureSpec
    from features.settings import FeatureSettings
    from models.bundle_source import resolve_bundle
    from training.registry import CHURN_MODEL

    churn = ((inputs.score_run or {}).get("models") or {}).get("churn") or {}
    version = churn.get("version") if isinstance(churn, dict) else None
    if version and not tracking_reads.registry_is_empty(inputs.tracking_uri):
        try:
            with tempfile.TemporaryDirectory(prefix="churnltv-report-") as tmp:
                bundle = resolve_bundle(
                    f"models:/{CHURN_MODEL}/{version}",
                    default_name=CHURN_MODEL,
                    tracking_uri=inputs.tracking_uri,
                    dst_dir=Path(tmp) / "churn",
                )
                spec = FeatureSpec.from_json((bundle / "feature_spec.json").read_text(encoding="utf-8"))
        except (UserInputError, OSError) as err:
            logger.info("feature settings of churn model %s not available: %s", version, err)
        else:
            return FeatureSettings.from_recorded(spec.settings), markup(
                "the feature settings of churn model version {}", version
            )
    return inputs.feature_settings, markup("the current feature settings (<code>CHURNLTV_FEATURES_*</code>)")


def account_frame(inputs: ReportInputs) -> tuple[pd.DataFrame, Markup] | Markup:
    """Account-level policy for every B2B account of the score run, or why there is none.

    Features are rebuilt at the run's as_of for the users who have an account (point in time, the model's
    feature settings) and joined with their scores (churn_probability, p_alive, predicted_ltv); then
    ``models.account_rollup.account_policy`` rolls them up and applies the policy per account.
    """
    from features.point_in_time import build_features
    from models.account_rollup import account_policy

    if not inputs.has_scores or inputs.scores is None:
        return NO_SCORES
    columns = set(inputs.con.execute("SELECT * FROM customers LIMIT 0").df().columns)
    if "account_id" not in columns:
        return markup(
            "the <code>customers</code> table has no <code>account_id</code> column: no B2B accounts to roll up."
        )
    users = inputs.table(
        "customers",
        "CAST(customer_id AS VARCHAR) AS customer_id, CAST(account_id AS VARCHAR) AS account_id",
    ).dropna(subset=["account_id"])
    scores = inputs.scores.assign(customer_id=inputs.scores["customer_id"].astype(str))
    users = users[users["customer_id"].isin(scores["customer_id"])]
    if users.empty:
        return markup("no scored customer belongs to a B2B account (<code>customers.account_id</code> is empty).")
    settings, settings_from = scoring_feature_settings(inputs)
    as_of = inputs.scores_as_of()
    features, _ = build_features(inputs.con, [as_of], settings, customer_ids=users["customer_id"].tolist())
    features = features.assign(customer_id=features["customer_id"].astype(str))
    features = features[features["customer_id"].isin(users["customer_id"])]
    outputs = [c for c in ("churn_probability", "p_alive", "predicted_ltv") if c in scores.columns]
    frame = features.merge(scores[["customer_id", *outputs]], on="customer_id", how="left")
    accounts = account_policy(frame, users.set_index("customer_id")["account_id"], inputs.policy)
    note = markup(
        "{} users of {} accounts, features rebuilt at {} with {}",
        f"{len(frame):,}",
        f"{len(accounts):,}",
        as_of.date(),
        settings_from,
    )
    return accounts, note


def _trigger_names(triggers: Any) -> str:
    if not isinstance(triggers, list):
        return ""
    return ", ".join(dict.fromkeys(str(t.get("trigger")) for t in triggers if isinstance(t, dict)))


def _top_accounts(accounts: pd.DataFrame) -> dict[str, Any]:
    ranked = accounts.assign(_var=numeric(accounts, "value_at_risk")).sort_values(
        "_var", ascending=False, na_position="last", kind="stable"
    )
    top = ranked.head(TOP_ACCOUNTS)
    table = pd.DataFrame(
        {
            "account": top["account_id"].astype(str).to_numpy(),
            "users": top["users"].astype(int).to_numpy(),
            "risk tier": top["risk_tier"].to_numpy(),
            "triggers": [_trigger_names(t) for t in top["triggers"]],
            "action": top["action_key"].to_numpy(),
            "churn_probability": numeric(top, "churn_probability").to_numpy(),
            "predicted_ltv": numeric(top, "predicted_ltv").to_numpy(),
            "value_at_risk": top["_var"].to_numpy(),
            "health": numeric(top, "health_score").to_numpy(),
        }
    )
    return {
        "n": len(table),
        "total": fmt(float(numeric(accounts, "value_at_risk").sum()), 0),
        "table": table_view(
            table,
            digits={"churn_probability": 3, "predicted_ltv": 2, "value_at_risk": 2, "health": 1},
            text=("account", "risk tier", "triggers", "action"),
        ),
    }


def build(inputs: ReportInputs) -> dict[str, Any]:
    built = account_frame(inputs)
    if isinstance(built, Markup):
        raise SectionMissing(built)
    accounts, note = built
    policy = inputs.policy
    counts = accounts["risk_tier"].value_counts()
    users = accounts.groupby("risk_tier")["users"].sum()
    order = [t for t in TIER_ORDER if t in counts.index]
    action = accounts.drop_duplicates("risk_tier").set_index("risk_tier")["action_key"]
    tiers = pd.DataFrame(
        {
            "tier": order,
            "accounts": [int(counts[t]) for t in order],
            "share": [counts[t] / counts.sum() for t in order],
            "users": [int(users[t]) for t in order],
            "action": [str(action[t]) for t in order],
        }
    )
    health = numeric(accounts, "health_score")
    binned = np.histogram(health.dropna().to_numpy(), bins=np.asarray(HEALTH_BINS, dtype=np.float64))[0]
    labels = [f"{a}-{b}" for a, b in pairwise(HEALTH_BINS)]
    chart = plots.grouped_bars(
        labels, {"accounts": binned}, title="Account health score", xlabel="health score (0-100)", ylabel="accounts"
    )
    has_ltv = numeric(accounts, "predicted_ltv").notna().sum() > 0
    return {
        "note": note,
        "accounts": f"{len(accounts):,}",
        "users": f"{int(accounts['users'].sum()):,}",
        "healthy": pct(float((health >= policy.healthy_score).mean())),
        "healthy_score": f"{policy.healthy_score:g}",
        "median_health": fmt(health.median(), 1),
        "tiers": table_view(tiers, percent=("share",), text=("tier", "action")),
        "image": Image(chart, "account health score distribution"),
        "top": _top_accounts(accounts) if has_ltv else None,
    }


SECTION = ReportSection("b2b-accounts", "B2B accounts: tier, health and value at risk per account", build)
