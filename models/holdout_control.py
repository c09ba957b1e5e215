"""Control groups that keep measuring: a random share of every action's targets is held out (not contacted).

Each customer draws a uniform number from a keyed hash of (``holdout_seed``, the run's ``as_of`` date,
``customer_id``) and is held out when it falls below ``holdout_share`` and their action is not the policy's
``no_action``: about that share of every action's targets, with no state and no coordination between batch parts,
worker processes, Spark tasks or API requests. A run is keyed by its as_of date, so resuming or re-running the same
cutoff holds out the same customers (and the API's live answer agrees with the batch run of that day), and the next
run draws a new group. Importing the next ``campaign_contacts`` (the held-out as ``arm = control``) closes the loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

_TWO_64 = float(2**64)


def _hash_key(seed: int, as_of: Any) -> str:
    """The 16-character key of pandas' SipHash for one (seed, as_of day)."""
    import pandas as pd

    day = "" if as_of is None or pd.isna(as_of) else pd.Timestamp(as_of).strftime("%Y-%m-%d")
    return hashlib.blake2b(f"{seed}|{day}".encode(), digest_size=8).hexdigest()


def holdout_draws(customer_ids: Sequence[Any], as_of: Sequence[Any], seed: int) -> npt.NDArray[np.float64]:
    """A uniform number in [0, 1) per customer, the same for the same (seed, as_of day, customer_id)."""
    import pandas as pd

    ids = np.array(["" if c is None else str(c) for c in customer_ids], dtype=object)
    out = np.empty(ids.size, dtype=np.float64)
    days = pd.Series(list(as_of), dtype=object)
    for key, rows in days.groupby(days.map(lambda a: _hash_key(seed, a)), sort=False).indices.items():
        hashed = pd.util.hash_array(ids[rows], hash_key=str(key), categorize=False)
        out[rows] = hashed.astype(np.float64) / _TWO_64
    return out


def holdout_control(
    customer_ids: Sequence[Any],
    as_of: Sequence[Any],
    actions: Sequence[Any] | npt.NDArray[Any],
    *,
    share: float,
    seed: int,
    no_action: str,
) -> npt.NDArray[np.bool_]:
    """True for the customers held out of their action this run (never for ``no_action``)."""
    targeted = np.array([a is not None and a != no_action for a in actions], dtype=bool)
    if share <= 0 or not targeted.any():
        return np.zeros(targeted.size, dtype=bool)
    return targeted & (holdout_draws(customer_ids, as_of, seed) < share)
