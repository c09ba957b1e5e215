"""Holdout metrics of uplift scores: Qini curves, the Qini coefficient and uplift at k%, with bootstrap intervals.

On held-out contacts of one action (treated with it, or in the random control group), sort by a score, highest
first. After the top k contacts, with n_t(k) / n_c(k) treated / control among them and Y_t(k) / Y_c(k) their
summed outcomes (retained customers, or spend), the Qini curve is the incremental outcome of targeting them
(Radcliffe 2007, "Using control groups to target on predicted lift", DMA Analytics Council):

    Q(k) = Y_t(k) - Y_c(k) n_t(k) / n_c(k)

expressed per contact of the whole held-out set (Q(k) / N), against the fraction targeted k / N. Random
targeting is the straight line from 0 to Q(N) / N. The **Qini coefficient** is the area between the curve and
that line (positive: the score puts responders first; 0: no better than random; negative: worse); the ratio of
two coefficients on the same contacts (e.g. model / oracle) does not depend on the scale. **Uplift at k%** is
treated minus control outcome rate among the top k% of contacts.

Intervals are percentile bootstrap intervals over contacts resampled within each arm (``n_boot`` resamples,
seeded); strategies are compared on the same resamples, so their differences are paired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from features.errors import UserInputError

UPLIFT_AT = (0.1, 0.2, 0.3)
CURVE_POINTS = 101


def qini_curve(
    outcome: NDArray[np.float64], treated: NDArray[np.bool_], score: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(fraction targeted, Q(k) / N), from k = 0 to N, at the end of every group of tied scores.

    Contacts with equal scores cannot be told apart, so the curve only has points where the score changes and is
    linear in between (the expected curve over random orders within a tie), as ROC curves treat ties.
    """
    y = np.asarray(outcome, dtype=np.float64)
    t = np.asarray(treated, dtype=bool)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    y, t, s = y[order], t[order], s[order]
    n = y.size
    if n == 0:
        return np.zeros(1), np.zeros(1)
    ends = np.flatnonzero(np.concatenate([s[1:] != s[:-1], [True]]))
    n_t = np.cumsum(t)[ends]
    n_c = np.cumsum(~t)[ends]
    y_t = np.cumsum(np.where(t, y, 0.0))[ends]
    y_c = np.cumsum(np.where(t, 0.0, y))[ends]
    q = y_t - np.where(n_c > 0, y_c * n_t / np.maximum(n_c, 1), 0.0)
    return np.concatenate([[0.0], (ends + 1) / n]), np.concatenate([[0.0], q]) / n


def qini_coefficient(outcome: NDArray[np.float64], treated: NDArray[np.bool_], score: NDArray[np.float64]) -> float:
    """Area between the Qini curve and the random-targeting line (module docstring), per contact."""
    x, q = qini_curve(outcome, treated, score)
    if x.size < 2:
        return float("nan")
    gap = q - x * q[-1]
    return float(np.sum((gap[1:] + gap[:-1]) * np.diff(x)) / 2.0)


def uplift_at(
    outcome: NDArray[np.float64], treated: NDArray[np.bool_], score: NDArray[np.float64], fraction: float
) -> float:
    """Treated minus control mean outcome among the top ``fraction`` of contacts by score (NaN if an arm is empty)."""
    y = np.asarray(outcome, dtype=np.float64)
    t = np.asarray(treated, dtype=bool)
    top = np.argsort(-np.asarray(score, dtype=np.float64), kind="stable")[: int(np.ceil(fraction * y.size))]
    yt, yc = y[top][t[top]], y[top][~t[top]]
    if yt.size == 0 or yc.size == 0:
        return float("nan")
    return float(yt.mean() - yc.mean())


@dataclass(frozen=True)
class StrategyEvaluation:
    """One targeting strategy on one action's held-out contacts."""

    name: str
    qini_coefficient: float
    qini_interval: tuple[float, float]
    uplift_at: dict[str, float]
    uplift_at_interval: dict[str, tuple[float, float]]
    curve_x: list[float]
    curve_y: list[float]
    difference_to_model: tuple[float, float, float] | None = None  # (point, low, high) of model - this

    def to_dict(self) -> dict[str, Any]:
        return {
            "qini_coefficient": self.qini_coefficient,
            "qini_interval": list(self.qini_interval),
            "uplift_at": self.uplift_at,
            "uplift_at_interval": {k: list(v) for k, v in self.uplift_at_interval.items()},
            "curve": {"x": self.curve_x, "y": self.curve_y},
            "model_minus_this": None if self.difference_to_model is None else list(self.difference_to_model),
        }


