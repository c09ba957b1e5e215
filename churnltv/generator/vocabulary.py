"""A heterogeneous event vocabulary (an optional mechanism, ``churnltv generate --vocabulary hetero``).

The default base has three event types and a churn hazard driven by hidden traits whose decline lowers *all*
activity, so total counts carry most of the signal. This mechanism replaces that with a subscription social app:
eight event types whose per-customer rates drive churn with different signs and strengths, plus one ratio effect
(ads seen per post). Rates share an activity factor whose hazard loadings sum to zero, so a customer who does more
of everything is not safer: only *what* they do tells, and totals cannot carry the signal.

Per customer ``i`` and type ``j``: ``log rate_ij = log MEAN_RATE_j + ACTIVITY_LOADING a_i + SPREAD_j z_ij`` with
``a_i, z_ij ~ N(0, 1)``; the life-1 hazard is constant, ``log b_i = log BASE_HAZARD + sum_j EFFECT_j log(rate_ij /
MEAN_RATE_j) + RATIO_EFFECT log(ratio_i / mean ratio)``. With ``g = 0`` the core oracle
(``truth.oracle_churn_probability``) is exact for it: ``1 - exp(-b H)``. Events of each type are a Poisson process
with the customer's rate over their alive segments (the second life at ``SECOND_LIFE_ACTIVITY``); the true rates go
into the truth frame as ``rate_<type>`` and the vocabulary into ``GeneratedBase.metadata["vocabulary"]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from churnltv.generator.customers import draw_lives, point_process
from churnltv.generator.hazard import Hazard
from churnltv.generator.mechanisms import Mechanism, World
from churnltv.generator.parameters import SECOND_LIFE_ACTIVITY
from churnltv.generator.timeline import FloatArray, to_timestamp


@dataclass(frozen=True)
class EventKind:
    """One event type of the vocabulary and how it acts on churn."""

    name: str
    module: str
    mean_rate: float
    """Events per alive day of the typical customer."""
    spread: float
    """Standard deviation of the customer's own log rate around the shared activity factor."""
    effect: float
    """Change of log hazard per unit of log rate (negative: doing more of it keeps customers)."""
    value_scale: float | None = None
    """Log-normal median of the ``value`` payload; None leaves value empty, 0 writes a constant 1."""


VOCABULARY: tuple[EventKind, ...] = (
    EventKind("login", "home", 0.30, 0.5, 0.9),  # logging in without doing anything: lurkers leave
    EventKind("post", "feed", 0.08, 0.8, -0.9, value_scale=40.0),  # value: words
    EventKind("comment", "feed", 0.12, 0.7, -0.5),
    EventKind("like", "feed", 0.25, 0.6, 0.4),
    EventKind("view_ad", "ads", 0.20, 0.6, 0.0, value_scale=0.0),  # acts through the ratio below
    EventKind("message", "chat", 0.12, 0.8, -0.7, value_scale=60.0),  # value: characters
    EventKind("share", "feed", 0.03, 0.7, -0.4),
    EventKind("unfriend", "friends", 0.01, 0.9, 1.2),
)
"""The social app's events; the effects on the shared activity factor sum to zero (totals carry no signal)."""

ACTIVITY_LOADING = 0.6
RATIO = ("view_ad", "post")
"""Ads seen per post: the ratio effect (a customer who only consumes ads churns, whatever their volume)."""
RATIO_EFFECT = 1.0
BASE_HAZARD_PER_DAY = 0.001
"""The typical customer's churn hazard (3-4% of the subscribers churn in 30 days; the oracle ROC-AUC is ~0.87)."""
SUBSCRIBED_SHARE = 0.9
"""A subscription app: most customers subscribe (the contractual label needs a subscription)."""


