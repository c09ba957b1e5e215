"""Referral: whom to ask (promoters with high predicted LTV) and which referral events to reward.

docs/DOMAIN.md section 8: promoters are the customers to ask; anti-fraud de-duplicates referrals by IP
and device. Events are processed in time order (``occurred_at``, then input order); an event is
rejected, with the first reason that applies, when:

* ``self_referral``     referrer_id == referred_id;
* ``duplicate_referred`` the referred customer was already referred by an earlier event;
* ``duplicate_ip``      an earlier event came from the same IP (setting ``referral_dedup_ip``);
* ``duplicate_device``  an earlier event came from the same device (setting ``referral_dedup_device``).

"Earlier event" includes rejected ones: a farm reusing one IP is caught on every reuse. Missing
IPs/devices never match each other. Every input row ends up in exactly one of the two outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.errors import UserInputError
from models.policy_frame import numeric_column, require_columns
from models.policy_settings import PolicySettings, default_policy_settings


@dataclass(frozen=True)
class ReferralScreening:
    """Accepted events and rejected ones (with ``reason`` and ``detail``), both in time order."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame


def referral_candidates(frame: pd.DataFrame, settings: PolicySettings | None = None) -> pd.DataFrame:
    """Promoters (nps_last >= nps_promoter_min) whose predicted LTV is at or above the
    ``referral_ltv_quantile`` of all customers with a prediction; highest LTV first.
    """
    settings = settings or default_policy_settings()
    require_columns(frame, ("customer_id", "nps_last", "predicted_ltv"), "referral_candidates")
    nps = numeric_column(frame, "nps_last")
    ltv = numeric_column(frame, "predicted_ltv")
    if nps is None or ltv is None:  # pragma: no cover - require_columns guarantees presence
        raise UserInputError("referral_candidates needs nps_last and predicted_ltv")
    known = ltv[~np.isnan(ltv)]
    if known.size == 0:
        return frame.iloc[0:0][["customer_id", "nps_last", "predicted_ltv"]].assign(ltv_threshold=np.nan)
    threshold = float(np.quantile(known, settings.referral_ltv_quantile))
    with np.errstate(invalid="ignore"):
        chosen = (nps >= settings.nps_promoter_min) & (ltv >= threshold)
    out = frame.loc[chosen, ["customer_id", "nps_last", "predicted_ltv"]]
    out = out.sort_values("predicted_ltv", ascending=False, kind="stable").reset_index(drop=True)
    return out.assign(ltv_threshold=threshold)


def screen_referrals(referrals: pd.DataFrame, settings: PolicySettings | None = None) -> ReferralScreening:
    """Split referral events into accepted and rejected (rules in the module docstring)."""
    settings = settings or default_policy_settings()
    require_columns(referrals, ("referrer_id", "referred_id", "occurred_at"), "referrals")
    events = referrals.reset_index(drop=True)
    events.insert(0, "input_row", np.arange(1, len(events) + 1))
    events = events.sort_values(["occurred_at", "input_row"], kind="stable").reset_index(drop=True)

    reason = np.full(len(events), None, dtype=object)
    detail = np.full(len(events), None, dtype=object)

    def reject(mask: np.ndarray, name: str, text: pd.Series) -> None:
        new = mask & (reason == None)  # noqa: E711 - elementwise on an object array
        reason[new] = name
        detail[new] = text.to_numpy(dtype=object)[new]

    referrer = events["referrer_id"].astype(str)
    referred = events["referred_id"].astype(str)
    reject((referrer == referred).to_numpy(), "self_referral", "customer " + referrer + " referred themself")
    reject(
        events["referred_id"].duplicated(keep="first").to_numpy(),
        "duplicate_referred",
        "customer " + referred + " was already referred earlier",
    )
    for enabled, column, name in (
        (settings.referral_dedup_ip, "ip", "duplicate_ip"),
        (settings.referral_dedup_device, "device_id", "duplicate_device"),
    ):
        if not enabled or column not in events.columns:
            continue
        values = events[column]
        first_row = events.groupby(column, dropna=True)["input_row"].transform("first")
        repeated = (values.notna() & values.duplicated(keep="first")).to_numpy()
        text = (
            f"{column} "
            + values.astype(str)
            + " already used by the referral in input row "
            + first_row.astype("Int64").astype(str)
        )
        reject(repeated, name, text)

    rejected_mask = reason != None  # noqa: E711
    accepted = events.loc[~rejected_mask].reset_index(drop=True)
    rejected = events.loc[rejected_mask].assign(reason=reason[rejected_mask], detail=detail[rejected_mask])
    return ReferralScreening(accepted=accepted, rejected=rejected.reset_index(drop=True))
