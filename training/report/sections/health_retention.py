"""``health-retention``: the article's claim "health >= 85 renews at 92%" checked on this data at 30 and 90 days.

Policy settings ``healthy_score``, ``healthy_renewal_rate`` and ``retention_horizons_days`` (docs/DOMAIN.md section 4).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from features.errors import UserInputError
from training.report import plots
from training.report.inputs import ReportInputs, numeric
from training.report.page import Image, fmt, markup, pct, table_view
from training.report.section import ReportSection, SectionMissing

if TYPE_CHECKING:
    import duckdb

    from features.settings import FeatureSettings
    from models.policy_settings import PolicySettings

MIN_GROUP_FOR_VERDICT = 30  # labelled customers a group needs before the report calls a difference


def health_retention_frame(
    con: duckdb.DuckDBPyConnection,
    policy: PolicySettings,
    feature_settings: FeatureSettings,
    horizons: Sequence[int] | None = None,
) -> tuple[pd.DataFrame, pd.Timestamp, int]:
    """Health at a past cutoff whose longest-horizon outcome is known, and retention per group and horizon.

    ``horizons`` default: the setting ``retention_horizons_days`` (30 and 90 days, docs/DOMAIN.md section 4).

    The health score's activity scale is fitted on this population as the churn job fits it on its own
    (``models.health_scale``; the setting ``health_scale = fixed`` keeps ``activity_full_days``).

    The cutoff is the data's last day minus the longest horizon. The population is the labelled one
    (``features.labels``: customers active in the lookback window before the cutoff); "retained within h days"
    means not churned by the label definition for horizon h. Returns (retention table, cutoff, population).
    """
    from features.labels import build_labels, data_time_range
    from features.point_in_time import build_features
    from models.health_scale import HEALTH_SCALE_KEY, fit_health_scale, scaled_policy
    from models.health_score import compute_health_score, retention_by_health

    horizons = tuple(horizons or policy.retention_horizons_days)
    base = feature_settings
    _, end = data_time_range(con)
    longest = max(horizons)
    cutoff = (end.floor("D") - pd.Timedelta(days=longest)).as_unit("us")
    labels = {h: build_labels(con, [cutoff], base.model_copy(update={"horizon_days": h})) for h in horizons}
    ids = labels[longest]["customer_id"].astype(str)
    if ids.empty:
        raise UserInputError(f"no customer was active in the {base.activity_lookback_days} days before {cutoff.date()}")
    features, _ = build_features(con, [cutoff], base, customer_ids=ids.tolist())
    features = features.set_index(features["customer_id"].astype(str)).reindex(ids)
    # the activity scale as the churn job fits it (models/health_scale.py), on this cutoff's population
    activity: Any = features["active_days_30d"] if "active_days_30d" in features.columns else []
    policy = scaled_policy(policy, {HEALTH_SCALE_KEY: fit_health_scale(activity, policy.health_scale_quantile)})
    health = compute_health_score(features.reset_index(drop=True), policy)
    churned = {
        h: labels[h].set_index(labels[h]["customer_id"].astype(str))["churned"].reindex(ids).to_numpy(np.float64)
        for h in horizons
    }
    table = retention_by_health(health.score, churned, healthy_score=policy.healthy_score)
    table.attrs["activity_full_days"] = policy.activity_full_days
    return table, cutoff, len(ids)


def _verdict(table: pd.DataFrame, horizon: int, healthy: str, policy: PolicySettings) -> dict[str, Any]:
    rows = table[table["horizon_days"] == horizon]
    is_healthy = (rows["group"] == healthy).to_numpy()
    rates = rows["retention_rate"].to_numpy(np.float64)
    labelled = rows["labelled"].to_numpy(np.int64)
    good = float(rates[is_healthy][0]) if is_healthy.any() else np.nan
    rest_rate = float(rates[~is_healthy][0]) if (~is_healthy).any() else np.nan
    n_good = int(labelled[is_healthy][0]) if is_healthy.any() else 0
    n_rest = int(labelled[~is_healthy][0]) if (~is_healthy).any() else 0
    enough = min(n_good, n_rest) >= MIN_GROUP_FOR_VERDICT
    holds = bool(good > rest_rate)
    return {
        "horizon": horizon,
        "good": pct(good),
        "rest": pct(rest_rate),
        "counts": f"{n_good:,} healthy vs {n_rest:,} others",
        "enough": enough,
        "holds": holds,
        "reached": "reached" if good >= policy.healthy_renewal_rate else "not reached",
    }


def build(inputs: ReportInputs) -> dict[str, Any]:
    if "events" not in inputs.tables:
        raise SectionMissing(
            markup("the data has no <code>events</code> table: health and retention need product usage.")
        )
    policy = inputs.policy
    horizons = policy.retention_horizons_days
    try:
        table, cutoff, population = health_retention_frame(inputs.con, policy, inputs.feature_settings)
    except UserInputError as err:
        raise SectionMissing(f"the data is too short to observe {max(horizons)}-day retention: {err}") from None
    healthy = f"score >= {policy.healthy_score:g}"
    spans = " and ".join(str(h) for h in horizons)
    groups = list(dict.fromkeys(table["group"]))
    chart = plots.grouped_bars(
        [f"{h} days" for h in horizons],
        {g: table[table["group"] == g]["retention_rate"].to_numpy() for g in groups},
        title="Retention by health score group",
        xlabel="horizon after the cutoff",
        ylabel="retained",
        percent=True,
    )
    today = None
    if inputs.has_scores and inputs.scores is not None and "health_score" in inputs.scores:
        now = numeric(inputs.scores, "health_score")
        today = {"share": pct((now >= policy.healthy_score).mean()), "median": fmt(now.median(), 1)}
    return {
        "healthy_score": f"{policy.healthy_score:g}",
        "claim": pct(policy.healthy_renewal_rate, 0),
        "population": f"{population:,}",
        "cutoff": cutoff.date(),
        "longest": max(horizons),
        "spans": spans,
        "verdicts": [_verdict(table, h, healthy, policy) for h in horizons],
        "min_group": MIN_GROUP_FOR_VERDICT,
        "image": Image(chart, f"retention by health score at {spans} days"),
        "table": table_view(table, percent=("retention_rate",), text=("group",)),
        "today": today,
        "activity_full_days": table.attrs.get("activity_full_days"),
        "scale_source": (
            f"the {policy.health_scale_quantile:.0%} quantile of this population's active days"
            if policy.health_scale == "training_data"
            else "the setting activity_full_days"
        ),
    }


SECTION = ReportSection("health-retention", "Health score vs retention", build)
