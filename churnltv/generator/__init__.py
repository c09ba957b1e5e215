"""A realistic synthetic customer base in contract form, with its hidden ground truth.

Why a simulator with a *latent* state: the churn model has to learn from behaviour, so churn here
is driven by hidden traits and a hidden engagement trajectory, never by the features we compute.
The data only reveals that state through what customers do (activity declines, few modules, no
Aha moment, bad support tickets, low NPS). The ground truth (each customer's churn time and the
parameters of their true hazard) goes into a separate frame (``GeneratedBase.truth``) that training
never reads; ``oracle_churn_probability`` turns it into the best achievable churn score so tests can
compare a model with it.

The model (time in days; ``s`` = signup, ``c`` = churn, ``r`` = return):

* Life 1, ``[s, c)``: engagement ``e(t) = 1 - 0.85 D(t)`` with a decline ``D(t) = 1 - exp(-k (t - d)+)``
  starting at a customer-specific onset ``d`` (shared by the users of a B2B account) with rate ``k``.
  Churn hazard ``h(t) = b (1 + g D(t))``; ``log b`` is linear in the latent traits (engagement level,
  module breadth, Aha, service experience, disposition, price sensitivity, channel quality, segment,
  account effect). The cumulative hazard has a closed form (``_Hazard.cumulative``), so churn times are
  drawn by inverting it (bisection) and the oracle is exact.
* Activity: active days form a Poisson process with intensity ``a0 e(t)`` (thinning), each active day a
  session of ``1 + Poisson`` events across the customer's modules; customers who reach the Aha moment
  show an onboarding burst of core actions in their first days, the others start slowly.
* After churn, a customer returns with probability ``p`` after a dormant gap ``g0 + Exp(mean m)`` days
  (a reactivation), then lives a second life with constant hazard ``b2`` and no further return.
* Purchases: a BG/NBD-like Poisson process while alive with a gamma-distributed rate per customer
  (Fader, Hardie & Lee 2005), spend per purchase Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV"):
  ``nu_i ~ Gamma(q, gamma)``, ``z_ij ~ Gamma(p, nu_i)``.
* NPS answers depend on disposition and the current decline, ticket satisfaction and resolution time
  on service experience; promoters refer new customers (with some IP/device duplicates, i.e. fraud).

Everything is vectorised numpy over customer chunks (no per-row Python loops); the same seed gives
identical frames. Timestamps are naive UTC with realistic times of day and second resolution; no row is
dated at or after ``end``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ProgressCallback = Callable[[str, float], None]

CORE_EVENT_TYPE = "core_action"
"""The event type the default feature settings treat as a core action."""

MODULES: tuple[str, ...] = ("reports", "dashboards", "alerts", "integrations", "automation", "sharing")
"""The six product modules core actions happen in (feature penetration counts these)."""

HOME_MODULE = "home"
"""Module of login events: the landing page, not a product module."""

EVENT_TYPES: tuple[str, ...] = (CORE_EVENT_TYPE, "login", "page_view")
_MODULE_CATEGORIES: tuple[str, ...] = (*MODULES, HOME_MODULE)
_MODULE_POPULARITY = np.array([0.30, 0.25, 0.15, 0.12, 0.10, 0.08])

# channel, share of B2C sign-ups, share of B2B sign-ups, CAC per new customer, latent quality (log-hazard bonus)
_CHANNELS: tuple[tuple[str, float, float, float, float], ...] = (
    ("organic_search", 0.30, 0.20, 14.0, 0.25),
    ("paid_search", 0.22, 0.25, 55.0, 0.00),
    ("paid_social", 0.23, 0.05, 38.0, -0.35),
    ("referral", 0.10, 0.10, 20.0, 0.35),
    ("content", 0.12, 0.15, 28.0, 0.15),
    ("partners", 0.03, 0.25, 95.0, 0.10),
)
CHANNELS: tuple[str, ...] = tuple(c[0] for c in _CHANNELS)

# Relative activity by hour of day (UTC) and weekday (Monday first); B2B users work on weekdays.
_HOUR_WEIGHTS = np.array(
    [
        0.5,
        0.3,
        0.2,
        0.15,
        0.15,
        0.3,
        0.8,
        1.6,
        2.6,
        3.4,
        3.8,
        3.7,
        3.2,
        3.3,
        3.5,
        3.4,
        3.2,
        3.0,
        2.8,
        3.0,
        3.3,
        3.0,
        2.0,
        1.0,
    ]
)
_WEEKDAY_B2C = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.85, 0.85])
_WEEKDAY_B2B = np.array([1.0, 1.0, 1.0, 1.0, 0.9, 0.35, 0.3])
_SIGNUP_WEEKDAY = np.array([1.1, 1.1, 1.05, 1.0, 0.95, 0.8, 0.75])

HISTORY_DAYS = 730
"""Sign-ups are spread over this many days before ``end``."""
SIGNUP_GROWTH = 3.0
"""Daily sign-ups at the end of the history are this many times those at its start."""

# Hazard (per day) and its drivers; see the module docstring.
BASE_HAZARD_PER_DAY = 0.0009
DECLINE_MULTIPLIER = 16.0
DECLINE_ACTIVITY_DROP = 0.85
"""At full decline a customer is active on this much fewer days (engagement e = 1 - 0.85 D)."""
_LOG_HAZARD_COEF = {
    "engagement": -0.45,
    "modules": -0.25,  # per module above 3.5
    "no_aha": 0.8,
    "service": -0.25,
    "disposition": -0.3,
    "price": 0.15,
    "b2b": -0.35,
    "subscribed": -0.2,
}
RETURN_HAZARD_FACTOR = 1.5
REACTIVATION_MIN_GAP_DAYS = 60.0
REACTIVATION_MEAN_EXTRA_DAYS = 75.0
_SECOND_LIFE_ACTIVITY = 0.6
_CHUNK = 65_536
_DAY_SECONDS = 86_400


@dataclass(frozen=True)
class GeneratedBase:
    """A generated base: contract tables, the hidden truth, and the extraction time."""

    tables: dict[str, pd.DataFrame]
    """Contract tables: customers, events, transactions, subscriptions, nps_responses, support_tickets,
    acquisition_spend, referrals."""
    truth: pd.DataFrame
    """One row per customer: true churn/return times and the hazard parameters; never read by training."""
    end: pd.Timestamp
    """Extraction time: no row is dated at or after it."""


# --------------------------------------------------------------------------------------------- hazard


def _decline_integral(x: FloatArray, k: FloatArray) -> FloatArray:
    """Integral of D over [onset, onset + x]: x - (1 - exp(-k x)) / k for x > 0, else 0."""
    xp = np.maximum(x, 0.0)
    out: FloatArray = xp + np.expm1(-k * xp) / k
    return out


@dataclass(frozen=True)
class _Hazard:
    """Parameters of the life-1 hazard h(t) = b (1 + g D(t)), D(t) = 1 - exp(-k (t - d)+), per customer."""

    b: FloatArray  # base hazard per day
    g: FloatArray  # hazard multiplier at full decline
    d: FloatArray  # decline onset (same time origin as t)
    k: FloatArray  # decline rate per day

    def cumulative(self, t0: FloatArray, t1: FloatArray) -> FloatArray:
        """Closed form of the integral of h from t0 to t1."""
        decline = _decline_integral(t1 - self.d, self.k) - _decline_integral(t0 - self.d, self.k)
        out: FloatArray = self.b * ((t1 - t0) + self.g * decline)
        return out

    def subset(self, mask: npt.NDArray[np.bool_]) -> _Hazard:
        return _Hazard(self.b[mask], self.g[mask], self.d[mask], self.k[mask])


def _decline(t: FloatArray, d: FloatArray, k: FloatArray) -> FloatArray:
    out: FloatArray = -np.expm1(-k * np.maximum(t - d, 0.0))
    return out


def _sample_churn(s: FloatArray, limit: float, hazard: _Hazard, e: FloatArray) -> FloatArray:
    """Invert the cumulative hazard: the time t with H(s, t) = e (Exp(1) draws); inf when after ``limit``."""
    out = np.full(s.shape, np.inf)
    churns = hazard.cumulative(s, np.full(s.shape, limit)) >= e
    sub, s_c, e_c = hazard.subset(churns), s[churns], e[churns]
    lo, hi = s_c.copy(), np.minimum(s_c + e_c / sub.b, limit)  # H(s, t) >= b (t - s)
    for _ in range(48):  # 730 days / 2**48: far below a second
        mid = 0.5 * (lo + hi)
        above = sub.cumulative(s_c, mid) >= e_c
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    out[churns] = hi
    return out


def _sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out


# --------------------------------------------------------------------------------------------- helpers


def _ids(prefix: str, n: int, width: int) -> pd.Series:
    """Zero-padded string ids ("C0000001") built in Arrow (fast for millions)."""
    nums = pa.array(np.arange(1, n + 1, dtype=np.int64)).cast(pa.string())
    text = pc.binary_join_element_wise(prefix, pc.utf8_lpad(nums, width, "0"), "")
    return pd.Series(text.to_pandas(), dtype="str")


def _to_timestamp(origin: pd.Timestamp, days: FloatArray) -> npt.NDArray[np.datetime64]:
    """Days since ``origin`` -> datetime64[us], floored to the second (so t < limit stays true); NaT for inf/nan."""
    finite = np.isfinite(days)
    secs = np.floor(np.where(finite, days, 0.0) * _DAY_SECONDS).astype(np.int64)
    us = secs * 1_000_000 + origin.value // 1000
    out: npt.NDArray[np.datetime64] = us.astype("datetime64[us]")
    out[~finite] = np.datetime64("NaT")
    return out


def _time_of_day(rng: np.random.Generator, n: int) -> FloatArray:
    hours = rng.choice(24, size=n, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    out: FloatArray = (hours + rng.random(n)) / 24.0
    return out


def _with_time_of_day(rng: np.random.Generator, t: FloatArray, lo: FloatArray, hi: FloatArray) -> FloatArray:
    """Move each time to a realistic time of day on the same date when that stays inside [lo, hi)."""
    moved = np.floor(t) + _time_of_day(rng, t.size)
    out: FloatArray = np.where((moved >= lo) & (moved < hi), moved, t)
    return out


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


def _repeat(counts: IntArray) -> IntArray:
    out: IntArray = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    return out


# --------------------------------------------------------------------------------------------- generate


@dataclass
class _Customers:
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


def _draw_customers(
    rng: np.random.Generator, n: int, origin_weekday: int, hazard_scale: float = 1.0, activity_scale: float = 1.0
) -> _Customers:
    days = np.arange(HISTORY_DAYS)
    weights = np.exp(math.log(SIGNUP_GROWTH) * days / HISTORY_DAYS) * _SIGNUP_WEEKDAY[(days + origin_weekday) % 7]
    s = np.sort(rng.choice(HISTORY_DAYS, size=n, p=weights / weights.sum()) + _time_of_day(rng, n))

    b2b = rng.random(n) < 0.2
    b2c_p = np.array([c[1] for c in _CHANNELS])
    b2b_p = np.array([c[2] for c in _CHANNELS])
    channel = np.where(
        b2b,
        rng.choice(len(_CHANNELS), size=n, p=b2b_p / b2b_p.sum()),
        rng.choice(len(_CHANNELS), size=n, p=b2c_p / b2c_p.sum()),
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

    quality = np.array([c[4] for c in _CHANNELS])[channel]
    eng = rng.normal(0.0, 1.0, n) + 0.5 * quality
    breadth = np.clip(1 + rng.binomial(5, _sigmoid(0.9 * rng.normal(0.0, 1.0, n) + 0.4 * eng - 0.2)), 1, 6)
    aha = rng.random(n) < _sigmoid(0.4 + 1.0 * rng.normal(0.0, 1.0, n) + 0.6 * eng + quality)
    service = rng.normal(0.0, 1.0, n)
    disposition = 0.3 * eng + math.sqrt(1 - 0.09) * rng.normal(0.0, 1.0, n)
    price = rng.normal(0.0, 1.0, n)
    subscribed = rng.random(n) < _sigmoid(-1.25 + 0.6 * eng - 0.5 * price + 1.2 * b2b)

    # the knobs multiply last: x * 1.0 is exactly x, so the default output stays bit-identical
    a0 = np.minimum((0.04 + 0.08 * np.exp(0.5 * eng)) * np.where(b2b, 1.3, 1.0) * activity_scale, 0.9)
    session_mu = 1.5 * np.exp(0.25 * eng)
    keys = np.log(_MODULE_POPULARITY)[None, :] + rng.gumbel(size=(n, len(MODULES)))
    modules = np.argsort(-keys, axis=1).astype(np.int8)

    c = _LOG_HAZARD_COEF
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

    c1 = _sample_churn(s, float(HISTORY_DAYS), _Hazard(b, g, d, k), rng.exponential(1.0, n))
    react_p = _sigmoid(-1.6 + 0.4 * disposition + 0.3 * eng)
    returns = np.isfinite(c1) & (rng.random(n) < react_p)
    gap = REACTIVATION_MIN_GAP_DAYS + rng.exponential(REACTIVATION_MEAN_EXTRA_DAYS, n)
    r = np.where(returns, c1 + gap, np.inf)
    r = np.where(r < HISTORY_DAYS, r, np.inf)
    b2 = b * RETURN_HAZARD_FACTOR
    c2 = np.where(np.isfinite(r), r + rng.exponential(1.0, n) / b2, np.inf)
    c2 = np.where(c2 < HISTORY_DAYS, c2, np.inf)
    return _Customers(
        s=s, b2b=b2b, channel=channel, account=account, eng=eng, breadth=breadth, aha=aha, service=service,
        disposition=disposition, price=price, subscribed=subscribed, a0=a0, session_mu=session_mu, modules=modules,
        b=b, g=g, d=d, k=k, c1=c1, react_p=react_p, r=r, b2=b2, c2=c2,
    )  # fmt: skip


def _sessions(
    rng: np.random.Generator, cu: _Customers, idx: IntArray, origin_weekday: int
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Session start times (one per active day) for customers ``idx``: owner (local index), time, segment end.

    Candidate active days at full intensity are thinned by engagement (the decline), onboarding (slow
    start without the Aha moment) and weekday; the time of day then follows ``_HOUR_WEIGHTS``.
    """
    s, a0 = cu.s[idx], cu.a0[idx]
    end1 = cu.life1_end[idx]
    r, end2 = cu.r[idx], cu.life2_end[idx]
    len1 = end1 - s
    len2 = np.where(np.isfinite(r), end2 - r, 0.0)
    own1, own2 = _repeat(rng.poisson(a0 * len1)), _repeat(rng.poisson(a0 * _SECOND_LIFE_ACTIVITY * len2))
    t1 = s[own1] + rng.random(own1.size) * len1[own1]
    t2 = r[own2] + rng.random(own2.size) * len2[own2]
    gi1 = idx[own1]
    keep1 = 1.0 - DECLINE_ACTIVITY_DROP * _decline(t1, cu.d[gi1], cu.k[gi1])
    early = (t1 - s[own1]) < 14.0
    keep1 = keep1 * np.where(early & ~cu.aha[gi1], 0.35, 1.0)
    owner = np.concatenate([own1, own2])
    t = np.concatenate([t1, t2])
    keep = np.concatenate([keep1, np.ones(own2.size)])
    weekday = (np.floor(t).astype(np.int64) + origin_weekday) % 7
    keep = keep * np.where(cu.b2b[idx[owner]], _WEEKDAY_B2B[weekday], _WEEKDAY_B2C[weekday])
    accepted = rng.random(t.size) < keep
    owner, t = owner[accepted], t[accepted]
    in_life1 = t < end1[owner]
    seg_lo = np.where(in_life1, s[owner], r[owner])
    seg_hi = np.where(in_life1, end1[owner], end2[owner])
    return owner, _with_time_of_day(rng, t, seg_lo, seg_hi), seg_hi