class HeterogeneousVocabulary(Mechanism):
    """Eight event types with signed effects on a constant churn hazard, and a ratio effect (module docstring)."""

    name: ClassVar[str] = "vocabulary_hetero"

    def __init__(self) -> None:
        self._rates: dict[str, FloatArray] = {}

    def shape_customers(self, world: World) -> None:
        cu, rng = world.customers, world.rng
        n = cu.s.size
        activity = rng.normal(0.0, 1.0, n)
        log_b = np.full(n, math.log(BASE_HAZARD_PER_DAY))
        for kind in VOCABULARY:
            own = kind.spread * rng.normal(0.0, 1.0, n)
            log_rel = ACTIVITY_LOADING * activity + own
            self._rates[kind.name] = kind.mean_rate * np.exp(log_rel)
            log_b += kind.effect * log_rel
        top, bottom = RATIO
        log_b += RATIO_EFFECT * np.log(
            (self._rates[top] / self._rates[bottom]) / (_kind(top).mean_rate / _kind(bottom).mean_rate)
        )
        cu.b = np.exp(log_b)
        cu.g = np.zeros(n)  # constant hazard: the rates say everything, the core oracle stays exact
        cu.subscribed = rng.random(n) < SUBSCRIBED_SHARE
        cu.c1, cu.r, cu.b2, cu.c2 = draw_lives(rng, cu.s, Hazard(cu.b, cu.g, cu.d, cu.k), cu.react_p)
        world.truth_columns.update({f"rate_{name}": rate for name, rate in self._rates.items()})
        world.metadata["vocabulary"] = [kind.name for kind in VOCABULARY]

    def extend_tables(self, world: World) -> None:
        cu, rng = world.customers, world.rng
        idx = np.arange(cu.s.size)
        owners, times, types, modules, values = [], [], [], [], []
        for code, kind in enumerate(VOCABULARY):
            owner, t, _, _ = point_process(rng, cu, idx, self._rates[kind.name], SECOND_LIFE_ACTIVITY)
            owners.append(owner)
            times.append(t)
            types.append(np.full(owner.size, code, dtype=np.int8))
            modules.append(np.full(owner.size, _MODULES.index(kind.module), dtype=np.int8))
            if kind.value_scale is None:
                values.append(np.full(owner.size, np.nan, dtype=np.float32))
            elif kind.value_scale == 0.0:
                values.append(np.ones(owner.size, dtype=np.float32))
            else:
                values.append(np.round(rng.lognormal(math.log(kind.value_scale), 0.7, owner.size)).astype(np.float32))
        owner, t = np.concatenate(owners), np.concatenate(times)
        order = np.argsort(owner * 1024.0 + t, kind="stable")  # by customer, then time (like the core events)
        world.tables["events"] = pd.DataFrame(
            {
                "customer_id": pd.Categorical.from_codes(owner[order], categories=pd.Index(world.customer_ids)),
                "occurred_at": to_timestamp(world.origin, t[order]),
                "event_type": pd.Categorical.from_codes(
                    np.concatenate(types)[order], categories=pd.Index([k.name for k in VOCABULARY])
                ),
                "module": pd.Categorical.from_codes(np.concatenate(modules)[order], categories=pd.Index(_MODULES)),
                "value": np.concatenate(values)[order],
            },
            copy=False,
        )


_MODULES: list[str] = list(dict.fromkeys(kind.module for kind in VOCABULARY))


def _kind(name: str) -> EventKind:
    return next(kind for kind in VOCABULARY if kind.name == name)


VOCABULARIES: tuple[str, ...] = ("default", "hetero")
"""The values of ``churnltv generate --vocabulary``."""


def vocabulary_mechanisms(vocabulary: str) -> list[Mechanism]:
    """The mechanisms that give a base the named vocabulary (none for the default one)."""
    from features.errors import UserInputError

    if vocabulary not in VOCABULARIES:
        raise UserInputError(f"--vocabulary {vocabulary!r} is not one of {', '.join(VOCABULARIES)}")
    return [HeterogeneousVocabulary()] if vocabulary == "hetero" else []
