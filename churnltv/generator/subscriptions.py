"""Subscriptions: a plan started soon after sign-up (and maybe again after a return), ended at churn."""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnltv.generator.customers import LatentCustomers
from churnltv.generator.hazard import sigmoid
from churnltv.generator.parameters import HISTORY_DAYS
from churnltv.generator.timeline import to_timestamp, with_time_of_day


def subscriptions_table(
    rng: np.random.Generator, cu: LatentCustomers, ids: pd.Series, origin: pd.Timestamp
) -> pd.DataFrame:
    n = cu.s.size
    start = cu.s + rng.exponential(8.0, n)
    first = cu.subscribed & (start < cu.life1_end)
    resub_start = cu.r + rng.exponential(5.0, n)
    second = cu.subscribed & np.isfinite(cu.r) & (rng.random(n) < 0.5) & (resub_start < cu.life2_end)
    upgrade = rng.random(n) < sigmoid(-0.3 * cu.price + 0.3 * cu.eng - 0.4)
    plan = np.where(cu.b2b, "team", np.where(upgrade, "plus", "basic"))
    mrr = np.where(cu.b2b, 29.0, np.where(upgrade, 19.99, 9.99))
    who = np.concatenate([np.flatnonzero(first), np.flatnonzero(second)])
    started = np.concatenate([start[first], resub_start[second]])
    ended = np.concatenate([cu.c1[first], cu.c2[second]])
    ended = np.where(ended < HISTORY_DAYS, ended, np.inf)
    alive_from = np.concatenate([cu.s[first], cu.r[second]])
    started = with_time_of_day(rng, started, alive_from, np.minimum(ended, float(HISTORY_DAYS)))
    order = np.lexsort((started, who))
    who, started, ended = who[order], started[order], ended[order]
    return pd.DataFrame(
        {
            "customer_id": ids.to_numpy()[who],
            "plan": plan[who],
            "mrr": mrr[who],
            "started_at": to_timestamp(origin, started),
            "ended_at": to_timestamp(origin, ended),
        }
    ).astype({"customer_id": "str", "plan": "str"})