def _chunk_events(
    rng: np.random.Generator, cu: _Customers, lo_c: int, hi_c: int, origin_weekday: int
) -> dict[str, npt.NDArray[Any]]:
    """Events for customers [lo_c, hi_c): sessions on active days, then events within sessions."""
    idx = np.arange(lo_c, hi_c)
    s, len1 = cu.s[idx], cu.life1_end[idx] - cu.s[idx]
    owner, session, seg_hi = _sessions(rng, cu, idx, origin_weekday)

    # Events within each session: a few minutes apart; the first is often a login.
    per_session = 1 + rng.poisson(cu.session_mu[idx[owner]])
    ev_session = _repeat(per_session)
    gaps = rng.exponential(3.0 / 1440.0, ev_session.size)
    first = np.ones(ev_session.size, dtype=bool)
    first[1:] = ev_session[1:] != ev_session[:-1]
    gaps[first] = 0.0
    csum = np.cumsum(gaps)
    start_of = np.cumsum(per_session) - per_session
    ev_t = session[ev_session] + (csum - csum[start_of][ev_session])
    ev_owner = owner[ev_session]
    u = rng.random(ev_session.size)
    etype = np.where(first & (u < 0.55), 1, np.where(rng.random(ev_session.size) < 0.62, 0, 2)).astype(np.int8)
    ok = ev_t < seg_hi[ev_session]
    ev_t, ev_owner, etype = ev_t[ok], ev_owner[ok], etype[ok]

    # Customers who reach the Aha moment show a burst of core actions in their first days.
    aha_local = np.flatnonzero(cu.aha[idx] & (len1 > 0))
    n_burst = 3 + rng.poisson(1.5, aha_local.size)
    burst_owner = aha_local[_repeat(n_burst)]
    span = np.minimum(6.0, len1[burst_owner])
    burst_t = s[burst_owner] + rng.random(burst_owner.size) * span
    burst_t = _with_time_of_day(rng, burst_t, s[burst_owner], s[burst_owner] + span)
    ev_t = np.concatenate([ev_t, burst_t])
    ev_owner = np.concatenate([ev_owner, burst_owner])
    etype = np.concatenate([etype, np.zeros(burst_owner.size, dtype=np.int8)])

    # Modules: core actions use the customer's own modules; page views mostly; logins land on home.
    gi = idx[ev_owner]
    pick = (rng.random(gi.size, dtype=np.float32) * cu.breadth[gi]).astype(np.int64)
    module = cu.modules[gi, pick]
    browse = np.flatnonzero((etype == 2) & (rng.random(gi.size, dtype=np.float32) < 0.2))
    module[browse] = rng.integers(0, len(MODULES), browse.size, dtype=np.int8)
    module[etype == 1] = len(MODULES)
    value = np.full(gi.size, np.nan, dtype=np.float32)
    core = np.flatnonzero(etype == 0)
    value[core] = np.round(rng.lognormal(1.0, 0.8, core.size), 1)
    # Sort by customer, then time: one float key (owner * 1024 + days) sorts faster than lexsort.
    order = np.argsort(ev_owner * 1024.0 + ev_t, kind="stable")
    return {
        "customer": gi[order].astype(np.int32),
        "t": ev_t[order],
        "event_type": etype[order],
        "module": module[order],
        "value": value[order],
    }


