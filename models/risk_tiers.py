"""Churn early-warning tiers: the article's three rule triggers combined with the churn probability.

docs/DOMAIN.md section 3 (article 000) defines three warnings, each with an action:

* low    - key-behaviour frequency down >= 30% vs the prior window -> care email + feature tips;
* medium - two consecutive weeks below the Aha bar -> account manager call-back, tailored plan;
* high   - idle for a long time -> time-limited offer.

"Idle for a long time" is judged against the customer's own rhythm (docs/DOMAIN.md section 9: in a
low-frequency product long gaps are normal), by two triggers:

* ``idle_vs_own_rhythm``  idle_ratio = days idle / usual gap between active days >= k (3);
* ``low_p_alive``         the BTYD P(alive) (purchase rhythm) below a threshold (0.3).

Only a customer with *no* measurable rhythm (idle_ratio and P(alive) both missing: at most one
active day in the 180-day rhythm window and no purchase history) falls back to a number of days,
``idle_without_rhythm`` (idle >= 180 days by default: not one active day in that window). The
absolute ``idle_too_long`` backstop, which ignores the rhythm, is off unless ``high_idle_days`` is
set. So a yearly buyer idle for 200 days with P(alive) 0.8 is not high tier.

The calibrated churn probability adds a second opinion through ordered bands. The final tier is
``max(rule tier, probability tier)``: a rule can raise the tier of a customer the model is calm
about (rules see recent behaviour the model may not weight), and the model can raise the tier
of a customer no rule catches (it sees interactions of many signals). Neither lowers the other,
because a missed warning costs more than an extra care email. Every trigger that fired is
returned with its measured value and threshold so the CRM can show *why*.

A trigger whose input column is absent (e.g. no P(alive) because no transactions table) is not
evaluated; its name is listed in ``RiskTierResult.not_evaluated``. A NaN value (e.g.
core_trend_ratio when the prior window had no core action) does not fire.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.lapse import LapseRule
from models.lost_customers import lost_customers
from models.policy_frame import BoolArray, FloatArray, PolicyInputs, as_inputs, numeric_column
from models.policy_settings import PolicySettings, default_policy_settings

TIERS: tuple[str, ...] = ("none", "low", "medium", "high")
_TIER_NAMES = np.array(TIERS, dtype=object)  # level -> name, looked up by indexing
NONE, LOW, MEDIUM, HIGH = 0, 1, 2, 3
# comparisons at a threshold taken from a setting (e.g. 1 - 0.30) must not flip on float rounding
_EPS = 1e-9

Trigger = dict[str, object]


@dataclass(frozen=True)
class RiskTierResult:
    """Per-customer tiers (arrays aligned with the input frame's rows)."""

    level: npt.NDArray[np.int8]
    tier: npt.NDArray[np.object_]
    triggers: list[list[Trigger]]
    action_key: npt.NDArray[np.object_]
    action_text: npt.NDArray[np.object_]
    not_evaluated: tuple[str, ...]
    lost: BoolArray | None = None
    """Already gone by their own rhythm (``models.lost_customers``): no tier, the win-back action."""


@dataclass(frozen=True)
class _Fired:
    name: str
    level: int
    column: str
    operator: str
    threshold: float
    mask: BoolArray
    measured: FloatArray


# NaN never fires; ``assign_risk_tiers`` silences numpy's NaN comparison warnings once for all rules
def _at_most(values: FloatArray, threshold: float) -> BoolArray:
    return values <= threshold + _EPS


def _at_least(values: FloatArray, threshold: float) -> BoolArray:
    return values >= threshold - _EPS


def _below(values: FloatArray, threshold: float) -> BoolArray:
    return values < threshold - _EPS


_COMPARE = {"<=": _at_most, ">=": _at_least, "<": _below}


def _idle_days(frame: PolicyInputs) -> FloatArray | None:
    """Days since the last event; a customer with no event at all has been idle since signup."""
    since = numeric_column(frame, "days_since_last_event")
    if since is None:
        return None
    tenure = numeric_column(frame, "tenure_days")
    if tenure is None:
        return since
    return np.where(np.isnan(since), tenure, since)


def _without_rhythm(
    idle: FloatArray, idle_ratio: FloatArray | None, p_alive: FloatArray | None, purchases: FloatArray | None
) -> FloatArray:
    """Idle days of customers whose rhythm is unknown (no idle_ratio, no P(alive)); NaN (never fires) elsewhere.

    A never-buyer's P(alive) is BG/NBD's prior (1.0 at frequency = recency = T = 0), not a measured rhythm, so
    where ``btyd_frequency`` is present and missing (no purchase history) P(alive) does not count as known.
    """
    if p_alive is not None and purchases is not None:
        p_alive = np.where(np.isnan(purchases), np.nan, p_alive)
    known = np.zeros(idle.shape, dtype=bool)
    for rhythm in (idle_ratio, p_alive):
        if rhythm is not None:
            known |= ~np.isnan(rhythm)
    return np.where(known, np.nan, idle)


def _rule_triggers(frame: PolicyInputs, settings: PolicySettings) -> tuple[list[_Fired], list[str]]:
    fired: list[_Fired] = []
    skipped: list[str] = []

    def add(name: str, level: int, column: str, op: str, threshold: float, *, values: FloatArray | None) -> None:
        if values is None:
            skipped.append(name)
            return
        fired.append(_Fired(name, level, column, op, threshold, _COMPARE[op](values, threshold), values))

    add(
        "core_frequency_drop",
        LOW,
        "core_trend_ratio",
        "<=",
        settings.low_trend_ratio_max,
        values=numeric_column(frame, "core_trend_ratio"),
    )
    add(
        "below_aha_bar",
        MEDIUM,
        "weeks_below_aha_bar",
        ">=",
        float(settings.medium_weeks_below_aha),
        values=numeric_column(frame, "weeks_below_aha_bar"),
    )
    add(
        "idle_vs_own_rhythm",
        HIGH,
        "idle_ratio",
        ">=",
        settings.high_idle_ratio,
        values=numeric_column(frame, "idle_ratio"),
    )
    p_alive = numeric_column(frame, "p_alive")
    add("low_p_alive", HIGH, "p_alive", "<", settings.high_p_alive_below, values=p_alive)
    idle = _idle_days(frame)
    if settings.high_idle_days_without_rhythm is not None:
        add(
            "idle_without_rhythm",
            HIGH,
            "days_since_last_event",
            ">=",
            settings.high_idle_days_without_rhythm,
            values=None
            if idle is None
            else _without_rhythm(
                idle, numeric_column(frame, "idle_ratio"), p_alive, numeric_column(frame, "btyd_frequency")
            ),
        )
    if settings.high_idle_days is not None:  # the absolute backstop, off by default (docs/DOMAIN.md section 9)
        add("idle_too_long", HIGH, "days_since_last_event", ">=", settings.high_idle_days, values=idle)
    return fired, skipped


def _probability_trigger(probability: FloatArray, settings: PolicySettings) -> tuple[npt.NDArray[np.int8], FloatArray]:
    """Band level per customer (0 when NaN or below band_low) and the threshold it crossed."""
    bands = np.array([settings.band_low, settings.band_medium, settings.band_high])
    level = np.searchsorted(bands, probability + _EPS, side="right").astype(np.int8)
    level[np.isnan(probability)] = NONE
    thresholds = np.concatenate([[np.nan], bands])[level]
    return level, thresholds


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building millions of small acyclic dicts/lists.

    Allocation-triggered collections rescan every young container again and again: on 1M rows
    this cost ~1 s of ~3 s. Nothing built here can form a cycle, so pausing loses nothing.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _group_by_row(rows: list[npt.NDArray[np.intp]], dicts: list[Trigger], n: int) -> list[list[Trigger]]:
    """Per-row lists of fired triggers, in rule order within a row.

    Built by one stable sort over (row, trigger) pairs and list slicing: a Python loop appending
    to 1M per-row lists costs several seconds on a large batch, this well under one.
    """
    if not dicts:
        return [[] for _ in range(n)]
    all_rows = np.concatenate(rows)
    order = np.argsort(all_rows, kind="stable")
    ordered = [dicts[i] for i in order.tolist()]
    counts = np.bincount(all_rows, minlength=n)
    ends = np.cumsum(counts)
    starts = ends - counts
    return [ordered[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]


def _collect(
    frame: PolicyInputs, settings: PolicySettings, fired: list[_Fired], skipped: list[str]
) -> tuple[npt.NDArray[np.int8], list[npt.NDArray[np.intp]], list[Trigger]]:
    """Tier level per row plus (rows, trigger dicts) for every rule and the probability band."""
    n = frame.n
    level = np.zeros(n, dtype=np.int8)
    fired_rows: list[npt.NDArray[np.intp]] = []
    fired_dicts: list[Trigger] = []
    for f in fired:
        np.maximum(level, np.int8(f.level), out=level, where=f.mask)
        rows = f.mask.nonzero()[0]
        fired_rows.append(rows)
        name, tier, column, op, threshold = f.name, TIERS[f.level], f.column, f.operator, f.threshold
        fired_dicts.extend(
            {"trigger": name, "tier": tier, "column": column, "value": v, "operator": op, "threshold": threshold}
            for v in f.measured[rows].tolist()
        )

    probability = numeric_column(frame, "churn_probability")
    if probability is None:
        skipped.append("churn_probability_band")
    else:
        band_level, band_threshold = _probability_trigger(probability, settings)
        level = np.maximum(level, band_level).astype(np.int8)
        rows = (band_level > NONE).nonzero()[0]
        fired_rows.append(rows)
        fired_dicts.extend(
            {
                "trigger": "churn_probability_band",
                "tier": TIERS[b],
                "column": "churn_probability",
                "value": v,
                "operator": ">=",
                "threshold": t,
            }
            for b, v, t in zip(
                band_level[rows].tolist(), probability[rows].tolist(), band_threshold[rows].tolist(), strict=True
            )
        )

    return level, fired_rows, fired_dicts


def assign_risk_tiers(
    frame: pd.DataFrame | PolicyInputs, settings: PolicySettings | None = None, lapse_rule: LapseRule | None = None
) -> RiskTierResult:
    """Tier, fired triggers and recommended action for every row of ``frame``.

    Reads (all optional): core_trend_ratio, weeks_below_aha_bar, idle_ratio, p_alive,
    days_since_last_event (+ tenure_days), churn_probability. A rule switched off in the settings
    (``high_idle_days`` / ``high_idle_days_without_rhythm`` None) is neither run nor listed.

    Tiers apply to the active base: a customer already gone by their own rhythm (``models.lost_customers``, with
    ``lapse_rule`` or the feature settings' rule) gets tier ``none`` and the win-back action
    (``action_lost_key``); the triggers that fired are still listed, as the evidence.
    """
    frame = as_inputs(frame)
    settings = settings or default_policy_settings()
    n = len(frame)
    with np.errstate(invalid="ignore"), _no_cyclic_gc():
        fired, skipped = _rule_triggers(frame, settings)
        level, fired_rows, fired_dicts = _collect(frame, settings, fired, skipped)
        triggers = _group_by_row(fired_rows, fired_dicts, n)
    lost = lost_customers(frame, settings, lapse_rule)
    level = np.where(lost.lost, np.int8(NONE), level).astype(np.int8)

    actions = np.array(
        [
            [settings.action_none_key, settings.action_low_key, settings.action_medium_key, settings.action_high_key],
            [
                settings.action_none_text,
                settings.action_low_text,
                settings.action_medium_text,
                settings.action_high_text,
            ],
        ],
        dtype=object,
    )[:, level]
    if lost.lost.any():
        actions[0][lost.lost] = settings.action_lost_key
        actions[1][lost.lost] = settings.action_lost_text
    return RiskTierResult(
        level=level,
        tier=_TIER_NAMES[level],
        triggers=triggers,
        action_key=actions[0],
        action_text=actions[1],
        not_evaluated=tuple(skipped) + lost.not_evaluated,
        lost=lost.lost,
    )
