"""What customers say: NPS answers (disposition and the current decline) and support tickets (service experience).

Ticket satisfaction and resolution time follow the customer's hidden service experience; a few tickets stay open.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from churnltv.generator.customers import LatentCustomers, point_process
from churnltv.generator.hazard import decline_at
from churnltv.generator.parameters import HISTORY_DAYS
from churnltv.generator.timeline import to_timestamp


def nps_table(rng: np.random.Generator, cu: LatentCustomers, ids: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    n = cu.s.size
    surveyed = np.flatnonzero(rng.random(n) < 0.45)
    owner, t, _, _ = point_process(rng, cu, surveyed, np.full(surveyed.size, 1 / 110.0))
    in_life2 = np.isfinite(cu.r[owner]) & (t >= cu.r[owner])
    decline = np.where(in_life2, 0.3, decline_at(t, cu.d[owner], cu.k[owner]))
    raw = 7.2 + 1.7 * cu.disposition[owner] - 3.5 * decline + rng.normal(0.0, 1.1, owner.size)
    score = np.clip(np.round(raw), 0, 10).astype(np.int64)
    order = np.lexsort((t, owner))
    return pd.DataFrame(
        {
            "customer_id": ids.to_numpy()[owner[order]],
            "answered_at": to_timestamp(origin, t[order]),
            "score": score[order],
        }
    ).astype({"customer_id": "str"})


def tickets_table(rng: np.random.Generator, cu: LatentCustomers, ids: pd.Series, origin: pd.Timestamp) -> pd.DataFrame:
    n = cu.s.size
    rate = (1 / 160.0) * np.where(cu.b2b, 1.6, 1.0) * np.exp(-0.25 * cu.service)
    owner, t, _, _ = point_process(rng, cu, np.arange(n), rate)
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
            "opened_at": to_timestamp(origin, t[order]),
            "resolved_at": to_timestamp(origin, resolved[order]),
            "satisfaction": satisfaction[order],
        }
    ).astype({"customer_id": "str"})
