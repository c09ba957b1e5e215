"""``generate``: draw the latent customers, simulate every table in a fixed order of random streams, add the truth.

Random streams: ``[seed, 0]`` customers, ``[seed, 1, chunk]`` events per chunk of customers, ``[seed, 2]`` every
other table, and one stream per optional mechanism (``mechanisms``). The order of draws is part of the output: the
same seed and arguments give identical frames.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from churnltv.generator.acquisition import referrals_table, spend_table
from churnltv.generator.customers import customers_table, draw_customers
from churnltv.generator.events import chunk_events, events_table
from churnltv.generator.feedback import nps_table, tickets_table
from churnltv.generator.mechanisms import Mechanism, World, mechanism_rng
from churnltv.generator.parameters import CHUNK_CUSTOMERS, HISTORY_DAYS
from churnltv.generator.subscriptions import subscriptions_table
from churnltv.generator.timeline import make_ids, to_timestamp
from churnltv.generator.transactions import transactions_table
from churnltv.generator.truth import truth_table

ProgressCallback = Callable[[str, float], None]


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
    metadata: dict[str, Any] = field(default_factory=dict)
    """What the optional mechanisms record for the caller (empty without mechanisms)."""


def generate(
    n_customers: int,
    seed: int = 7,
    end: str | pd.Timestamp = "2026-06-30",
    *,
    on_progress: ProgressCallback | None = None,
    hazard_scale: float = 1.0,
    activity_scale: float = 1.0,
    mechanisms: Sequence[Mechanism] = (),
) -> GeneratedBase:
    """Generate a base of ``n_customers`` customers whose data ends just before ``end``.

    Same ``seed`` and arguments -> identical frames. ``on_progress(step, fraction)`` is called as the
    work advances (the CLI shows it as a progress bar).

    Two knobs reshape the base for robustness tests (the defaults, 1.0, leave the output unchanged):
    ``hazard_scale`` multiplies every customer's base churn hazard ``b`` (and so the return-life hazard), and
    ``activity_scale`` multiplies the active-day rate ``a0`` (capped at 0.9 a day). A low hazard with more
    activity gives a rarely-churning base (about 2% in 30 days), a high hazard a fast-churning one.

    ``mechanisms`` are optional extra behaviours (``churnltv.generator.mechanisms``), applied in order with their
    own random streams; without them the output is the core base.
    """
    from features.errors import UserInputError

    if n_customers < 1:
        raise UserInputError(f"--customers must be at least 1 (got {n_customers})")
    for name, value in (("hazard_scale", hazard_scale), ("activity_scale", activity_scale)):
        if not (math.isfinite(value) and value > 0):
            raise UserInputError(f"{name} must be a positive number (got {value})")
    names = [m.name for m in mechanisms]
    if any(not n for n in names) or len(set(names)) != len(names):
        raise UserInputError(f"generator mechanisms need distinct, non-empty names (got {names})")
    end_ts = pd.Timestamp(end)
    if end_ts.tzinfo is not None:
        end_ts = end_ts.tz_convert("UTC").tz_localize(None)
    origin = end_ts - pd.Timedelta(days=HISTORY_DAYS)
    origin_weekday = int(origin.day_of_week)
    report = on_progress or (lambda step, fraction: None)

    rng = np.random.default_rng([seed, 0])
    report("customers", 0.0)
    cu = draw_customers(rng, n_customers, origin_weekday, hazard_scale, activity_scale)
    customer_ids = make_ids("C", n_customers, 7)
    world = World(customers=cu, customer_ids=customer_ids, origin=origin, end=end_ts, rng=rng)
    worlds = [replace(world, rng=mechanism_rng(seed, m.name)) for m in mechanisms]  # shared tables/truth/metadata
    for mechanism, own in zip(mechanisms, worlds, strict=True):
        report(f"mechanism {mechanism.name}: customers", 0.0)
        mechanism.shape_customers(own)

    n_chunks = max(1, math.ceil(n_customers / CHUNK_CUSTOMERS))
    parts: list[dict[str, npt.NDArray[Any]]] = []
    for i in range(n_chunks):
        crng = np.random.default_rng([seed, 1, i])
        parts.append(
            chunk_events(crng, cu, i * CHUNK_CUSTOMERS, min(n_customers, (i + 1) * CHUNK_CUSTOMERS), origin_weekday)
        )
        parts[-1]["occurred_at"] = to_timestamp(origin, parts[-1].pop("t"))  # small temporaries per chunk
        report("events", (i + 1) / n_chunks)
    # concatenate column by column, releasing each column's chunks as soon as it is joined (peak RSS)
    ev = {key: np.concatenate([p.pop(key) for p in parts]) for key in list(parts[0])}
    del parts

    orng = np.random.default_rng([seed, 2])
    report("transactions, subscriptions, NPS, tickets, referrals", 0.0)
    tables = world.tables
    tables |= {
        "customers": customers_table(cu, customer_ids, orng, origin),
        "events": events_table(ev, customer_ids, origin),
    }
    del ev
    tables["transactions"] = transactions_table(orng, cu, customer_ids, origin)
    tables["subscriptions"] = subscriptions_table(orng, cu, customer_ids, origin)
    tables["nps_responses"] = nps_table(orng, cu, customer_ids, origin)
    tables["support_tickets"] = tickets_table(orng, cu, customer_ids, origin)
    tables["acquisition_spend"] = spend_table(orng, cu, origin, end_ts)
    tables["referrals"] = referrals_table(orng, cu, customer_ids, origin)
    truth = truth_table(cu, customer_ids, origin)
    for mechanism, own in zip(mechanisms, worlds, strict=True):
        report(f"mechanism {mechanism.name}: tables", 0.0)
        mechanism.extend_tables(own)
    if world.truth_columns:
        truth = truth.assign(**world.truth_columns)
    report("done", 1.0)
    return GeneratedBase(tables=tables, truth=truth, end=end_ts, metadata=world.metadata)
