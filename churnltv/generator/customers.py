"""Latent customers: sign-ups, segments, accounts, channels, traits, their two lives, and the customers table.

``draw_customers`` draws every hidden trait and the churn / return / final-churn times (see the package docstring);
``point_process`` spreads a constant-rate Poisson process over each customer's alive segments (purchases, NPS
answers, tickets use it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from churnltv.generator.hazard import Hazard, sample_churn, sigmoid
from churnltv.generator.parameters import (
    BASE_HAZARD_PER_DAY,
    CHANNEL_PARAMETERS,
    CHANNELS,
    DECLINE_MULTIPLIER,
    HISTORY_DAYS,
    LOG_HAZARD_COEF,
    MODULE_POPULARITY,
    MODULES,
    REACTIVATION_MEAN_EXTRA_DAYS,
    REACTIVATION_MIN_GAP_DAYS,
    RETURN_HAZARD_FACTOR,
    SIGNUP_GROWTH,
    SIGNUP_WEEKDAY,
)
from churnltv.generator.timeline import (
    FloatArray,
    IntArray,
    make_ids,
    repeat_index,
    time_of_day,
    to_timestamp,
    with_time_of_day,
)


@dataclass
class LatentCustomers:
    """Customer-level arrays (days since the origin), sorted by sign-up."""

    s: FloatArray
    b2b: npt.NDArray[np.bool_]
    channel: IntArray
    account: IntArray
    eng: FloatArray
    breadth: IntArray
    aha: npt.NDArray[np.bool_]
    service: FloatArray
    disposition: FloatArray
    price: FloatArray
    subscribed: npt.NDArray[np.bool_]
    a0: FloatArray  # active days per day at full engagement
    session_mu: FloatArray  # extra events per session
    modules: npt.NDArray[np.int8]  # (n, 6) module preference order; the first `breadth` are used
    b: FloatArray
    g: FloatArray
    d: FloatArray
    k: FloatArray
    c1: FloatArray
    react_p: FloatArray
    r: FloatArray
    b2: FloatArray
    c2: FloatArray

    @property
    def life1_end(self) -> FloatArray:
        return np.minimum(self.c1, float(HISTORY_DAYS))

    @property
    def life2_end(self) -> FloatArray:
        return np.minimum(self.c2, float(HISTORY_DAYS))


def draw_customers(
    rng: np.random.Generator, n: int, origin_weekday: int, hazard_scale: float = 1.0, activity_scale: float = 1.0
) -> LatentCustomers:
    days = np.arange(HISTORY_DAYS)
    weights = np.exp(math.log(SIGNUP_GROWTH) * days / HISTORY_DAYS) * SIGNUP_WEEKDAY[(days + origin_weekday) % 7]
    s = np.sort(rng.choice(HISTORY_DAYS, size=n, p=weights / weights.sum()) + time_of_day(rng, n))

    b2b = rng.random(n) < 0.2
    b2c_p = np.array([c[1] for c in CHANNEL_PARAMETERS])
    b2b_p = np.array([c[2] for c in CHANNEL_PARAMETERS])
    channel = np.where(
        b2b,
        rng.choice(len(CHANNEL_PARAMETERS), size=n, p=b2b_p / b2b_p.sum()),
        rng.choice(len(CHANNEL_PARAMETERS), size=n, p=b2c_p / b2c_p.sum()),
    ).astype(np.int64)

    # B2B users join accounts of 1-20 users in sign-up order (a team joins together).
    account = np.full(n, -1, dtype=np.int64)
    b2b_idx = np.flatnonzero(b2b)
    sizes = np.minimum(rng.geometric(0.22, size=b2b_idx.size), 20)
    starts = np.cumsum(sizes) - sizes
    n_accounts = int(np.searchsorted(starts, b2b_idx.size))
    acct_of_b2b = np.repeat(np.arange(n_accounts), sizes[:n_accounts])[: b2b_idx.size]
    account[b2b_idx] = acct_of_b2b
    first_user = b2b_idx[starts[:n_accounts]]
    channel[b2b_idx] = channel[first_user][acct_of_b2b]  # the account's channel is its first user's
    acct_effect = np.zeros(n)
    acct_effect[b2b_idx] = rng.normal(0.0, 0.4, n_accounts)[acct_of_b2b]

    quality = np.array([c[4] for c in CHANNEL_PARAMETERS])[channel]
    eng = rng.normal(0.0, 1.0, n) + 0.5 * quality
    breadth = np.clip(1 + rng.binomial(5, sigmoid(0.9 * rng.normal(0.0, 1.0, n) + 0.4 * eng - 0.2)), 1, 6)
    aha = rng.random(n) < sigmoid(0.4 + 1.0 * rng.normal(0.0, 1.0, n) + 0.6 * eng + quality)
    service = rng.normal(0.0, 1.0, n)
    disposition = 0.3 * eng + math.sqrt(1 - 0.09) * rng.normal(0.0, 1.0, n)
    price = rng.normal(0.0, 1.0, n)
    subscribed = rng.random(n) < sigmoid(-1.25 + 0.6 * eng - 0.5 * price + 1.2 * b2b)

    # the knobs multiply last: x * 1.0 is exactly x, so the default output stays bit-identical
    a0 = np.minimum((0.04 + 0.08 * np.exp(0.5 * eng)) * np.where(b2b, 1.3, 1.0) * activity_scale, 0.9)
    session_mu = 1.5 * np.exp(0.25 * eng)
    keys = np.log(MODULE_POPULARITY)[None, :] + rng.gumbel(size=(n, len(MODULES)))
    modules = np.argsort(-keys, axis=1).astype(np.int8)

    c = LOG_HAZARD_COEF
    log_b = (
        math.log(BASE_HAZARD_PER_DAY)
        + c["engagement"] * eng
        + c["modules"] * (breadth - 3.5)
        + c["no_aha"] * (~aha)
        + c["service"] * service
        + c["disposition"] * disposition
        + c["price"] * price
        + c["b2b"] * b2b
        + c["subscribed"] * subscribed
        - quality
        + acct_effect
    )
    b = np.exp(log_b) * hazard_scale
    g = np.full(n, DECLINE_MULTIPLIER)
    d = s + rng.exponential(220.0, n)
    acct_onset = s[first_user] + rng.exponential(300.0, n_accounts)
    d[b2b_idx] = np.maximum(s[b2b_idx], acct_onset[acct_of_b2b] + rng.normal(0.0, 10.0, b2b_idx.size))
    k = np.exp(rng.normal(math.log(1 / 20), 0.5, n))

    react_p = sigmoid(-1.6 + 0.4 * disposition + 0.3 * eng)
    c1, r, b2, c2 = draw_lives(rng, s, Hazard(b, g, d, k), react_p)
    return LatentCustomers(
        s=s, b2b=b2b, channel=channel, account=account, eng=eng, breadth=breadth, aha=aha, service=service,
        disposition=disposition, price=price, subscribed=subscribed, a0=a0, session_mu=session_mu, modules=modules,
        b=b, g=g, d=d, k=k, c1=c1, react_p=react_p, r=r, b2=b2, c2=c2,
    )  # fmt: skip


def draw_lives(
    rng: np.random.Generator, s: FloatArray, hazard: Hazard, react_p: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Churn, return, return-life hazard and final churn (``c1, r, b2, c2``) of customers signed up at ``s``.

    Shared with mechanisms that give customers another life-1 hazard (``vocabulary``); the draw order is part of the
    output, so the default base is unchanged.
    """
    n = s.size
    c1 = sample_churn(s, float(HISTORY_DAYS), hazard, rng.exponential(1.0, n))
    returns = np.isfinite(c1) & (rng.random(n) < react_p)
    gap = REACTIVATION_MIN_GAP_DAYS + rng.exponential(REACTIVATION_MEAN_EXTRA_DAYS, n)
    r = np.where(returns, c1 + gap, np.inf)
    r = np.where(r < HISTORY_DAYS, r, np.inf)
    b2 = hazard.b * RETURN_HAZARD_FACTOR
    c2 = np.where(np.isfinite(r), r + rng.exponential(1.0, n) / b2, np.inf)
    c2 = np.where(c2 < HISTORY_DAYS, c2, np.inf)
    return c1, r, b2, c2


