"""Product usage: sessions on active days (thinned by engagement, onboarding and weekday), events within them.

Active days form a Poisson process with intensity ``a0 e(t)``; each active day is a session of ``1 + Poisson`` events
across the customer's modules. Customers who reach the Aha moment show an onboarding burst of core actions.
Events are generated per chunk of customers (``chunk_events``) to bound memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from churnltv.generator.customers import LatentCustomers
from churnltv.generator.hazard import decline_at
from churnltv.generator.parameters import (
    DECLINE_ACTIVITY_DROP,
    EVENT_TYPES,
    MODULE_CATEGORIES,
    MODULES,
    SECOND_LIFE_ACTIVITY,
    WEEKDAY_B2B,
    WEEKDAY_B2C,
)
from churnltv.generator.timeline import FloatArray, IntArray, repeat_index, with_time_of_day


def _sessions(
    rng: np.random.Generator, cu: LatentCustomers, idx: IntArray, origin_weekday: int
) -> tuple[IntArray, FloatArray, FloatArray]:
    """Session start times (one per active day) for customers ``idx``: owner (local index), time, segment end.

    Candidate active days at full intensity are thinned by engagement (the decline), onboarding (slow
    start without the Aha moment) and weekday; the time of day then follows ``HOUR_WEIGHTS``.
    """
    s, a0 = cu.s[idx], cu.a0[idx]
    end1 = cu.life1_end[idx]
    r, end2 = cu.r[idx], cu.life2_end[idx]
    len1 = end1 - s
    len2 = np.where(np.isfinite(r), end2 - r, 0.0)
    own1, own2 = repeat_index(rng.poisson(a0 * len1)), repeat_index(rng.poisson(a0 * SECOND_LIFE_ACTIVITY * len2))
    t1 = s[own1] + rng.random(own1.size) * len1[own1]
    t2 = r[own2] + rng.random(own2.size) * len2[own2]
    gi1 = idx[own1]
    keep1 = 1.0 - DECLINE_ACTIVITY_DROP * decline_at(t1, cu.d[gi1], cu.k[gi1])
    early = (t1 - s[own1]) < 14.0
    keep1 = keep1 * np.where(early & ~cu.aha[gi1], 0.35, 1.0)
    owner = np.concatenate([own1, own2])
    t = np.concatenate([t1, t2])
    keep = np.concatenate([keep1, np.ones(own2.size)])
    weekday = (np.floor(t).astype(np.int64) + origin_weekday) % 7
    keep = keep * np.where(cu.b2b[idx[owner]], WEEKDAY_B2B[weekday], WEEKDAY_B2C[weekday])
    accepted = rng.random(t.size) < keep
    owner, t = owner[accepted], t[accepted]
    in_life1 = t < end1[owner]
    seg_lo = np.where(in_life1, s[owner], r[owner])
    seg_hi = np.where(in_life1, end1[owner], end2[owner])
    return owner, with_time_of_day(rng, t, seg_lo, seg_hi), seg_hi


def chunk_events(
    rng: np.random.Generator, cu: LatentCustomers, lo_c: int, hi_c: int, origin_weekday: int
) -> dict[str, npt.NDArray[Any]]:
    """Events for customers [lo_c, hi_c): sessions on active days, then events within sessions."""
    idx = np.arange(lo_c, hi_c)
    s, len1 = cu.s[idx], cu.life1_end[idx] - cu.s[idx]
    owner, session, seg_hi = _sessions(rng, cu, idx, origin_weekday)

    # Events within each session: a few minutes apart; the first is often a login.
    per_session = 1 + rng.poisson(cu.session_mu[idx[owner]])
    ev_session = repeat_index(per_session)
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
    burst_owner = aha_local[repeat_index(n_burst)]
    span = np.minimum(6.0, len1[burst_owner])
    burst_t = s[burst_owner] + rng.random(burst_owner.size) * span
    burst_t = with_time_of_day(rng, burst_t, s[burst_owner], s[burst_owner] + span)
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


def events_table(ev: dict[str, npt.NDArray[Any]], ids: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Categorical.from_codes(ev["customer"], categories=pd.Index(ids)),
            "occurred_at": ev["occurred_at"],
            "event_type": pd.Categorical.from_codes(ev["event_type"], categories=pd.Index(EVENT_TYPES)),
            "module": pd.Categorical.from_codes(ev["module"], categories=pd.Index(MODULE_CATEGORIES)),
            "value": ev["value"],
        },
        copy=False,
    )
