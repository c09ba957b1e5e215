"""Purchases: a BG/NBD-like Poisson process while alive, spend per purchase Gamma-Gamma.

Per customer a gamma-distributed purchase rate (Fader, Hardie & Lee 2005); spend ``nu_i ~ Gamma(q, gamma)``,
``z_ij ~ Gamma(p, nu_i)`` (Fader, Hardie & Lee 2005, "RFM and CLV").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from churnltv.generator.customers import LatentCustomers, point_process
from churnltv.generator.timeline import make_ids, to_timestamp


def transactions_table(
    rng: np.random.Generator, cu: LatentCustomers, ids: pd.Series, origin: pd.Timestamp
) -> pd.DataFrame:
    n = cu.s.size
    mean_rate = (1 / 40.0) * np.exp(0.3 * cu.eng - 0.3 * cu.price) * np.where(cu.b2b, 0.6, 1.0)
    shape = 0.7
    lam = rng.gamma(shape, mean_rate / shape)
    owner, t, _, _ = point_process(rng, cu, np.arange(n), lam)
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
            "occurred_at": to_timestamp(origin, t),
            "amount": amount,
            "order_id": make_ids("O", owner.size, 9),
        }
    )