def _point_process(
    rng: np.random.Generator, cu: _Customers, idx: IntArray, rate: FloatArray, life2_factor: float = 1.0
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """A Poisson process with a constant per-customer ``rate`` over each customer's alive segments."""
    s, end1, r = cu.s[idx], cu.life1_end[idx], cu.r[idx]
    len1 = end1 - s
    len2 = np.where(np.isfinite(r), cu.life2_end[idx] - r, 0.0) * life2_factor
    counts = rng.poisson(rate * (len1 + len2))
    owner = _repeat(counts)
    t, lo, hi = _in_segments(rng, owner, start1=s, len1=len1, start2=np.where(np.isfinite(r), r, 0.0), len2=len2)
    t = _with_time_of_day(rng, t, lo, hi)
    return idx[owner], t, lo, hi


def generate(
    n_customers: int,
    seed: int = 7,
    end: str | pd.Timestamp = "2026-06-30",
    *,
    on_progress: ProgressCallback | None = None,
    hazard_scale: float = 1.0,
    activity_scale: float = 1.0,
) -> GeneratedBase:
    """Generate a base of ``n_customers`` customers whose data ends just before ``end``.

    Same ``seed`` and arguments -> identical frames. ``on_progress(step, fraction)`` is called as the
    work advances (the CLI shows it as a progress bar).

    Two knobs reshape the base for robustness tests (the defaults, 1.0, leave the output unchanged):
    ``hazard_scale`` multiplies every customer's base churn hazard ``b`` (and so the return-life hazard), and
    ``activity_scale`` multiplies the active-day rate ``a0`` (capped at 0.9 a day). A low hazard with more
    activity gives a rarely-churning base (about 2% in 30 days), a high hazard a fast-churning one.
    """
    from features.errors import UserInputError

    if n_customers < 1:
        raise UserInputError(f"--customers must be at least 1 (got {n_customers})")
    for name, value in (("hazard_scale", hazard_scale), ("activity_scale", activity_scale)):
        if not (math.isfinite(value) and value > 0):
            raise UserInputError(f"{name} must be a positive number (got {value})")
    end_ts = pd.Timestamp(end)
    if end_ts.tzinfo is not None:
        end_ts = end_ts.tz_convert("UTC").tz_localize(None)
    origin = end_ts - pd.Timedelta(days=HISTORY_DAYS)
    origin_weekday = int(origin.day_of_week)
    report = on_progress or (lambda step, fraction: None)

    rng = np.random.default_rng([seed, 0])
    report("customers", 0.0)
    cu = _draw_customers(rng, n_customers, origin_weekday, hazard_scale, activity_scale)

    n_chunks = max(1, math.ceil(n_customers / _CHUNK))
    parts: list[dict[str, npt.NDArray[Any]]] = []
    for i in range(n_chunks):
        crng = np.random.default_rng([seed, 1, i])
        parts.append(_chunk_events(crng, cu, i * _CHUNK, min(n_customers, (i + 1) * _CHUNK), origin_weekday))
        parts[-1]["occurred_at"] = _to_timestamp(origin, parts[-1].pop("t"))  # small temporaries per chunk
        report("events", (i + 1) / n_chunks)
    # concatenate column by column, releasing each column's chunks as soon as it is joined (peak RSS)
    ev = {key: np.concatenate([p.pop(key) for p in parts]) for key in list(parts[0])}
    del parts

    orng = np.random.default_rng([seed, 2])
    report("transactions, subscriptions, NPS, tickets, referrals", 0.0)
    customer_ids = _ids("C", n_customers, 7)
    tables = {
        "customers": _customers_table(cu, customer_ids, orng, origin),
        "events": _events_table(ev, customer_ids, origin),
    }
    del ev
    tables["transactions"] = _transactions_table(orng, cu, customer_ids, origin)
    tables["subscriptions"] = _subscriptions_table(orng, cu, customer_ids, origin)
    tables["nps_responses"] = _nps_table(orng, cu, customer_ids, origin)
    tables["support_tickets"] = _tickets_table(orng, cu, customer_ids, origin)
    tables["acquisition_spend"] = _spend_table(orng, cu, origin, end_ts)
    tables["referrals"] = _referrals_table(orng, cu, customer_ids, origin)
    truth = _truth_table(cu, customer_ids, origin)
    report("done", 1.0)
    return GeneratedBase(tables=tables, truth=truth, end=end_ts)


# --------------------------------------------------------------------------------------------- tables


def _customers_table(cu: _Customers, ids: pd.Series, rng: np.random.Generator, origin: pd.Timestamp) -> pd.DataFrame:
    n = cu.s.size
    account_ids = _ids("A", int(cu.account.max()) + 1 if (cu.account >= 0).any() else 0, 6)
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
            "signup_at": _to_timestamp(origin, cu.s),
            "acquisition_channel": np.array(CHANNELS)[cu.channel],
            "segment": np.where(cu.b2b, "b2b", "b2c"),
            "account_id": account,
            "attr_company_tier": pd.Series(company_size, dtype="str"),
        }
    ).astype({"segment": "str"})


