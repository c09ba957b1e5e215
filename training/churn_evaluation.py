"""Holdout metrics for churn scores, with bootstrap confidence intervals and paired comparisons.

Everything here works on plain arrays (``y`` 0/1 outcomes, ``p`` scores) so the same code scores the model,
the baselines and the oracle on exactly the same rows.

* ROC-AUC via the rank-sum (Mann-Whitney) identity, PR-AUC as average precision, Brier score, log loss.
* Lift / capture at the top q of customers: capture = share of all churners found in the top q;
  lift = capture / q (Berry & Linoff's cumulative lift).
* Expected calibration error with equal-width bins (Naeini et al. 2015; Guo et al. 2017):
  ECE = sum_b (n_b / n) |mean(y_b) - mean(p_b)|.
* Bootstrap 95% intervals: percentile bootstrap over rows (Efron & Tibshirani 1993). The paired bootstrap of a
  difference resamples the *same* row indices for both scorers, so the interval reflects the difference on
  shared customers, not two independent noises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata

from features.errors import UserInputError

FloatArray = NDArray[np.float64]
Metric = Callable[[FloatArray, FloatArray], float]
_EPS = 1e-15


def _arrays(y: ArrayLike, p: ArrayLike) -> tuple[FloatArray, FloatArray]:
    yy = np.asarray(y, dtype=np.float64).ravel()
    pp = np.asarray(p, dtype=np.float64).ravel()
    if yy.shape != pp.shape:
        raise UserInputError(f"need one score per outcome: {pp.size} scores, {yy.size} outcomes")
    if not np.isfinite(pp).all():
        raise UserInputError(f"scores contain {int((~np.isfinite(pp)).sum())} NaN/infinite value(s)")
    return yy, pp


def roc_auc(y: ArrayLike, p: ArrayLike) -> float:
    """ROC-AUC = P(score of a random churner > score of a random non-churner), ties count 1/2."""
    yy, pp = _arrays(y, p)
    n1 = float(yy.sum())
    n0 = float(yy.size - n1)
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(pp)
    return float((ranks[yy == 1].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def pr_auc(y: ArrayLike, p: ArrayLike) -> float:
    """Average precision: mean precision at each churner's rank (sklearn's definition, step-wise)."""
    yy, pp = _arrays(y, p)
    n1 = yy.sum()
    if n1 == 0:
        return float("nan")
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(yy, pp))


def brier(y: ArrayLike, p: ArrayLike) -> float:
    yy, pp = _arrays(y, p)
    return float(np.mean((pp - yy) ** 2))


def log_loss(y: ArrayLike, p: ArrayLike) -> float:
    yy, pp = _arrays(y, p)
    q = np.clip(pp, _EPS, 1 - _EPS)
    return float(-np.mean(yy * np.log(q) + (1 - yy) * np.log(1 - q)))


def _top(yy: FloatArray, pp: FloatArray, fraction: float) -> FloatArray:
    k = max(1, round(fraction * yy.size))
    # stable order on -score: ties keep input order, so the result is deterministic
    order = np.argsort(-pp, kind="stable")
    return yy[order[:k]]


def capture_at(y: ArrayLike, p: ArrayLike, fraction: float) -> float:
    """Share of all churners among the top ``fraction`` of customers by score."""
    yy, pp = _arrays(y, p)
    total = yy.sum()
    if total == 0:
        return float("nan")
    return float(_top(yy, pp, fraction).sum() / total)


def lift_at(y: ArrayLike, p: ArrayLike, fraction: float) -> float:
    """Churn rate in the top ``fraction`` divided by the overall churn rate."""
    yy, pp = _arrays(y, p)
    base = yy.mean() if yy.size else 0.0
    if base == 0:
        return float("nan")
    return float(_top(yy, pp, fraction).mean() / base)


@dataclass(frozen=True)
class CalibrationCurve:
    """Per-bin mean predicted probability, observed rate and row count (empty bins are left out)."""

    predicted: list[float]
    observed: list[float]
    counts: list[int]


def calibration_curve(y: ArrayLike, p: ArrayLike, n_bins: int = 10) -> CalibrationCurve:
    yy, pp = _arrays(y, p)
    idx = np.clip((pp * n_bins).astype(np.int64), 0, n_bins - 1)
    counts = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=pp, minlength=n_bins)
    sum_y = np.bincount(idx, weights=yy, minlength=n_bins)
    keep = counts > 0
    return CalibrationCurve(
        predicted=(sum_p[keep] / counts[keep]).tolist(),
        observed=(sum_y[keep] / counts[keep]).tolist(),
        counts=counts[keep].astype(int).tolist(),
    )


def expected_calibration_error(y: ArrayLike, p: ArrayLike, n_bins: int = 10) -> float:
    """ECE with ``n_bins`` equal-width bins on [0, 1], weighted by bin size."""
    yy, pp = _arrays(y, p)
    if yy.size == 0:
        return float("nan")
    idx = np.clip((pp * n_bins).astype(np.int64), 0, n_bins - 1)
    sum_p = np.bincount(idx, weights=pp, minlength=n_bins)
    sum_y = np.bincount(idx, weights=yy, minlength=n_bins)
    return float(np.abs(sum_y - sum_p).sum() / yy.size)


METRICS: dict[str, Metric] = {
    "roc_auc": roc_auc,
    "pr_auc": pr_auc,
    "brier": brier,
    "log_loss": log_loss,
    "lift_at_10pct": lambda y, p: lift_at(y, p, 0.10),
    "lift_at_20pct": lambda y, p: lift_at(y, p, 0.20),
    "capture_at_10pct": lambda y, p: capture_at(y, p, 0.10),
    "capture_at_20pct": lambda y, p: capture_at(y, p, 0.20),
    "ece": expected_calibration_error,
}


class _Sorted:
    """One scorer's rows sorted by descending score, with tie groups and calibration bins precomputed.

    A bootstrap resample is a vector of multiplicities ``w`` (how often each row was drawn); every metric of the
    resample is then a weighted sum over the sorted rows, O(n) with ``bincount``/``cumsum`` and no re-sorting.
    With ``w = 1`` the results equal the plain functions above (same tie handling, same stable top-k order).
    """

    def __init__(self, y: FloatArray, p: FloatArray, n_bins: int = 10) -> None:
        self.order = np.argsort(-p, kind="stable")
        self.y = y[self.order]
        self.p = p[self.order]
        new_group = np.empty(self.p.size, dtype=bool)
        new_group[:1] = True
        new_group[1:] = self.p[1:] != self.p[:-1]
        self.group = np.cumsum(new_group) - 1
        self.n_groups = int(self.group[-1]) + 1 if self.p.size else 0
        self.bin = np.clip((self.p * n_bins).astype(np.int64), 0, n_bins - 1)
        self.n_bins = n_bins
        self.q = np.clip(self.p, _EPS, 1 - _EPS)

    def metrics(self, w: FloatArray, names: tuple[str, ...]) -> dict[str, float]:
        """Metrics of the resample with multiplicities ``w`` (given in sorted order)."""
        y, p = self.y, self.p
        total = w.sum()
        wy = w * y
        pos = wy.sum()
        neg = total - pos
        out: dict[str, float] = {}
        need_groups = any(n in names for n in ("roc_auc", "pr_auc"))
        if need_groups:
            pg = np.bincount(self.group, weights=wy, minlength=self.n_groups)
            ng = np.bincount(self.group, weights=w - wy, minlength=self.n_groups)
        if "roc_auc" in names:
            below = neg - np.cumsum(ng)
            out["roc_auc"] = float((pg * (below + 0.5 * ng)).sum() / (pos * neg)) if pos > 0 and neg > 0 else np.nan
        if "pr_auc" in names:
            tp, fp = np.cumsum(pg), np.cumsum(ng)
            with np.errstate(invalid="ignore", divide="ignore"):
                precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
            out["pr_auc"] = float((pg * precision).sum() / pos) if pos > 0 else np.nan
        if "brier" in names:
            out["brier"] = float((w * (p - y) ** 2).sum() / total)
        if "log_loss" in names:
            out["log_loss"] = float(-(w * (y * np.log(self.q) + (1 - y) * np.log(1 - self.q))).sum() / total)
        cw = np.cumsum(w)
        for name in names:
            if name.startswith(("lift_at_", "capture_at_")):
                fraction = int(name.rsplit("_", 1)[1].removesuffix("pct")) / 100.0
                k = max(1.0, float(round(fraction * total)))
                take = np.clip(k - (cw - w), 0.0, w)
                caught = float((take * y).sum())
                if name.startswith("capture"):
                    out[name] = caught / pos if pos > 0 else np.nan
                else:
                    out[name] = (caught / k) / (pos / total) if pos > 0 else np.nan
        if "ece" in names:
            sum_p = np.bincount(self.bin, weights=w * p, minlength=self.n_bins)
            sum_y = np.bincount(self.bin, weights=wy, minlength=self.n_bins)
            out["ece"] = float(np.abs(sum_y - sum_p).sum() / total)
        return out


FAST_METRICS = frozenset(METRICS)


def _resample_weights(n: int, n_boot: int, seed: int) -> Iterator[FloatArray]:
    """Bootstrap multiplicities (rows drawn with replacement), one resample at a time to bound memory."""
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield np.bincount(rng.integers(0, n, size=n), minlength=n).astype(np.float64)


def bootstrap_intervals(
    y: ArrayLike, p: ArrayLike, metrics: tuple[str, ...], *, n_boot: int = 200, seed: int = 7, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap intervals of several metrics from the same resamples (fast weighted path)."""
    yy, pp = _arrays(y, p)
    if yy.size == 0:
        return {m: (float("nan"), float("nan")) for m in metrics}
    ranked = _Sorted(yy, pp)
    samples: dict[str, list[float]] = {m: [] for m in metrics}
    for w in _resample_weights(yy.size, n_boot, seed):
        for name, value in ranked.metrics(w[ranked.order], metrics).items():
            samples[name].append(value)
    alpha = (1 - level) / 2
    out: dict[str, tuple[float, float]] = {}
    for name, values in samples.items():
        arr = np.asarray(values)
        arr = arr[np.isfinite(arr)]
        out[name] = (
            (float(np.quantile(arr, alpha)), float(np.quantile(arr, 1 - alpha))) if arr.size else (np.nan, np.nan)
        )
    return out


