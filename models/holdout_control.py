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


def _day(as_of: Any) -> str:
    """The as_of day as YYYY-MM-DD ('' when unknown)."""
    if as_of is None:
        return ""
    import pandas as pd

    stamp = pd.Timestamp(as_of)
    return "" if pd.isna(stamp) else stamp.strftime("%Y-%m-%d")


def holdout_draws(customer_ids: Sequence[Any], as_of: Sequence[Any], seed: int) -> npt.NDArray[np.float64]:
    """A uniform number in [0, 1) per customer, the same for the same (seed, as_of day, customer_id).

    One BLAKE2b hash per customer (~1 us): cheap enough for a batch run, and no per-call setup, which is what a
    one-customer API answer pays for.
    """
    days: dict[Any, str] = {}
    out = np.empty(len(customer_ids), dtype=np.float64)
    for i, (customer, when) in enumerate(zip(customer_ids, as_of, strict=True)):
        day = days.get(when)
        if day is None:
            day = days[when] = _day(when)
        digest = hashlib.blake2b(f"{seed}|{day}|{customer}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / _TWO_64
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
