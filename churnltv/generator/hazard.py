"""The life-1 churn hazard: decline onset and rate, its closed-form cumulative, and churn times by inversion.

``h(t) = b (1 + g D(t))`` with the decline ``D(t) = 1 - exp(-k (t - d)+)``; the cumulative hazard has a closed form
(``Hazard.cumulative``), so churn times are drawn by inverting it (bisection) and the oracle is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from churnltv.generator.timeline import FloatArray


def _decline_integral(x: FloatArray, k: FloatArray) -> FloatArray:
    """Integral of D over [onset, onset + x]: x - (1 - exp(-k x)) / k for x > 0, else 0."""
    xp = np.maximum(x, 0.0)
    out: FloatArray = xp + np.expm1(-k * xp) / k
    return out


@dataclass(frozen=True)
class Hazard:
    """Parameters of the life-1 hazard h(t) = b (1 + g D(t)), D(t) = 1 - exp(-k (t - d)+), per customer."""

    b: FloatArray  # base hazard per day
    g: FloatArray  # hazard multiplier at full decline
    d: FloatArray  # decline onset (same time origin as t)
    k: FloatArray  # decline rate per day

    def cumulative(self, t0: FloatArray, t1: FloatArray) -> FloatArray:
        """Closed form of the integral of h from t0 to t1."""
        decline = _decline_integral(t1 - self.d, self.k) - _decline_integral(t0 - self.d, self.k)
        out: FloatArray = self.b * ((t1 - t0) + self.g * decline)
        return out

    def subset(self, mask: npt.NDArray[np.bool_]) -> Hazard:
        return Hazard(self.b[mask], self.g[mask], self.d[mask], self.k[mask])


def decline_at(t: FloatArray, d: FloatArray, k: FloatArray) -> FloatArray:
    out: FloatArray = -np.expm1(-k * np.maximum(t - d, 0.0))
    return out


def sample_churn(s: FloatArray, limit: float, hazard: Hazard, e: FloatArray) -> FloatArray:
    """Invert the cumulative hazard: the time t with H(s, t) = e (Exp(1) draws); inf when after ``limit``."""
    out = np.full(s.shape, np.inf)
    churns = hazard.cumulative(s, np.full(s.shape, limit)) >= e
    sub, s_c, e_c = hazard.subset(churns), s[churns], e[churns]
    lo, hi = s_c.copy(), np.minimum(s_c + e_c / sub.b, limit)  # H(s, t) >= b (t - s)
    for _ in range(48):  # 730 days / 2**48: far below a second
        mid = 0.5 * (lo + hi)
        above = sub.cumulative(s_c, mid) >= e_c
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    out[churns] = hi
    return out


def sigmoid(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out
