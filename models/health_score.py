"""Customer health score card, 0-100 (docs/DOMAIN.md section 4, article 001).

score = w_a * activity + w_p * penetration + w_s * service + w_f * feedback, default weights
40/30/20/10 (settings; validated to sum to 1). Each component is put on 0-100 first:

* activity    = 100 * min(active_days_30d / activity_full_days, 1). Distinct active days rather
                than raw event counts, so one noisy day cannot buy a full score; default full score
                at 15 of 30 days (every other day).
* penetration = 100 * min(core_modules_used_90d / core_modules_total, 1): breadth of core modules
                used (the article: 3+ core modules predict long-term value better than activity).
* service     = customers with no ticket in 90 days and none open get ``service_no_ticket_score``
                (no friction, but nothing proven). Otherwise the base is the mean satisfaction
                rescaled 1..5 -> 0..100 (``service_unrated_score`` when nothing was rated), minus
                ``service_open_ticket_penalty`` per open (unresolved) ticket, minus up to
                ``service_slow_penalty`` for slow resolution (linear from the resolution-hours
                target to twice the target), clipped to 0..100.
* feedback    = 10 * last NPS answer (0..10 -> 0..100).

A component whose inputs are absent (optional table missing) or missing for a customer (e.g.
never answered NPS) gets ``neutral_score`` (default 50) and is flagged in ``neutral`` so a
reader knows the score leans on a default there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.errors import UserInputError
from models.policy_frame import BoolArray, FloatArray, PolicyInputs, as_inputs, numeric_column
from models.policy_settings import PolicySettings, default_policy_settings

COMPONENTS: tuple[str, ...] = ("activity", "penetration", "service", "feedback")


@dataclass(frozen=True)
class HealthScoreResult:
    """Total and components (0-100 each), plus which components fell back to the neutral score."""

    score: FloatArray
    components: dict[str, FloatArray]
    neutral: dict[str, BoolArray]
    absent_inputs: tuple[str, ...]


def _ratio_component(values: FloatArray | None, full: float, n: int) -> tuple[FloatArray, BoolArray]:
    if values is None:
        return np.full(n, np.nan), np.ones(n, dtype=bool)
    score = (values / full).clip(0.0, 1.0) * 100.0  # the method: np.clip's wrapper costs more than one row
    return score, np.isnan(score)


def _service_component(frame: PolicyInputs, settings: PolicySettings, n: int) -> tuple[FloatArray, BoolArray]:
    tickets = numeric_column(frame, "tickets_90d")
    open_tickets = numeric_column(frame, "tickets_open")
    if tickets is None and open_tickets is None:
        return np.full(n, np.nan), np.ones(n, dtype=bool)
    open_tickets = np.nan_to_num(open_tickets) if open_tickets is not None else np.zeros(n)
    satisfaction = numeric_column(frame, "ticket_satisfaction_mean")
    hours = numeric_column(frame, "ticket_resolution_hours_mean")

    rated = (satisfaction - 1.0) / 4.0 * 100.0 if satisfaction is not None else np.full(n, np.nan)
    base = np.where(np.isnan(rated), settings.service_unrated_score, rated)
    target = settings.service_resolution_hours_target
    slowness = ((hours - target) / target).clip(0.0, 1.0) if hours is not None else np.zeros(n)
    score = base - settings.service_open_ticket_penalty * open_tickets
    score = score - settings.service_slow_penalty * np.where(np.isnan(slowness), 0.0, slowness)  # in 0..1 or NaN
    # a missing ticket count is no ticket (NaN > 0 is False)
    had_tickets = (open_tickets > 0) if tickets is None else (tickets > 0) | (open_tickets > 0)
    score = np.where(had_tickets, score.clip(0.0, 100.0), settings.service_no_ticket_score)
    return score, np.zeros(n, dtype=bool)


def compute_health_score(
    frame: pd.DataFrame | PolicyInputs, settings: PolicySettings | None = None
) -> HealthScoreResult:
    """Health score and its four components for every row of ``frame`` (see the module docstring)."""
    frame = as_inputs(frame)
    settings = settings or default_policy_settings()
    n = len(frame)
    activity_in = numeric_column(frame, "active_days_30d")
    penetration_in = numeric_column(frame, "core_modules_used_90d")
    nps = numeric_column(frame, "nps_last")
    raw = {
        "activity": _ratio_component(activity_in, settings.activity_full_days, n),
        "penetration": _ratio_component(penetration_in, float(settings.core_modules_total), n),
        "service": _service_component(frame, settings, n),
        "feedback": _ratio_component(nps, 10.0, n),
    }
    absent = [
        name
        for name, present in (
            ("active_days_30d", activity_in is not None),
            ("core_modules_used_90d", penetration_in is not None),
            ("tickets_90d", frame.has("tickets_90d") or frame.has("tickets_open")),
            ("nps_last", nps is not None),
        )
        if not present
    ]
    weights = {
        "activity": settings.weight_activity,
        "penetration": settings.weight_penetration,
        "service": settings.weight_service,
        "feedback": settings.weight_feedback,
    }
    components: dict[str, FloatArray] = {}
    neutral: dict[str, BoolArray] = {}
    total = np.zeros(n)
    for name in COMPONENTS:
        values, flagged = raw[name]
        flagged = flagged | np.isnan(values)
        values = np.where(flagged, settings.neutral_score, values)
        components[name] = values
        neutral[name] = flagged
        total = total + weights[name] * values
    return HealthScoreResult(
        score=total.clip(0.0, 100.0), components=components, neutral=neutral, absent_inputs=tuple(absent)
    )


def retention_by_health(
    scores: npt.ArrayLike,
    churned_within: Mapping[int, npt.ArrayLike],
    healthy_score: float | None = None,
) -> pd.DataFrame:
    """Retention of customers scoring >= ``healthy_score`` vs the rest, per horizon (the article's 92% claim).

    ``healthy_score`` None: the setting ``healthy_score`` (85, ``CHURNLTV_POLICY_HEALTHY_SCORE``).

    ``churned_within`` maps a horizon in days (e.g. 30, 90) to 0/1 flags aligned with ``scores``;
    NaN means the outcome is not observable yet. Such customers are counted in ``customers`` but
    not in ``labelled`` (never dropped silently). Returns one row per (horizon, group) with
    customers, labelled, retained, retention_rate (NaN when a group has no labelled customer).
    """
    if healthy_score is None:
        healthy_score = default_policy_settings().healthy_score
    score = np.asarray(scores, dtype=np.float64)
    if np.isnan(score).any():
        raise UserInputError(f"retention_by_health: {int(np.isnan(score).sum())} health score(s) are missing")
    healthy = score >= healthy_score
    rows: list[dict[str, object]] = []
    for horizon, flags in sorted(churned_within.items()):
        churned = np.asarray(flags, dtype=np.float64)
        if churned.shape != score.shape:
            raise UserInputError(
                f"retention_by_health: churned-within-{horizon}-days flags have {churned.size} values, "
                f"scores have {score.size}"
            )
        bad = ~np.isnan(churned) & ~np.isin(churned, (0.0, 1.0))
        if bad.any():
            raise UserInputError(
                f"retention_by_health: churned-within-{horizon}-days flag at position {int(np.flatnonzero(bad)[0])} "
                f"is {float(churned[bad][0]):g}; expected 0, 1 or missing"
            )
        for group, mask in ((f"score >= {healthy_score:g}", healthy), (f"score < {healthy_score:g}", ~healthy)):
            labelled = mask & ~np.isnan(churned)
            n_labelled = int(labelled.sum())
            retained = int((churned[labelled] == 0).sum())
            rows.append(
                {
                    "horizon_days": int(horizon),
                    "group": group,
                    "customers": int(mask.sum()),
                    "labelled": n_labelled,
                    "retained": retained,
                    "retention_rate": retained / n_labelled if n_labelled else float("nan"),
                }
            )
    return pd.DataFrame(rows, columns=["horizon_days", "group", "customers", "labelled", "retained", "retention_rate"])