@dataclass(frozen=True)
class ActionEvaluation:
    """Every strategy on one action's held-out contacts, plus the measured average effect."""

    action: str
    outcome: str
    n_treated: int
    n_control: int
    average_effect: float
    average_effect_interval: tuple[float, float]
    strategies: dict[str, StrategyEvaluation] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "outcome": self.outcome,
            "n_treated": self.n_treated,
            "n_control": self.n_control,
            "average_effect": self.average_effect,
            "average_effect_interval": list(self.average_effect_interval),
            "strategies": {k: v.to_dict() for k, v in self.strategies.items()},
        }


def _label(fraction: float) -> str:
    return f"{round(fraction * 100)}pct"


def _resamples(treated: NDArray[np.bool_], n_boot: int, seed: int) -> list[NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    t_idx, c_idx = np.flatnonzero(treated), np.flatnonzero(~treated)
    # shuffled, so the order of tied scores carries no trace of the arm
    return [
        rng.permutation(np.concatenate([rng.choice(t_idx, t_idx.size), rng.choice(c_idx, c_idx.size)])).astype(np.int64)
        for _ in range(n_boot)
    ]


def _interval(values: Sequence[float]) -> tuple[float, float]:
    arr = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if arr.size == 0:
        return (float("nan"), float("nan"))
    return (float(np.quantile(arr, 0.025)), float(np.quantile(arr, 0.975)))


def _thin(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[list[float], list[float]]:
    pick = np.unique(np.round(np.linspace(0, x.size - 1, min(CURVE_POINTS, x.size))).astype(np.int64))
    return [float(v) for v in x[pick]], [float(v) for v in y[pick]]


def evaluate_action(
    action: str,
    outcome: NDArray[np.float64],
    treated: NDArray[np.bool_],
    scores: Mapping[str, NDArray[np.float64]],
    *,
    outcome_name: str = "retention",
    model: str = "model",
    n_boot: int = 200,
    seed: int = 7,
) -> ActionEvaluation:
    """Every strategy in ``scores`` (name -> score per contact; the one named ``model`` is compared with the rest)."""
    y = np.asarray(outcome, dtype=np.float64)
    t = np.asarray(treated, dtype=bool)
    if np.isnan(y).any():
        raise UserInputError(f"uplift evaluation of {action}: outcomes must be known for every held-out contact")
    if t.all() or not t.any():
        raise UserInputError(f"uplift evaluation of {action}: needs treated and control contacts in the holdout")
    for name, score in scores.items():
        if np.asarray(score).shape != y.shape:
            raise UserInputError(f"uplift evaluation of {action}: score {name!r} has the wrong length")
    resamples = _resamples(t, n_boot, seed)
    ate = float(y[t].mean() - y[~t].mean())
    ate_boot = [float(y[i][t[i]].mean() - y[i][~t[i]].mean()) for i in resamples]
    boot_qini: dict[str, list[float]] = {}
    out: dict[str, StrategyEvaluation] = {}
    for name, raw in scores.items():
        score = np.nan_to_num(np.asarray(raw, dtype=np.float64), nan=-np.inf)
        boot_qini[name] = [qini_coefficient(y[i], t[i], score[i]) for i in resamples]
        ups = {_label(f): uplift_at(y, t, score, f) for f in UPLIFT_AT}
        up_ci = {_label(f): _interval([uplift_at(y[i], t[i], score[i], f) for i in resamples]) for f in UPLIFT_AT}
        cx, cy = qini_curve(y, t, score)
        thin_x, thin_y = _thin(cx, cy)
        out[name] = StrategyEvaluation(
            name, qini_coefficient(y, t, score), _interval(boot_qini[name]), ups, up_ci, thin_x, thin_y
        )
    if model in out:
        for name, result in list(out.items()):
            if name == model:
                continue
            diffs = np.asarray(boot_qini[model]) - np.asarray(boot_qini[name])
            low, high = _interval(list(diffs))
            point = out[model].qini_coefficient - result.qini_coefficient
            out[name] = StrategyEvaluation(**{**result.__dict__, "difference_to_model": (point, low, high)})
    return ActionEvaluation(
        action, outcome_name, int(t.sum()), int((~t).sum()), ate, _interval(ate_boot), strategies=out
    )


def incremental_at_budget(gain: NDArray[np.float64], order_score: NDArray[np.float64], n_targeted: int) -> float:
    """Sum of ``gain`` (e.g. true uplift x value) over the ``n_targeted`` customers with the highest score."""
    if n_targeted <= 0:
        return 0.0
    top = np.argsort(-np.nan_to_num(np.asarray(order_score, dtype=np.float64), nan=-np.inf), kind="stable")
    return float(np.nansum(np.asarray(gain, dtype=np.float64)[top[:n_targeted]]))
