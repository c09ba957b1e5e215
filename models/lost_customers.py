"""Lost is not at risk: which customers are already gone by their own rhythm at the cutoff.

A customer is *lost* when the one lapse rule of ``features.lapse`` says so (idle for longer than their own usual
gap allows; the rule the churn training population uses too; its fixed fallback for customers without an event
rhythm does not apply to a buyer whose purchase rhythm P(alive) measures), or, when an LTV model is loaded,
when BG/NBD's P(alive) of a customer with purchase history is below ``lost_p_alive_below`` (the purchase rhythm's
own verdict, docs/DOMAIN.md section 9). A never-buyer's P(alive) is the model's prior, not a rhythm, so it never
makes anyone lost.

Early-warning tiers apply to the active base: a lost customer gets no tier and the win-back action instead
(``models.risk_tiers``), and the B2B stage ``churn`` (``models.lifecycle_stage``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from features.lapse import LapseRule, is_lapsed
from models.policy_frame import BoolArray, PolicyInputs, numeric_column
from models.policy_settings import PolicySettings


@lru_cache(maxsize=1)
def default_lapse_rule() -> LapseRule:
    """The feature settings' lapse rule (``CHURNLTV_FEATURES_LAPSE__*``), read once per process."""
    from features.settings import FeatureSettings

    return FeatureSettings().lapse


@dataclass(frozen=True)
class LostCustomers:
    """``lost`` per row, and which of the two signals could not be evaluated (input column absent)."""

    lost: BoolArray
    by_rhythm: BoolArray
    by_p_alive: BoolArray
    not_evaluated: tuple[str, ...]


def lost_customers(frame: PolicyInputs, settings: PolicySettings, rule: LapseRule | None = None) -> LostCustomers:
    """Evaluate the lapse rule (and P(alive), when present) on every row of ``frame``."""
    n = len(frame)
    skipped: list[str] = []
    idle = numeric_column(frame, "days_since_last_event")
    gap = numeric_column(frame, "usual_gap_days")
    ratio = numeric_column(frame, "idle_ratio")
    if ratio is not None and idle is not None:  # idle_ratio = idle / usual gap: the same rhythm, when only it is given
        with np.errstate(invalid="ignore", divide="ignore"):
            implied = np.where(ratio > 0, idle / ratio, np.nan)
        gap = implied if gap is None else np.where(np.isnan(gap), implied, gap)
    p_alive = numeric_column(frame, "p_alive")
    purchases = numeric_column(frame, "btyd_frequency")
    buyer = np.ones(n, dtype=bool) if purchases is None else ~np.isnan(purchases)
    # a measured purchase rhythm: BG/NBD's P(alive) of a customer with purchase history
    purchase_rhythm = np.zeros(n, dtype=bool) if p_alive is None else buyer & ~np.isnan(p_alive)
    if idle is None:
        skipped.append("lost_by_rhythm (no days_since_last_event)")
        by_rhythm = np.zeros(n, dtype=bool)
    else:
        gaps = np.full(n, np.nan) if gap is None else gap
        # the lapse rule's fixed fallback is for customers with no rhythm at all; a purchase rhythm is one
        by_rhythm = is_lapsed(idle, gaps, rule or default_lapse_rule()) & ~(np.isnan(gaps) & purchase_rhythm)
    by_p_alive = np.zeros(n, dtype=bool)
    if settings.lost_p_alive_below is not None:
        if p_alive is None:
            skipped.append("lost_by_p_alive (no p_alive)")
        else:
            with np.errstate(invalid="ignore"):
                by_p_alive = purchase_rhythm & (p_alive < settings.lost_p_alive_below)
    return LostCustomers(by_rhythm | by_p_alive, by_rhythm, by_p_alive, tuple(skipped))


WIN_BACK_VALUE_COLUMNS: tuple[str, ...] = ("txn_amount_total", "predicted_ltv")
"""What ranks the win-back list, first present wins: what a lost customer used to spend, else the predicted LTV."""


def win_back_list(frame: pd.DataFrame, top: int | None = None) -> pd.DataFrame:
    """The lost customers (column ``lost``, or ``stage_b2c == "lost"``) ranked for a win-back campaign.

    Ranked by the first column of ``WIN_BACK_VALUE_COLUMNS`` the frame carries, largest first (unknown values
    last, never dropped); without any, in input order. Returns rank (1-based), customer_id, the value column
    (``win_back_value``, named in ``attrs["value_column"]``) and any action_key / stage_b2c / days_since_last_event
    the frame carries.
    """
    from features.errors import UserInputError

    if "customer_id" not in frame.columns:
        raise UserInputError("win_back_list needs the column customer_id")
    if "lost" in frame.columns:
        mask = frame["lost"].fillna(False).astype(bool).to_numpy()
    elif "stage_b2c" in frame.columns:
        mask = (frame["stage_b2c"].astype(object) == "lost").to_numpy()
    else:
        raise UserInputError("win_back_list needs the column lost (or stage_b2c): run the customer policy first")
    if top is not None and top < 0:
        raise UserInputError(f"win_back_list: top must be >= 0, got {top}")
    lost = frame[mask]
    value_column = next((c for c in WIN_BACK_VALUE_COLUMNS if c in frame.columns), None)
    if value_column is None:
        value = np.full(len(lost), np.nan)
    else:
        value = pd.to_numeric(lost[value_column], errors="coerce").to_numpy(np.float64)
    order = np.argsort(np.where(np.isnan(value), np.inf, -value), kind="stable")
    if top is not None:
        order = order[:top]
    keep = [c for c in ("customer_id", "action_key", "stage_b2c", "days_since_last_event") if c in lost.columns]
    out = lost[keep].iloc[order].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.insert(2, "win_back_value", value[order])
    out.attrs["value_column"] = value_column
    return out
