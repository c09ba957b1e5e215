"""B2B: roll user-level rows up to the account and compute tier and health per account.

docs/DOMAIN.md section 9: a B2B account has many users and the customer-success team acts on the
account, so its tier and health are computed from account-level signals, by running the same
policy (models.customer_policy.apply_policy) on one aggregated row per account (and per
``as_of`` when the frame holds several cutoffs).

Aggregation per column (why):

* counts (events_30d, active_days_30d, core_actions_30d, core_actions_prev_30d, tickets_90d,
  tickets_open, txn_count_total, sub_ended_count) are summed: the account does all of its
  users' work; core_trend_ratio is recomputed as the ratio of the summed windows (null when the
  account's prior window is empty), not a mean of user ratios;
* active_days_30d is the max over users, not the sum: it is a count of days and the account is
  active on a day when any user is (the max is the closest lower bound without event dates);
* breadth and reach (core_modules_used_90d, uses_3plus_modules, aha_reached, sub_active, tenure_days)
  take the max: the account uses a module when any user does, and is as old as its oldest user. The
  max of the users' uses_3plus_modules flags equals the flag of the max module count, whatever
  threshold the features were built with; only when the frame has no such column is it recomputed
  from core_modules_used_90d with ``core_modules_threshold`` (default: the feature setting
  ``CHURNLTV_FEATURES_CORE_MODULES_THRESHOLD``, 3);
* recency (days_since_last_event, days_since_last_core_action, days_since_last_txn,
  days_since_reactivation, weeks_below_aha_bar, idle_ratio) takes the min: the account is only
  idle / below the bar when every user is;
* usual_gap_days takes the min (the busiest user's rhythm sets the account's);
* quality and sentiment (ticket_satisfaction_mean, ticket_resolution_hours_mean, nps_last) take
  the mean over users who have a value; the account's nps_last is then rounded half up to a whole
  score (the 0-10 scale has no fractions, and the account's NPS segment is that of its typical
  answer: users answering 9 and 6 make a 7.5 -> 8, a passive account);
* purchase history: btyd_frequency (repeat purchase days) is summed over the users who bought, and stays
  missing when no user has bought, so the policy still tells a buyer account from one without purchases
  (models.lost_customers, models.risk_tiers read it);
* model outputs: churn_probability is the mean over users (expected share of users lost),
  predicted_ltv the sum, p_alive the max over the users with purchase history (the account is alive while
  any buyer is). A never-buyer's P(alive) is BG/NBD's prior (1.0), not a measured rhythm: counting it would
  hide the low-P(alive) warning of the whole account. An account without buyers has no P(alive). When the
  frame has no btyd_frequency column every user counts.

Users without an account_id are an error (B2C customers have no account to roll up to).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.errors import UserInputError
from models.customer_policy import apply_policy
from models.policy_settings import PolicySettings

_SUM = ("events_30d", "core_actions_30d", "core_actions_prev_30d", "tickets_90d", "tickets_open", "txn_count_total",
        "sub_ended_count", "predicted_ltv", "btyd_frequency")  # fmt: skip
_MAX = ("active_days_30d", "core_modules_used_90d", "uses_3plus_modules", "aha_reached", "sub_active", "tenure_days",
        "p_alive")  # fmt: skip
_MIN = ("days_since_last_event", "days_since_last_core_action", "days_since_last_txn", "days_since_reactivation",
        "weeks_below_aha_bar", "idle_ratio", "usual_gap_days")  # fmt: skip
_MEAN = ("ticket_satisfaction_mean", "ticket_resolution_hours_mean", "nps_last", "churn_probability")


def _account_of_each_user(frame: pd.DataFrame, account_ids: pd.Series | None) -> np.ndarray:
    if account_ids is not None:
        if "customer_id" not in frame.columns:
            raise UserInputError("rollup_accounts needs a 'customer_id' column to look up account_id")
        accounts = account_ids.reindex(frame["customer_id"]).to_numpy(dtype=object)
    elif "account_id" in frame.columns:
        accounts = frame["account_id"].to_numpy(dtype=object)
    else:
        raise UserInputError("rollup_accounts needs an 'account_id' column or an account_ids mapping (customers)")
    missing = pd.isna(accounts)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        who = frame["customer_id"].iloc[i] if "customer_id" in frame.columns else f"row {i + 1}"
        raise UserInputError(
            f"rollup_accounts: customer {who!r} has no account_id ({int(missing.sum())} user(s) without an account); "
            "roll up B2B users only"
        )
    return accounts


def _aggregations(work: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """Named aggregation per present column; makes those columns float64 in place (the inputs of the roll-up)."""
    spec: dict[str, tuple[str, str]] = {}
    for columns, how in ((_SUM, "sum"), (_MAX, "max"), (_MIN, "min"), (_MEAN, "mean")):
        for column in columns:
            if column in work.columns:
                spec[column] = (column, how)
    for column in spec:
        try:
            work[column] = work[column].to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as err:
            raise UserInputError(f"rollup_accounts: column {column!r} must be numeric") from err
    if "p_alive" in spec and "btyd_frequency" in spec:
        # only buyers have a purchase rhythm; a never-buyer's prior would win the max (see the module docstring)
        work["p_alive"] = work["p_alive"].where(work["btyd_frequency"].notna())
    return spec


def rollup_accounts(
    frame: pd.DataFrame, account_ids: pd.Series | None = None, *, core_modules_threshold: int | None = None
) -> pd.DataFrame:
    """One row per account (and as_of, when present) with the aggregated signals.

    ``account_ids`` maps customer_id -> account_id (e.g. ``customers.set_index("customer_id")
    ["account_id"]``); when None the frame's own ``account_id`` column is used. Adds ``users``.
    ``core_modules_threshold`` is only used when the frame has core_modules_used_90d but no
    uses_3plus_modules (see the module docstring).
    """
    accounts = _account_of_each_user(frame, account_ids)
    keys = ["account_id", "as_of"] if "as_of" in frame.columns else ["account_id"]
    work = frame.assign(account_id=accounts)
    spec = _aggregations(work)
    grouped = work.groupby(keys, sort=True)
    out = grouped.agg(**spec) if spec else pd.DataFrame(index=grouped.size().index)
    out.insert(0, "users", grouped.size())
    for column in _SUM:
        if column in out.columns:  # a sum over users who all lack the value stays missing, not 0
            present = grouped[column].count()
            out[column] = out[column].where(present > 0)
    if "nps_last" in out.columns:
        out["nps_last"] = np.floor(out["nps_last"] + 0.5)  # half up: np.round would send 8.5 to 8
    if "core_actions_30d" in out.columns and "core_actions_prev_30d" in out.columns:
        prev = out["core_actions_prev_30d"]
        out["core_trend_ratio"] = (out["core_actions_30d"] / prev).where(prev > 0)
    if "uses_3plus_modules" in out.columns:
        out["uses_3plus_modules"] = out["uses_3plus_modules"].fillna(0).astype(np.int64)
    elif "core_modules_used_90d" in out.columns:
        if core_modules_threshold is None:
            from features.settings import load_feature_settings

            core_modules_threshold = load_feature_settings().core_modules_threshold
        out["uses_3plus_modules"] = (out["core_modules_used_90d"] >= core_modules_threshold).astype(np.int64)
    out = out.reset_index()
    out.insert(0, "customer_id", out["account_id"])
    out["segment"] = "b2b"
    return out


def account_policy(
    frame: pd.DataFrame, account_ids: pd.Series | None = None, settings: PolicySettings | None = None
) -> pd.DataFrame:
    """Roll users up to accounts, then apply the full customer policy at account level."""
    return apply_policy(rollup_accounts(frame, account_ids), settings)
