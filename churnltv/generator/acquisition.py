"""Acquisition: monthly spend per channel (CAC times sign-ups) and referrals (with fraud rings).

Promoters refer new customers; a few referrers are fraud rings whose referred sign-ups share one IP and one device.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnltv.generator.customers import LatentCustomers
from churnltv.generator.parameters import CHANNEL_PARAMETERS, CHANNELS
from churnltv.generator.timeline import to_timestamp


def spend_table(rng: np.random.Generator, cu: LatentCustomers, origin: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    months = pd.date_range(origin.to_period("M").to_timestamp(), end, freq="MS", inclusive="left")
    months = months[months < end]
    signup_months = pd.DatetimeIndex(to_timestamp(origin, cu.s)).to_period("M").to_timestamp()
    month_pos = np.searchsorted(months.to_numpy(), signup_months.to_numpy(), side="right") - 1
    counts = np.bincount(cu.channel * len(months) + month_pos, minlength=len(CHANNEL_PARAMETERS) * len(months))
    cac = np.repeat(np.array([c[3] for c in CHANNEL_PARAMETERS]), len(months))
    spend = np.round(counts * cac * rng.lognormal(0.0, 0.15, counts.size), 2)
    return pd.DataFrame(
        {
            "channel": np.repeat(np.array(CHANNELS), len(months)),
            "month": np.tile(months.to_numpy().astype("datetime64[s]"), len(CHANNEL_PARAMETERS)),
            "spend": spend,
        }
    ).astype({"channel": "str"})


def referrals_table(
    rng: np.random.Generator, cu: LatentCustomers, ids: pd.Series, origin: pd.Timestamp
) -> pd.DataFrame:
    referred = np.flatnonzero(np.array(CHANNELS)[cu.channel] == "referral")
    promoters = np.flatnonzero(cu.disposition > 0.8)  # sorted by sign-up because customers are
    before = np.searchsorted(cu.s[promoters], cu.s[referred], side="left")
    has = before > 0
    referred, before = referred[has], before[has]
    referrer = promoters[np.floor(rng.random(referred.size) * before).astype(np.int64)]
    ip_num = rng.integers(1 << 24, 224 << 24, referred.size)
    device = rng.integers(0, 1 << 62, referred.size)
    # A few referrers are fraud rings: all their referred sign-ups come from one IP and one device.
    fraud_referrers = np.unique(referrer[rng.random(referred.size) < 0.05])
    fraud = np.isin(referrer, fraud_referrers)
    ring_ip = {int(r): int(i) for r, i in zip(referrer[fraud][::-1], ip_num[fraud][::-1], strict=True)}
    ring_dev = {int(r): int(d) for r, d in zip(referrer[fraud][::-1], device[fraud][::-1], strict=True)}
    ip_num[fraud] = [ring_ip[int(r)] for r in referrer[fraud]]
    device[fraud] = [ring_dev[int(r)] for r in referrer[fraud]]
    ip = pd.Series([f"{(x >> 24) & 255}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}" for x in ip_num], dtype="str")
    dev = pd.Series([f"{x:016x}" for x in device], dtype="str")
    return pd.DataFrame(
        {
            "referrer_id": ids.to_numpy()[referrer],
            "referred_id": ids.to_numpy()[referred],
            "occurred_at": to_timestamp(origin, cu.s[referred]),
            "ip": ip,
            "device_id": dev,
            "reward_type": rng.choice(np.array(["cash", "points", "two_sided"]), size=referred.size, p=[0.3, 0.3, 0.4]),
        }
    ).astype({"referrer_id": "str", "referred_id": "str", "reward_type": "str"})
