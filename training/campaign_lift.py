"""Measured lift of past campaigns: per campaign and action, treated vs the campaign's own random control group.

For each campaign and each action it sent, on the contacts whose horizon is over (``observable``):

    lift = mean(outcome | action) - mean(outcome | control)

for retention (the product's churn label, read as retained) and for spend within the horizon, with a 95% normal
interval ``lift +- 1.96 sqrt(s_t^2 / n_t + s_c^2 / n_c)`` (the difference of two independent means; a randomised
control group makes it the average effect of the action on that campaign's selection). A campaign without a
control arm gets no lift: it cannot be measured (``features.validation`` warns about it when loading).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.campaign_outcomes import is_control

Z_95 = 1.959963984540054
LIFT_COLUMNS = (
    "campaign_id",
    "action",
    "sent_at",
    "n_treated",
    "n_control",
    "retained_treated",
    "retained_control",
    "retention_lift",
    "retention_lift_low",
    "retention_lift_high",
    "spend_treated",
    "spend_control",
    "spend_lift",
    "spend_lift_low",
    "spend_lift_high",
)


def _difference(treated: pd.Series, control: pd.Series) -> tuple[float, float, float]:
    """(lift, low, high) of mean(treated) - mean(control); NaN when either side has fewer than 2 values."""
    t, c = treated.dropna().to_numpy(np.float64), control.dropna().to_numpy(np.float64)
    if t.size < 2 or c.size < 2:
        return np.nan, np.nan, np.nan
    lift = float(t.mean() - c.mean())
    half = Z_95 * float(np.sqrt(t.var(ddof=1) / t.size + c.var(ddof=1) / c.size))
    return lift, lift - half, lift + half


def measured_lift(outcomes: pd.DataFrame) -> pd.DataFrame:
    """``LIFT_COLUMNS`` per (campaign, action) from ``features.campaign_outcomes.contact_outcomes`` rows."""
    seen = outcomes[outcomes["observable"].astype(bool)]
    rows = []
    for campaign, contacts in seen.groupby("campaign_id", sort=False):
        control = contacts[is_control(contacts["arm"]).to_numpy()]
        for action, treated in contacts[~is_control(contacts["arm"]).to_numpy()].groupby("arm", sort=True):
            retention = _difference(treated["retained"], control["retained"])
            spend = _difference(treated["spend"], control["spend"])
            rows.append(
                (
                    str(campaign),
                    str(action),
                    pd.Timestamp(treated["contacted_at"].min()),
                    len(treated),
                    len(control),
                    float(treated["retained"].mean()),
                    float(control["retained"].mean()) if len(control) else np.nan,
                    *retention,
                    float(treated["spend"].mean()),
                    float(control["spend"].mean()) if len(control) else np.nan,
                    *spend,
                )
            )
    frame = pd.DataFrame(rows, columns=list(LIFT_COLUMNS))
    return frame.sort_values(["sent_at", "campaign_id", "action"], kind="stable").reset_index(drop=True)