def _in_segments(
    rng: np.random.Generator,
    owner: IntArray,
    *,
    start1: FloatArray,
    len1: FloatArray,
    start2: FloatArray,
    len2: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Uniform times over each owner's alive segments [start1, +len1) U [start2, +len2).

    Returns the times and the bounds [lo, hi) of the segment each time falls in.
    """
    u = rng.random(owner.size) * (len1[owner] + len2[owner])
    first = u < len1[owner]
    lo = np.where(first, start1[owner], start2[owner])
    hi = np.where(first, start1[owner] + len1[owner], start2[owner] + len2[owner])
    t = np.where(first, start1[owner] + u, start2[owner] + (u - len1[owner]))
    return t, lo, hi


def point_process(
    rng: np.random.Generator, cu: LatentCustomers, idx: IntArray, rate: FloatArray, life2_factor: float = 1.0
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """A Poisson process with a constant per-customer ``rate`` over each customer's alive segments."""
    s, end1, r = cu.s[idx], cu.life1_end[idx], cu.r[idx]
    len1 = end1 - s
    len2 = np.where(np.isfinite(r), cu.life2_end[idx] - r, 0.0) * life2_factor
    counts = rng.poisson(rate * (len1 + len2))
    owner = repeat_index(counts)
    t, lo, hi = _in_segments(rng, owner, start1=s, len1=len1, start2=np.where(np.isfinite(r), r, 0.0), len2=len2)
    t = with_time_of_day(rng, t, lo, hi)
    return idx[owner], t, lo, hi


def customers_table(
    cu: LatentCustomers, ids: pd.Series, rng: np.random.Generator, origin: pd.Timestamp
) -> pd.DataFrame:
    n = cu.s.size
    account_ids = make_ids("A", int(cu.account.max()) + 1 if (cu.account >= 0).any() else 0, 6)
    account = pd.Series(pd.array([None] * n, dtype="str"))
    has = cu.account >= 0
    if has.any():
        account[has] = account_ids.to_numpy()[cu.account[has]]
    plans = np.array(["free", "starter", "growth"], dtype=object)
    company_size = rng.choice(plans, size=n, p=[0.2, 0.5, 0.3])
    company_size[~cu.b2b] = None
    return pd.DataFrame(
        {
            "customer_id": ids,
            "signup_at": to_timestamp(origin, cu.s),
            "acquisition_channel": np.array(CHANNELS)[cu.channel],
            "segment": np.where(cu.b2b, "b2b", "b2c"),
            "account_id": account,
            "attr_company_tier": pd.Series(company_size, dtype="str"),
        }
    ).astype({"segment": "str"})
