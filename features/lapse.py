"""Lapse: is a customer already gone by their own rhythm at a cutoff?

A customer who uses the product daily and has been silent for five weeks is gone; one who comes back every
six weeks and has been silent for five is not. So the rule compares the idle time at the cutoff with the
customer's *own* usual gap between active days (the ``usual_gap_days`` feature: the median gap between
distinct active days over the last 180 days), not with one fixed lookback for everybody:

    threshold = clip(multiplier x usual_gap_days, min_idle_days, max_idle_days)   when the usual gap is known
    threshold = fallback_idle_days                                                 when it is not
    lapsed    = idle_days > threshold

* ``min_idle_days`` keeps a very regular customer (usual gap 1 day) from counting as gone after a week off;
* ``max_idle_days`` makes a year of silence "gone" whatever the rhythm was;
* too little history: with fewer than two active days in the rhythm window there is no gap to learn a rhythm
  from, and the documented fallback is the classic fixed lookback (``fallback_idle_days``, 90 days);
* a customer never active before the cutoff (idle time unknown) is *not* lapsed: they never started, which is
  a different state (onboarding / never activated), not "gone".

The rule is used by the non-contractual training population (``features.labels``: lapsed customers are left
out, since predicting that someone already gone stays gone teaches a model nothing) and by the lifecycle
stage ``lost`` and the win-back list. ``is_lapsed`` evaluates it on arrays (e.g. the feature frame's
``days_since_last_event`` and ``usual_gap_days``); ``lapsed_sql`` is the same rule as a DuckDB expression;
tests/unit/test_lapse.py checks that the two agree.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

RHYTHM_LOOKBACK_DAYS = 180
"""The window the usual gap is measured over (the ``usual_gap_days`` feature's)."""


class LapseRule(BaseModel):
    """When a customer counts as already gone at a cutoff (see the module docstring).

    As part of the feature settings it comes from the environment as ``CHURNLTV_FEATURES_LAPSE__MULTIPLIER=6``
    etc.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    multiplier: float = Field(
        6.0, gt=0, description="Lapsed when idle for more than this many times the customer's usual gap."
    )
    min_idle_days: float = Field(
        30.0, ge=0, description="Never lapsed before this many idle days, however regular the rhythm."
    )
    max_idle_days: float = Field(365.0, gt=0, description="Always lapsed after this many idle days.")
    fallback_idle_days: float = Field(
        90.0,
        gt=0,
        description="Too little history for a rhythm (fewer than 2 active days in the last 180): lapsed after "
        "this many idle days.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> LapseRule:
        if self.min_idle_days > self.max_idle_days:
            raise ValueError(
                f"min_idle_days ({self.min_idle_days}) must not exceed max_idle_days ({self.max_idle_days})"
            )
        return self

    def describe(self) -> str:
        """The rule in one sentence (run logs, MLflow, the report)."""
        return (
            f"idle longer than {self.multiplier:g}x the customer's usual gap between active days (at least "
            f"{self.min_idle_days:g}, at most {self.max_idle_days:g} days); {self.fallback_idle_days:g} days "
            f"when fewer than 2 active days in the last {RHYTHM_LOOKBACK_DAYS} days give no rhythm"
        )


def lapse_threshold_days(usual_gap_days: ArrayLike, rule: LapseRule | None = None) -> NDArray[np.float64]:
    """Idle days after which each customer counts as gone (``fallback_idle_days`` where the gap is unknown)."""
    rule = rule or LapseRule()
    gap = np.asarray(usual_gap_days, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        own = np.clip(rule.multiplier * gap, rule.min_idle_days, rule.max_idle_days)
    out: NDArray[np.float64] = np.where(np.isfinite(gap), own, rule.fallback_idle_days)
    return out


def is_lapsed(idle_days: ArrayLike, usual_gap_days: ArrayLike, rule: LapseRule | None = None) -> NDArray[np.bool_]:
    """True where a customer is gone by their own rhythm; False where never active (``idle_days`` NaN).

    ``idle_days``: days since the last activity at the cutoff (the ``days_since_last_event`` feature);
    ``usual_gap_days``: the ``usual_gap_days`` feature (NaN with fewer than two active days in 180).
    """
    idle = np.asarray(idle_days, dtype=np.float64)
    threshold = lapse_threshold_days(usual_gap_days, rule)
    with np.errstate(invalid="ignore"):
        out: NDArray[np.bool_] = np.isfinite(idle) & (idle > threshold)
    return out


def lapse_threshold_sql(usual_gap_sql: str, rule: LapseRule | None = None) -> str:
    """``lapse_threshold_days`` as a DuckDB DOUBLE expression over an SQL expression for the usual gap."""
    rule = rule or LapseRule()
    own = f"least(greatest({rule.multiplier!r} * ({usual_gap_sql}), {rule.min_idle_days!r}), {rule.max_idle_days!r})"
    return f"(CASE WHEN ({usual_gap_sql}) IS NULL THEN {rule.fallback_idle_days!r} ELSE {own} END)::DOUBLE"


def lapsed_sql(idle_days_sql: str, usual_gap_sql: str, rule: LapseRule | None = None) -> str:
    """``is_lapsed`` as a DuckDB BOOLEAN expression (false where the idle time is NULL)."""
    return f"coalesce(({idle_days_sql}) > {lapse_threshold_sql(usual_gap_sql, rule)}, false)"
