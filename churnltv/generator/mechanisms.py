"""The extension point of the generator: optional mechanisms that add tables, columns and truth to a base.

The core simulation (customers, usage, purchases, subscriptions, feedback, acquisition) always runs and, for a given
seed, always produces the same frames. A *mechanism* is an optional extra behaviour layered on it, written as its
own module in this package, for example:

* a heterogeneous event vocabulary (``vocabulary``: other event types and modules, so the features cannot rely on
  the demo's ``core_action``): it gives customers per-type rates and a hazard driven by them in ``shape_customers``,
  replaces the ``events`` table in ``extend_tables`` and records the vocabulary in ``world.metadata``;
* simulated retention campaigns with control groups and true individual effects: it picks targets and a random
  control group in ``shape_customers``, changes the treated customers' hazard after the send date (re-drawing their
  churn times with ``hazard.Hazard`` / ``hazard.sample_churn``) and records each customer's true effect in
  ``world.truth_columns``; in ``extend_tables`` it adds the campaign tables.

A mechanism subclasses ``Mechanism`` and overrides one or both hooks. ``generate(..., mechanisms=[...])`` calls every
mechanism's ``shape_customers`` after the latent customers are drawn and before any activity is simulated, and every
``extend_tables`` after all core tables and the truth frame are built, in the order given. Each mechanism draws only
from its own random stream (``world.rng``, seeded from the base seed and the mechanism's ``name``), so adding one
never changes the core tables' draws nor another mechanism's; without mechanisms the output is unchanged.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from churnltv.generator.customers import LatentCustomers


@dataclass
class World:
    """What a mechanism sees of the base being generated, and the places where it may add to it.

    Times in ``customers`` are float days since ``origin`` (``timeline.to_timestamp`` converts them).
    """

    customers: LatentCustomers
    """The latent customers, sorted by sign-up (``shape_customers`` may change their arrays in place)."""
    customer_ids: pd.Series
    """The customers' ids, in the order of ``customers``."""
    origin: pd.Timestamp
    """Day 0 of the simulation: ``end - HISTORY_DAYS``."""
    end: pd.Timestamp
    """Extraction time: a mechanism must not date any row at or after it."""
    rng: np.random.Generator
    """This mechanism's own random stream."""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    """The contract tables: empty in ``shape_customers``, complete in ``extend_tables`` (add or replace freely)."""
    truth_columns: dict[str, Any] = field(default_factory=dict)
    """Extra truth columns, one value per customer in ``customers`` order; appended to ``GeneratedBase.truth``."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """What a caller must know to use the base (e.g. the event vocabulary); returned as ``GeneratedBase.metadata``."""


class Mechanism:
    """An optional mechanism of the generator; override either hook (both do nothing by default)."""

    name: ClassVar[str] = ""
    """A unique, stable name: it seeds the mechanism's random stream and keys its metadata."""

    def shape_customers(self, world: World) -> None:
        """Before activity is simulated: may change ``world.customers`` (hazards, churn and return times)."""

    def extend_tables(self, world: World) -> None:
        """After the core tables and the truth are built: may add tables or columns and truth columns."""


def mechanism_rng(seed: int, name: str) -> np.random.Generator:
    """The random stream of mechanism ``name`` (independent of the core streams ``[seed, 0..2]``)."""
    return np.random.default_rng([seed, 3, zlib.crc32(name.encode("utf-8"))])