def _events_table(ev: dict[str, npt.NDArray[Any]], ids: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(ev["customer"], categories=pd.Index(ids)),
            "occurred_at": ev["occurred_at"],
            "event_type": pd.Categorical.from_codes(ev["event_type"], categories=pd.Index(EVENT_TYPES)),
            "module": pd.Categorical.from_codes(ev["module"], categories=pd.Index(_MODULE_CATEGORIES)),
            "value": ev["value"],
        },
        copy=False,
    )


def _transactions_table(rng: np.random.Generator, cu: _Customers, ids: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    n = cu.s.size
    mean_rate = (1 / 40.0) * np.exp(0.3 * cu.eng - 0.3 * cu.price) * np.where(cu.b2b, 0.6, 1.0)
    shape = 0.7
    lam = rng.gamma(shape, mean_rate / shape)
    owner, t, _, _ = _point_process(rng, cu, np.arange(n), lam)
    # Gamma-Gamma spend: nu_i ~ Gamma(q, rate gamma), z_ij ~ Gamma(p, rate nu_i); E[z] = p * gamma / (q - 1).
    p, q = 4.0, 3.0
    gamma_gg = np.where(cu.b2b, 60.0, 20.0) * np.exp(-0.15 * cu.price)
    nu = rng.gamma(q, 1.0 / gamma_gg)
    amount = np.round(rng.gamma(p, 1.0 / nu[owner]), 2)
    order = np.lexsort((owner, t))
    owner, t, amount = owner[order], t[order], amount[order]
    return pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(owner.astype(np.int32), categories=pd.Index(ids)),
            "occurred_at": _to_timestamp(origin, t),
            "amount": amount,
            "order_id": _ids("O", owner.size, 9),
        }
    )


