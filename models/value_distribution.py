"""Per-customer predictive intervals of future value: the number of purchases combined with the spend model, with
parameter uncertainty folded in.

V = z_1 + ... + z_Y, Y the purchases in the horizon (``models.purchase_count_distribution``: P(Y = 0) and the
exact moments E[Y], E[Y(Y-1)]), z_i the purchase values. With Gamma-Gamma (Fader, Hardie & Lee 2005b; note 025)
each z_i ~ Gamma(p, nu) and the customer's nu has the posterior Gamma(q + p x, v + x m_x) (x, m_x: repeat
purchases and their mean spend where usable, else 0: the population prior), so purchases share nu and

    E[V] = E[Y] p v'/(q'-1),   E[V^2] = v'^2 / ((q'-1)(q'-2)) (E[Y] p(p+1) + E[Y(Y-1)] p^2)

(the customer's mean spend uncertain, and purchase-level spend variability). Without a spend model the value of a
purchase is a constant u (a constant observed spend, or 1 to count purchases): E[V] = u E[Y], E[V^2] = u^2 E[Y^2].

Parameter uncertainty: by the law of total variance Var V = E_theta Var(V | theta) + Var_theta E[V | theta], the
second term from the delta method already computed for the parameter band (sd of ln E[V] in the log-parameters,
``models.customer_value``), so Var V = Var(V | theta_hat) + (E[V] sd)^2.

The distribution: an atom P(V = 0) = P(Y = 0) = 1 - P(alive) P(Y >= 1 | alive) and, for V > 0, a gamma with the
same first two moments as V | Y >= 1. Quantile u is 0 for u <= P(V = 0), else the gamma's quantile at
(u - P0)/(1 - P0). q' <= 2 (an infinite variance of spend) is treated as q' = 2.05. The served 80% interval is
``ValueDistribution.interval_80`` (the narrower of [P10, P90] and [0, P80]: with an atom at 0 the central band holds
90%); its coverage is checked on the holdout (``training.ltv_evaluation``) next to [P10, P90]'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import gammainc, gammaincinv

from models.btyd_inputs import FloatArray

_MIN_Q = 2.05
QUANTILES = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class ValueDistribution:
    """Per customer: P(V = 0) and the gamma (shape, scale) of V | V > 0 (shape 0 where V = 0 surely)."""

    p_zero: FloatArray
    shape: FloatArray
    scale: FloatArray
    mean: FloatArray

    def quantiles(self, levels: tuple[float, ...] = QUANTILES) -> FloatArray:
        """Shape (len(levels), customers). The gamma's inverse is evaluated only where the level is above the atom
        (it is most of the predictive path's time, and a large share of a base sits in the atom at low levels)."""
        out = np.zeros((len(levels), len(self.p_zero)))
        positive = self.shape > 0
        share = np.where(self.p_zero < 1.0, 1.0 - self.p_zero, 1.0)
        for i, u in enumerate(levels):
            above = np.flatnonzero(positive & (u > self.p_zero))
            level = np.clip((u - self.p_zero[above]) / share[above], 0.0, 1.0)
            with np.errstate(invalid="ignore"):
                out[i, above] = gammaincinv(self.shape[above], level) * self.scale[above]
        return out

    def interval_80(self) -> tuple[FloatArray, FloatArray]:
        """The served 80% predictive interval: the narrower of [P10, P90] and [0, P80] per customer
        (``narrower_interval_80``)."""
        p10, p80, p90 = self.quantiles((0.1, 0.8, 0.9))
        return narrower_interval_80(p10, p80, p90)

    def cdf(self, value: FloatArray) -> FloatArray:
        """P(V <= value) per customer."""
        positive = (self.shape > 0) & (value > 0)
        inner = np.where(
            positive, gammainc(np.where(positive, self.shape, 1.0), value / np.where(positive, self.scale, 1.0)), 0.0
        )
        result: FloatArray = np.where(value < 0, 0.0, self.p_zero + (1.0 - self.p_zero) * inner)
        return result


def narrower_interval_80(p10: FloatArray, p80: FloatArray, p90: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The narrower of [P10, P90] and [0, P80] per customer.

    Both hold 80% of the distribution when it has no atom at 0. With an atom P0 >= 10%, P10 = 0 and the central
    interval [0, P90] holds 90%, so a central band over-covers exactly the customers most likely to buy nothing;
    [0, P80] then holds 80% (or the atom alone, when P0 >= 80%). Taking the narrower of the two keeps the promised
    80% for every customer, which is what the holdout coverage check measures.
    """
    central = p10 > 0.0
    use_central = central & ((p90 - p10) < p80)
    return np.where(use_central, p10, 0.0), np.where(use_central, p90, p80)


def value_distribution(  # noqa: PLR0917 - the moments of count and spend
    p_alive: FloatArray,
    p_any: FloatArray,
    mean_count: FloatArray,
    factorial2: FloatArray,
    spend_first: FloatArray,
    spend_second: FloatArray,
    spend_cross: FloatArray,
    log_sd: FloatArray,
) -> ValueDistribution:
    """Moment-matched distribution of V from the count's moments given alive and the spend moments per customer:
    ``spend_first`` E[z], ``spend_second`` E[z^2], ``spend_cross`` E[z z'] (two purchases of one customer)."""
    p_zero = 1.0 - p_alive * p_any
    e_count = p_alive * mean_count
    e_fact2 = p_alive * factorial2
    mean = e_count * spend_first
    second = e_count * spend_second + e_fact2 * spend_cross + (mean * log_sd) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        positive_share = 1.0 - p_zero
        m_pos = mean / positive_share
        var_pos = second / positive_share - m_pos**2
        ok = (positive_share > 1e-15) & (mean > 0) & np.isfinite(var_pos) & (var_pos > 0)
        shape = np.where(ok, m_pos**2 / var_pos, 0.0)
        scale = np.where(ok, var_pos / m_pos, 0.0)
    p_zero = np.where(ok, p_zero, 1.0)
    return ValueDistribution(np.clip(p_zero, 0.0, 1.0), shape, scale, mean)


def gamma_gamma_spend_moments(  # noqa: PLR0917 - the model's parameters and the customer's data
    p: float, q: float, v: float, x_used: FloatArray, m_used: FloatArray, zero: Any
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """E[z], E[z^2], E[z z'] under the customer's posterior nu ~ Gamma(q + p x, v + x m); 0 where ``zero``
    (repeat purchases that were all free)."""
    q_post = q + p * x_used
    v_post = v + x_used * m_used
    first = p * v_post / (q_post - 1.0)
    inverse_square = v_post**2 / ((q_post - 1.0) * (np.maximum(q_post, _MIN_Q) - 2.0))
    second = p * (p + 1.0) * inverse_square
    cross = p**2 * inverse_square
    keep = ~np.asarray(zero, dtype=bool)
    return np.where(keep, first, 0.0), np.where(keep, second, 0.0), np.where(keep, cross, 0.0)


def unit_value_moments(unit_value: float, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A constant value u per purchase: E[z] = u, E[z^2] = E[z z'] = u^2."""
    u = np.full(n, float(unit_value))
    return u, u**2, u**2
