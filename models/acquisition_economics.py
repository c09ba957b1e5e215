"""Acquisition economics per channel: CAC, mean predicted LTV, LTV/CAC and the 6-3-1 budget split.

docs/DOMAIN.md section 7: CAC = marketing spend / new customers; keep channels whose LTV/CAC > 3;
split the budget 60% proven channels, 30% tests, 10% reserve (all three numbers are settings).

Period: spend and new customers must cover the same months, so new customers are those whose
signup month is one of the months present in ``acquisition_spend``. A channel with customers but
no spend row (e.g. organic) has an unknown CAC and is reported as ``no_data``; a channel with spend
and no new customer has an infinite CAC (LTV/CAC = 0) and is a failed test, not missing data.
Mean predicted LTV is over the channel's new customers of the period (the customers the spend
bought), ignoring customers without a prediction (``ltv_customers`` says how many had one).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.errors import UserInputError
from models.policy_frame import require_columns
from models.policy_settings import PolicySettings, default_policy_settings

PROVEN, TEST, NO_DATA, RESERVE = "proven", "test", "no_data", "reserve"


def channel_economics(
    spend: pd.DataFrame,
    customers: pd.DataFrame,
    predicted_ltv: pd.Series | None = None,
    settings: PolicySettings | None = None,
) -> pd.DataFrame:
    """One row per channel: spend, new_customers, cac, ltv_customers, mean_predicted_ltv, ltv_cac,
    meets_ltv_cac_rule (LTV/CAC > ltv_cac_min) and pool (proven / test / no_data).

    ``predicted_ltv`` is indexed by customer_id; when None, a ``predicted_ltv`` column of
    ``customers`` is used if present.
    """
    settings = settings or default_policy_settings()
    require_columns(spend, ("channel", "month", "spend"), "acquisition_spend")
    require_columns(customers, ("customer_id", "signup_at", "acquisition_channel"), "customers")
    if (spend["spend"] < 0).any():
        i = int(np.flatnonzero((spend["spend"] < 0).to_numpy())[0])
        raise UserInputError(f"acquisition_spend row {i + 1}, column 'spend': negative spend {spend['spend'].iloc[i]}")

    months = pd.to_datetime(spend["month"]).dt.to_period("M")
    signup_month = pd.to_datetime(customers["signup_at"]).dt.to_period("M")
    in_period = signup_month.isin(set(months)).to_numpy()
    new = customers.loc[in_period, ["customer_id", "acquisition_channel"]]
    if predicted_ltv is not None:
        ltv = predicted_ltv.reindex(new["customer_id"]).to_numpy(dtype=np.float64, na_value=np.nan)
    elif "predicted_ltv" in customers.columns:
        ltv = customers.loc[in_period, "predicted_ltv"].to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        ltv = np.full(len(new), np.nan)
    new = new.assign(ltv=ltv)

    by_channel = new.groupby("acquisition_channel").agg(
        new_customers=("customer_id", "size"), ltv_customers=("ltv", "count"), mean_predicted_ltv=("ltv", "mean")
    )
    spent = spend.groupby("channel")["spend"].sum()
    channels = sorted(set(spent.index.astype(str)) | set(by_channel.index.astype(str)))
    out = pd.DataFrame({"channel": channels})
    out["spend"] = spent.reindex(channels).to_numpy(dtype=np.float64, na_value=np.nan)
    out["new_customers"] = by_channel["new_customers"].reindex(channels).fillna(0).astype(np.int64).to_numpy()
    out["ltv_customers"] = by_channel["ltv_customers"].reindex(channels).fillna(0).astype(np.int64).to_numpy()
    out["mean_predicted_ltv"] = by_channel["mean_predicted_ltv"].reindex(channels).to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        new_n = out["new_customers"].to_numpy(dtype=np.float64)
        spend_v = out["spend"].to_numpy(dtype=np.float64)
        cac = np.where(new_n > 0, spend_v / new_n, np.where(spend_v > 0, np.inf, np.nan))
        ratio = np.where(np.isinf(cac), 0.0, out["mean_predicted_ltv"].to_numpy(dtype=np.float64) / cac)
    out["cac"] = cac
    out["ltv_cac"] = ratio
    has_data = ~np.isnan(ratio)
    meets = has_data & (ratio > settings.ltv_cac_min)
    out["meets_ltv_cac_rule"] = meets
    out["pool"] = np.select([meets, has_data], [PROVEN, TEST], default=NO_DATA)
    return out


def budget_split(economics: pd.DataFrame, total_budget: float, settings: PolicySettings | None = None) -> pd.DataFrame:
    """The 6-3-1 suggestion: proven channels share 60%, tested channels 30%, 10% stays in reserve.

    Within a pool the share follows each channel's current spend (scale what already runs; equal
    split when the pool spent nothing). A pool without channels passes its share to the reserve, so
    the rows always add up to ``total_budget``. Returns channel, pool, share, budget (last row: the
    reserve, channel None).
    """
    settings = settings or default_policy_settings()
    require_columns(economics, ("channel", "pool", "spend"), "budget_split")
    if total_budget < 0:
        raise UserInputError(f"total_budget must be >= 0, got {total_budget:g}")
    rows: list[dict[str, object]] = []
    reserve = settings.budget_reserve_share
    for pool, share in ((PROVEN, settings.budget_proven_share), (TEST, settings.budget_test_share)):
        members = economics[economics["pool"] == pool]
        if members.empty:
            reserve += share
            continue
        weights = np.nan_to_num(members["spend"].to_numpy(dtype=np.float64))
        weights = weights / weights.sum() if weights.sum() > 0 else np.full(len(members), 1.0 / len(members))
        for channel, w in zip(members["channel"].tolist(), weights.tolist(), strict=True):
            rows.append({"channel": channel, "pool": pool, "share": share * w, "budget": total_budget * share * w})
    rows.append({"channel": None, "pool": RESERVE, "share": reserve, "budget": total_budget * reserve})
    return pd.DataFrame(rows, columns=["channel", "pool", "share", "budget"])