def _bootstrap_indices(n: int, n_boot: int, seed: int) -> Iterator[NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield rng.integers(0, n, size=n, dtype=np.int64)


def bootstrap_ci(
    metric: Metric, y: ArrayLike, p: ArrayLike, *, n_boot: int = 200, seed: int = 7, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric(y, p)`` (resampling rows with replacement)."""
    yy, pp = _arrays(y, p)
    values = np.array([metric(yy[i], pp[i]) for i in _bootstrap_indices(yy.size, n_boot, seed)])  # generic path
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


@dataclass(frozen=True)
class PairedDifference:
    """metric(a) - metric(b) on the same rows, with its paired-bootstrap interval."""

    difference: float
    lower: float
    upper: float

    @property
    def excludes_zero(self) -> bool:
        return self.lower > 0 or self.upper < 0


def paired_bootstrap_difference(
    metric: Metric,
    y: ArrayLike,
    p_a: ArrayLike,
    p_b: ArrayLike,
    *,
    n_boot: int = 200,
    seed: int = 7,
    level: float = 0.95,
) -> PairedDifference:
    """Bootstrap interval of ``metric(y, p_a) - metric(y, p_b)`` resampling the same rows for both."""
    yy, pa = _arrays(y, p_a)
    _, pb = _arrays(y, p_b)
    name = next((k for k, fn in METRICS.items() if fn is metric), None)
    if name is not None and yy.size:
        a, b = _Sorted(yy, pa), _Sorted(yy, pb)
        diffs = np.array(
            [
                a.metrics(w[a.order], (name,))[name] - b.metrics(w[b.order], (name,))[name]
                for w in _resample_weights(yy.size, n_boot, seed)
            ]
        )
    else:
        diffs = np.array(
            [metric(yy[i], pa[i]) - metric(yy[i], pb[i]) for i in _bootstrap_indices(yy.size, n_boot, seed)]
        )
    diffs = diffs[np.isfinite(diffs)]
    alpha = (1 - level) / 2
    point = metric(yy, pa) - metric(yy, pb)
    if diffs.size == 0:
        return PairedDifference(point, float("nan"), float("nan"))
    return PairedDifference(point, float(np.quantile(diffs, alpha)), float(np.quantile(diffs, 1 - alpha)))


@dataclass(frozen=True)
class Evaluation:
    """Holdout metrics of one scorer: point values, 95% intervals, the calibration curve."""

    n_rows: int
    churn_rate: float
    metrics: dict[str, float]
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    calibration: CalibrationCurve | None = None

    def flat(self, prefix: str = "test_") -> dict[str, float]:
        """Metric names as logged to MLflow: ``test_roc_auc``, ``test_roc_auc_ci_low``, ``..._ci_high``."""
        out: dict[str, float] = {}
        for name, value in self.metrics.items():
            out[f"{prefix}{name}"] = value
            if name in self.intervals:
                low, high = self.intervals[name]
                out[f"{prefix}{name}_ci_low"] = low
                out[f"{prefix}{name}_ci_high"] = high
        return out


def evaluate(
    y: ArrayLike,
    p: ArrayLike,
    *,
    metrics: tuple[str, ...] = tuple(METRICS),
    n_boot: int = 200,
    seed: int = 7,
) -> Evaluation:
    """Every metric in ``metrics`` with a bootstrap 95% interval, plus the calibration curve."""
    yy, pp = _arrays(y, p)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise UserInputError(f"unknown metric(s) {unknown}; known: {sorted(METRICS)}")
    values = {m: METRICS[m](yy, pp) for m in metrics}
    intervals = bootstrap_intervals(yy, pp, metrics, n_boot=n_boot, seed=seed) if n_boot else {}
    return Evaluation(
        n_rows=int(yy.size),
        churn_rate=float(yy.mean()) if yy.size else float("nan"),
        metrics=values,
        intervals=intervals,
        calibration=calibration_curve(yy, pp),
    )
