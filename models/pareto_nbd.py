"""Pareto/NBD: Schmittlein, Morrison & Colombo (1987), "Counting Your Customers: Who Are They and What Will They
Do Next?", Management Science 33(1), 1-24; likelihood and expressions as in Fader & Hardie (2005), "A Note on
Deriving the Pareto/NBD Model and Related Expressions".

While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); the lifetime is exponential
with rate mu ~ Gamma(s, beta), in continuous time (BG/NBD's dropout happens only at purchases). Fitted with
``lifetimes.ParetoNBDFitter``; predictions vectorised here:

* L(r, alpha, s, beta | x, t_x, T) = G(r+x) alpha^r beta^s / G(r) * [1 / ((alpha+T)^(r+x) (beta+T)^s)
  + s/(r+s+x) A0], with, for alpha >= beta (else swap the roles and use 2F1(r+s+x, r+x; ...)),
  A0 = 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+t_x)) / (alpha+t_x)^(r+s+x)
     - 2F1(r+s+x, s+1; r+s+x+1; (alpha-beta)/(alpha+T)) / (alpha+T)^(r+s+x)            (FH 2005 note, eq. 22-24)
* P(alive) = 1 / (1 + s/(r+s+x) (alpha+T)^(r+x) (beta+T)^s A0)                             (eq. 18)
* E[Y(t) | x, t_x, T] = P(alive) (r+x)(beta+T) / ((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)]  (eq. 27)
* E[X(t)] = r beta / (alpha (s-1)) [1 - (beta/(beta+t))^(s-1)]                                     (eq. 17)
* P(Y(t) >= n | alive): ``models.purchase_count_distribution.pareto_survival`` (the conditional PMF by quadrature).
* The median wait for the next purchase of an alive customer who stays alive: (alpha+T) (2^(1/(r+x)) - 1).

CDNOW (2,357 customers, weeks): r = 0.55, alpha = 10.58, s = 0.61, beta = 11.67, LL = -9595.0 (FH note).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.special import expit, gammaln, hyp2f1

from features.errors import UserInputError
from models.btyd_inputs import FloatArray, as_float_array, check_summary, unique_pairs
from models.count_model import CountModel
from models.purchase_count_distribution import CountMoments, pareto_survival, survival_moments

_S_NEAR_ONE = 1e-8


def _hyp2f1_per_pair(values: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """2F1(r+s+x, b; r+s+x+1; (high - low) / (high + y)) (b = s + 1 or r + x) once per distinct (x, y) pair.

    It depends on a customer only through (x, t_x) for p1 and (x, T) for p2, and summaries live on a day grid, so
    a million customers have a few ten thousand pairs: hyp2f1 was most of the Pareto/NBD's scoring time.
    """
    r, alpha, s, beta = values
    ux, uy, inverse = unique_pairs(x, y)
    if alpha >= beta:
        low, high, second = beta, alpha, np.full(len(ux), s + 1.0)
    else:
        low, high, second = alpha, beta, r + ux
    rsx = r + s + ux
    with np.errstate(divide="ignore", invalid="ignore"):
        result: FloatArray = hyp2f1(rsx, second, rsx + 1.0, (high - low) / (high + uy))[inverse]
    return result


def pareto_log_a0(values: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    """ln A0 (FH 2005 note), computed as ln(p1 q2^(rsx) - p2 q1^(rsx)) - rsx ln(q1 q2) for stability."""
    r, alpha, s, beta = values
    high = max(alpha, beta)
    rsx = r + s + x
    q1, q2 = high + t_x, high + T
    p1 = _hyp2f1_per_pair(values, x, t_x)
    p2 = _hyp2f1_per_pair(values, x, T)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_first = np.log(p1) + rsx * np.log(q2)
        log_second = np.log(p2) + rsx * np.log(q1)
        # ln(e^A - e^B) with A >= B; where they are equal (t_x = T) A0 = 0 and ln A0 = -inf
        diff = log_second - log_first
        result: FloatArray = log_first + np.log(-np.expm1(np.minimum(diff, 0.0))) - rsx * np.log(q1 * q2)
    return result


def pareto_log_likelihood(values: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    r, alpha, s, beta = values
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    first = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    second = np.log(s) - np.log(r + s + x) + pareto_log_a0(values, x, t_x, T)
    result: FloatArray = a1 + np.logaddexp(first, second)
    return result


class ParetoNbdModel(CountModel):
    """Pareto/NBD fitted with lifetimes; parameters ``r_``, ``alpha_``, ``s_``, ``beta_``."""

    NAME = "pareto_nbd"
    LABEL = "Pareto/NBD"
    REFERENCE = "Schmittlein, Morrison & Colombo (1987), Management Science 33(1); Fader & Hardie (2005) note"
    PARAM_NAMES = ("r", "alpha", "s", "beta")

    def fit(self, frequency: Any, recency: Any, T: Any, *, compute_covariance: bool = True) -> Self:
        from lifetimes import ParetoNBDFitter
        from lifetimes.utils import ConvergenceError

        x, t_x, t = check_summary(frequency, recency, T)
        fitter = ParetoNBDFitter(penalizer_coef=self.penalizer_coef)
        try:
            with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
                # lifetimes draws its Nelder-Mead start from the global numpy RNG (normal(1, 0.05) in log space),
                # so two fits of one base differed; its mean start makes the fit reproducible
                fitter.fit(x.astype(int), t_x, t, initial_params=np.ones(4))
        except ConvergenceError:
            raise UserInputError(f"Pareto/NBD did not converge on {len(x)} customers") from None
        self._set_values(np.array([float(fitter.params_[n]) for n in self.PARAM_NAMES]))
        self._finish_fit(x, t_x, t, compute_covariance=compute_covariance)
        return self

    def _log_likelihood(self, values: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        return pareto_log_likelihood(values, x, t_x, T)

    def penalty(self, values: FloatArray, n_customers: int, max_T: float) -> float:
        """lifetimes' Pareto/NBD objective: -LL + c (r^2 + (alpha/max T)^2 + s^2 + (beta/max T)^2), not per customer."""
        r, alpha, s, beta = values
        return float(self.penalizer_coef * (r**2 + (alpha / max_T) ** 2 + s**2 + (beta / max_T) ** 2))

    def _log_dropout_odds(self, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        values = self.values()
        r, alpha, s, beta = values
        with np.errstate(divide="ignore"):
            result: FloatArray = (
                np.log(s)
                - np.log(r + s + x)
                + (r + x) * np.log(alpha + T)
                + s * np.log(beta + T)
                + pareto_log_a0(values, x, t_x, T)
            )
        return result

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, t = check_summary(frequency, recency, T)
        result: FloatArray = expit(-self._log_dropout_odds(x, t_x, t))
        return result

    def expected_purchases_population(self, t: Any) -> FloatArray:
        r, alpha, s, beta = self._p()
        tt = as_float_array(t, "t")
        if abs(s - 1.0) < _S_NEAR_ONE:
            return np.asarray(r * beta / alpha * np.log1p(tt / beta), dtype="float64")
        result: FloatArray = r * beta / (alpha * (s - 1.0)) * (1.0 - (beta / (beta + tt)) ** (s - 1.0))
        return result

    def _growth(self, x: FloatArray, T: FloatArray, steps: FloatArray) -> FloatArray:
        """(r+x)(beta+T)/((alpha+T)(s-1)) [1 - ((beta+T)/(beta+T+t))^(s-1)] per step and customer: (S, n)."""
        r, alpha, s, beta = self._p()
        tt = steps[:, None]
        bt = beta + T[None, :]
        if abs(s - 1.0) < _S_NEAR_ONE:
            bracket = bt * np.log1p(tt / bt)
        else:
            bracket = bt / (s - 1.0) * -np.expm1((s - 1.0) * np.log(bt / (bt + tt)))
        result: FloatArray = ((r + x) / (alpha + T))[None, :] * bracket
        return result

    def purchase_factors(
        self, steps: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
        """P(alive) times the alive customer's growth, which depends on (x, T) only."""
        ux, uT, inverse = unique_pairs(x, T)
        p_alive: FloatArray = expit(-self._log_dropout_odds(x, t_x, T))
        return p_alive[None, :], self._growth(ux, uT, np.asarray(steps, dtype="float64"))[None], inverse

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, tt = check_summary(frequency, recency, T)
        result: FloatArray = self.expected_purchases_at(np.array([float(t)]), x, t_x, tt)[0]
        return result

    def alive_count_moments(self, t: float, ux: FloatArray, uT: FloatArray) -> CountMoments:
        r, alpha, s, beta = self._p()
        return survival_moments(pareto_survival(r + ux, alpha + uT, s, beta + uT, t), len(ux))

    def p_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, tt = check_summary(frequency, recency, T)
        ux, uT, inverse = unique_pairs(x, tt)
        r, alpha, s, beta = self._p()
        any_purchase = pareto_survival(r + ux, alpha + uT, s, beta + uT, float(t))(np.ones(1), np.arange(len(ux)))[0]
        result: FloatArray = 1.0 - self.p_alive(x, t_x, tt) * any_purchase[inverse]
        return result

    def next_purchase_median(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, _, tt = check_summary(frequency, recency, T)
        r, alpha, _, _ = self._p()
        result: FloatArray = (alpha + tt) * np.expm1(np.log(2.0) / (r + x))
        return result