def _subscriptions_table(
    rng: np.random.Generator, cu: _Customers, ids: pd.Series, origin: pd.Timestamp
) -> pd.DataFrame:
    n = cu.s.size
    start = cu.s + rng.exponential(8.0, n)
    first = cu.subscribed & (start < cu.life1_end)
    resub_start = cu.r + rng.exponential(5.0, n)
    second = cu.subscribed & np.isfinite(cu.r) & (rng.random(n) < 0.5) & (resub_start < cu.life2_end)
    upgrade = rng.random(n) < _sigmoid(-0.3 * cu.price + 0.3 * cu.eng - 0.4)
    plan = np.where(cu.b2b, "team", np.where(upgrade, "plus", "basic"))
    mrr = np.where(cu.b2b, 29.0, np.where(upgrade, 19.99, 9.99))
    who = np.concatenate([np.flatnonzero(first), np.flatnonzero(second)])
    started = np.concatenate([start[first], resub_start[second]])
    ended = np.concatenate([cu.c1[first], cu.c2[second]])
    ended = np.where(ended < HISTORY_DAYS, ended, np.inf)
    alive_from = np.concatenate([cu.s[first], cu.r[second]])
    started = _with_time_of_day(rng, started, alive_from, np.minimum(ended, float(HISTORY_DAYS)))
    order = np.lexsort((started, who))
    who, started, ended = who[order], started[order], ended[order]
    return pd.DataFrame(
        {
            "customer_id": ids.to_numpy()[who],
            "plan": plan[who],
            "mrr": mrr[who],
            "started_at": _to_timestamp(origin, started),
            "ended_at": _to_timestamp(origin, ended),
        }
    ).astype({"customer_id": "str", "plan": "str"})


