"""Lifecycle stage of every customer in both vocabularies of docs/DOMAIN.md section 1.

B2C (growth funnel, article 000): acquisition, activation, retention, monetization, referral, and
"lost" for a customer already gone by their own rhythm (the win-back list; issue 15).
B2B (relationship, article 001):  acquisition, growth, maturity, maintenance, churn.
Both: "reactivated" for a churned customer who came back recently (article 001: a returning
customer is not "new").

The stage is read from the point-in-time features at the cutoff, so a customer's history is the
sequence of stages over successive cutoffs and can move backwards (active -> inactive -> churned,
churned -> returned -> active -> loyal). Signals (names from ARCHITECTURE.md; thresholds in
PolicySettings):

* dormant      idle days >= stage_dormant_days (idle days = days_since_last_event, or tenure when
               the customer never had an event), or lost: already gone by their own rhythm
               (``models.lost_customers``: the lapse rule of features/lapse.py, or P(alive) with an LTV model);
* reactivated  days_since_reactivation <= stage_reactivated_days and not dormant again;
* habit        active_days_30d >= stage_habit_active_days and not dormant;
* aha          aha_reached (falls back to ``habit`` when the column is absent);
* paying       sub_active == 1 or a transaction within stage_paying_window_days; unknown when
               neither transactions nor subscriptions exist;
* promoter     nps_last >= nps_promoter_min;
* declining    core_trend_ratio < stage_declining_trend;
* contract ended  sub_ended_count > 0 and sub_active == 0.

B2C, first match wins: lost; reactivated; referral = habit and promoter (free users refer too, so
payment is not required); monetization = habit and paying; retention = habit; activation = aha;
else acquisition. Only the lost leave the growth funnel: a customer merely idle for the fixed
``stage_dormant_days`` falls back to the furthest step they still satisfy (activation or
acquisition), and the B2B view says "churn" for both.

B2B, first match wins: reactivated; churn = dormant or contract ended; acquisition = no aha yet;
with tenure >= stage_maturity_tenure_days and paying (or payment unknown): maturity = habit and
not declining, maintenance = declining or no longer a habit; otherwise growth (onboarding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.lapse import LapseRule
from models.lost_customers import lost_customers
from models.policy_frame import BoolArray, FloatArray, PolicyInputs, as_inputs, first_match, numeric_column
from models.policy_settings import PolicySettings, default_policy_settings

B2C_STAGES: tuple[str, ...] = ("acquisition", "activation", "retention", "monetization", "referral")
B2B_STAGES: tuple[str, ...] = ("acquisition", "growth", "maturity", "maintenance", "churn")
REACTIVATED = "reactivated"
LOST = "lost"
# code -> name tables (codes are what the rules compute; names are looked up once at the end)
B2C_LABELS: tuple[str, ...] = (*B2C_STAGES, REACTIVATED, LOST)
B2B_LABELS: tuple[str, ...] = (*B2B_STAGES, REACTIVATED)


@dataclass(frozen=True)
class LifecycleStages:
    """Stage per customer in both vocabularies, aligned with the input rows.

    ``b2c_code``/``b2b_code`` index B2C_LABELS/B2B_LABELS; ``b2c``/``b2b`` give the names.
    """

    b2c_code: npt.NDArray[np.int8]
    b2b_code: npt.NDArray[np.int8]
    not_evaluated: tuple[str, ...]

    @property
    def b2c(self) -> npt.NDArray[np.object_]:
        return np.array(B2C_LABELS, dtype=object)[self.b2c_code]

    @property
    def b2b(self) -> npt.NDArray[np.object_]:
        return np.array(B2B_LABELS, dtype=object)[self.b2b_code]


def _flag(values: FloatArray | None, n: int, threshold: float, *, at_least: bool = True) -> BoolArray:
    """``values >= threshold`` (or ``<=``), False for NaN; all False when the column is absent. The caller
    silences NaN comparison warnings (once per call, not once per flag)."""
    if values is None:
        return np.zeros(n, dtype=bool)
    return values >= threshold if at_least else values <= threshold


def assign_lifecycle_stages(
    frame: pd.DataFrame | PolicyInputs, settings: PolicySettings | None = None, lapse_rule: LapseRule | None = None
) -> LifecycleStages:
    """B2C and B2B stage for every row of ``frame`` (rules in the module docstring)."""
    frame = as_inputs(frame)
    settings = settings or default_policy_settings()
    with np.errstate(invalid="ignore"):
        return _stages(frame, settings, lapse_rule)


def _stages(frame: PolicyInputs, settings: PolicySettings, lapse_rule: LapseRule | None) -> LifecycleStages:
    n = len(frame)
    skipped: list[str] = []

    since_event = numeric_column(frame, "days_since_last_event")
    tenure = numeric_column(frame, "tenure_days")
    if since_event is None:
        skipped.append("dormant (no days_since_last_event)")
        idle = None
    else:
        idle = np.where(np.isnan(since_event), tenure, since_event) if tenure is not None else since_event
    # lost by their own rhythm (models.lost_customers) is dormant whatever the fixed dormant_days say
    lost = lost_customers(frame, settings, lapse_rule)
    skipped += list(lost.not_evaluated)
    dormant = _flag(idle, n, settings.stage_dormant_days) | lost.lost

    since_reactivation = numeric_column(frame, "days_since_reactivation")
    if since_reactivation is None:
        skipped.append("reactivated (no days_since_reactivation)")
    reactivated = _flag(since_reactivation, n, settings.stage_reactivated_days, at_least=False) & ~dormant

    habit = _flag(numeric_column(frame, "active_days_30d"), n, settings.stage_habit_active_days) & ~dormant
    aha_in = numeric_column(frame, "aha_reached")
    aha = habit if aha_in is None else _flag(aha_in, n, 1.0) | habit

    sub_active = numeric_column(frame, "sub_active")
    since_txn = numeric_column(frame, "days_since_last_txn")
    paying_known = sub_active is not None or since_txn is not None
    if not paying_known:
        skipped.append("paying (no transactions or subscriptions columns)")
    paying = _flag(sub_active, n, 1.0) | _flag(since_txn, n, settings.stage_paying_window_days, at_least=False)
    ended = _flag(numeric_column(frame, "sub_ended_count"), n, 1.0) & ~_flag(sub_active, n, 1.0)
    if sub_active is None:
        ended = np.zeros(n, dtype=bool)

    promoter = _flag(numeric_column(frame, "nps_last"), n, float(settings.nps_promoter_min))
    trend = numeric_column(frame, "core_trend_ratio")
    declining = np.zeros(n, dtype=bool) if trend is None else np.less(trend, settings.stage_declining_trend)
    seasoned = _flag(tenure, n, settings.stage_maturity_tenure_days) if tenure is not None else np.ones(n, bool)
    paying_or_unknown = paying if paying_known else np.ones(n, dtype=bool)

    c = B2C_LABELS.index
    b2c = first_match(
        [lost.lost, reactivated, habit & promoter, habit & paying, habit, aha],
        [c(LOST), c(REACTIVATED), c("referral"), c("monetization"), c("retention"), c("activation")],
        c("acquisition"),
        np.int8,
    )
    established = seasoned & paying_or_unknown & aha
    b = B2B_LABELS.index
    b2b = first_match(
        [reactivated, dormant | ended, ~aha, established & habit & ~declining, established],
        [b(REACTIVATED), b("churn"), b("acquisition"), b("maturity"), b("maintenance")],
        b("growth"),
        np.int8,
    )
    return LifecycleStages(b2c_code=b2c, b2b_code=b2b, not_evaluated=tuple(skipped))