def _nps_table(rng: np.random.Generator, cu: _Customers, ids: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    n = cu.s.size
    surveyed = np.flatnonzero(rng.random(n) < 0.45)
    owner, t, _, _ = _point_process(rng, cu, surveyed, np.full(surveyed.size, 1 / 110.0))
    in_life2 = np.isfinite(cu.r[owner]) & (t >= cu.r[owner])
    decline = np.where(in_life2, 0.3, _decline(t, cu.d[owner], cu.k[owner]))
    raw = 7.2 + 1.7 * cu.disposition[owner] - 3.5 * decline + rng.normal(0.0, 1.1, owner.size)
    score = np.clip(np.round(raw), 0, 10).astype(np.int64)
    order = np.lexsort((t, owner))
    return pd.DataFrame(
        {
            "customer_id": ids.to_numpy()[owner[order]],
            "answered_at": _to_timestamp(origin, t[order]),
            "score": score[order],
        }
    ).astype({"customer_id": "str"})


def _tickets_table(rng: np.random.Generator, cu: _Customers, ids: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    n = cu.s.size
    rate = (1 / 160.0) * np.where(cu.b2b, 1.6, 1.0) * np.exp(-0.25 * cu.service)
    owner, t, _, _ = _point_process(rng, cu, np.arange(n), rate)
    hours = rng.lognormal(math.log(6.0) - 0.5 * cu.service[owner], 1.0)
    resolved = t + hours / 24.0
    stale = rng.random(owner.size) < 0.03
    resolved = np.where(stale | (resolved >= HISTORY_DAYS), np.inf, resolved)
    rated = np.isfinite(resolved) & (rng.random(owner.size) < 0.75)
    raw = 3.5 + 1.0 * cu.service[owner] - 0.25 * np.log(hours / 6.0) + rng.normal(0.0, 0.7, owner.size)
    satisfaction = pd.array(np.clip(np.round(raw), 1, 5).astype(np.int64), dtype="Int64")
    satisfaction[~rated] = pd.NA
    order = np.lexsort((t, owner))
    return pd.DataFrame(
        {
            "customer_id": ids.to_numpy()[owner[order]],
            "opened_at": _to_timestamp(origin, t[order]),
            "resolved_at": _to_timestamp(origin, resolved[order]),
            "satisfaction": satisfaction[order],
        }
    ).astype({"customer_id": "str"})


def _spend_table(rng: np.random.Generator, cu: _Customers, origin: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    months = pd.date_range(origin.to_period("M").to_timestamp(), end, freq="MS", inclusive="left")
    months = months[months < end]
    signup_months = pd.DatetimeIndex(_to_timestamp(origin, cu.s)).to_period("M").to_timestamp()
    month_pos = np.searchsorted(months.to_numpy(), signup_months.to_numpy(), side="right") - 1
    counts = np.bincount(cu.channel * len(months) + month_pos, minlength=len(_CHANNELS) * len(months))
    cac = np.repeat(np.array([c[3] for c in _CHANNELS]), len(months))
    spend = np.round(counts * cac * rng.lognormal(0.0, 0.15, counts.size), 2)
    return pd.DataFrame(
        {
            "channel": np.repeat(np.array(CHANNELS), len(months)),
            "month": np.tile(months.to_numpy().astype("datetime64[s]"), len(_CHANNELS)),
            "spend": spend,
        }
    ).astype({"channel": "str"})


def _referrals_table(rng: np.random.Generator, cu: _Customers, ids: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
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
            "occurred_at": _to_timestamp(origin, cu.s[referred]),
            "ip": ip,
            "device_id": dev,
            "reward_type": rng.choice(np.array(["cash", "points", "two_sided"]), size=referred.size, p=[0.3, 0.3, 0.4]),
        }
    ).astype({"referrer_id": "str", "referred_id": "str", "reward_type": "str"})


def _truth_table(cu: _Customers, ids: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    censored = float(HISTORY_DAYS)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "signup_at": _to_timestamp(origin, cu.s),
            "churn_at": _to_timestamp(origin, np.where(cu.c1 < censored, cu.c1, np.inf)),
            "reactivated_at": _to_timestamp(origin, np.where(cu.r < censored, cu.r, np.inf)),
            "final_churn_at": _to_timestamp(origin, np.where(cu.c2 < censored, cu.c2, np.inf)),
            "base_hazard_per_day": cu.b,
            "decline_multiplier": cu.g,
            "decline_onset_at": _to_timestamp(origin, cu.d),
            "decline_rate_per_day": cu.k,
            "return_hazard_per_day": cu.b2,
            "reactivation_prob": cu.react_p,
            "reactivation_min_gap_days": np.full(cu.s.size, REACTIVATION_MIN_GAP_DAYS),
            "reactivation_mean_extra_days": np.full(cu.s.size, REACTIVATION_MEAN_EXTRA_DAYS),
            "segment": np.where(cu.b2b, "b2b", "b2c"),
            "acquisition_channel": np.array(CHANNELS)[cu.channel],
            "engagement": cu.eng,
            "active_days_per_day": cu.a0,
            "modules": cu.breadth.astype(np.int64),
            "aha": cu.aha,
            "service_experience": cu.service,
            "disposition": cu.disposition,
            "price_sensitivity": cu.price,
            "subscribed": cu.subscribed,
        }
    ).astype({"segment": "str", "acquisition_channel": "str"})


# --------------------------------------------------------------------------------------------- oracle


def _days_from(ts: pd.Series, as_of: pd.Timestamp) -> FloatArray:
    """(ts - as_of) in days; +inf where NaT."""
    delta = (pd.to_datetime(ts) - as_of).dt.total_seconds().to_numpy(dtype=np.float64, na_value=np.nan) / _DAY_SECONDS
    out: FloatArray = np.where(np.isnan(delta), np.inf, delta)
    return out


def oracle_churn_probability(
    truth: pd.DataFrame,
    as_of: pd.Timestamp,
    horizon_days: int,
    customer_ids: Sequence[str] | None = None,
) -> pd.Series:
    """The best achievable churn score: P(churn in [as_of, as_of + H)) from the true hazard.

    For a customer alive at ``as_of`` this is ``1 - exp(-(Lambda(as_of + H) - Lambda(as_of)))`` with the
    closed-form cumulative hazard of the customer's current life (exact, no simulation).
    Customers in a churned state at ``as_of`` get the probability that they stay gone through the
    horizon (1 minus the chance their dormant gap ends inside it, given it has not ended yet): that is
    what an activity-based churn label measures for them. A customer who churned for the second time is
    gone for good (1.0). Customers who sign up at or after ``as_of`` get NaN.

    Returns a float Series indexed by customer_id (``customer_ids`` order when given).
    """
    as_of = pd.Timestamp(as_of)
    h = float(horizon_days)
    frame = truth
    if customer_ids is not None:
        frame = truth.set_index("customer_id").loc[list(customer_ids)].reset_index()
    s = _days_from(frame["signup_at"], as_of)
    c1 = _days_from(frame["churn_at"], as_of)
    r = _days_from(frame["reactivated_at"], as_of)
    c2 = _days_from(frame["final_churn_at"], as_of)
    d = _days_from(frame["decline_onset_at"], as_of)
    b = frame["base_hazard_per_day"].to_numpy(dtype=np.float64)
    g = frame["decline_multiplier"].to_numpy(dtype=np.float64)
    k = frame["decline_rate_per_day"].to_numpy(dtype=np.float64)
    b2 = frame["return_hazard_per_day"].to_numpy(dtype=np.float64)
    p = frame["reactivation_prob"].to_numpy(dtype=np.float64)
    g0 = frame["reactivation_min_gap_days"].to_numpy(dtype=np.float64)
    m = frame["reactivation_mean_extra_days"].to_numpy(dtype=np.float64)
    zeros = np.zeros(len(frame))

    alive1 = (s < 0) & (c1 > 0)
    dormant = (c1 <= 0) & (r > 0)
    alive2 = (r <= 0) & (c2 > 0)
    gone = c2 <= 0
    with np.errstate(invalid="ignore", over="ignore"):
        life1 = -np.expm1(-_Hazard(b, g, d, k).cumulative(zeros, zeros + h))
        life2 = -np.expm1(-b2 * h)
        # dormant: return by x days after churn with probability p * F(x), F(x) = 1 - exp(-(x - g0)+ / m)
        x1, x2 = -c1, -c1 + h
        f1 = -np.expm1(-np.maximum(x1 - g0, 0.0) / m)
        f2 = -np.expm1(-np.maximum(x2 - g0, 0.0) / m)
        stay_gone = 1.0 - p * (f2 - f1) / (1.0 - p * f1)
    prob = np.full(len(frame), np.nan)
    prob[alive1] = life1[alive1]
    prob[dormant] = stay_gone[dormant]
    prob[alive2] = life2[alive2]
    prob[gone] = 1.0
    prob[s >= 0] = np.nan
    return pd.Series(
        prob, index=pd.Index(frame["customer_id"].to_numpy(), name="customer_id"), name="oracle_churn_probability"
    )


def truth_path_for(out: Path) -> Path:
    """Where the ground truth of a dataset written to ``out`` lives: ``<stem>.truth.parquet`` next to it."""
    out = Path(out)
    return out.with_name(f"{out.stem}.truth.parquet")
