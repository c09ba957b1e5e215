"""NBD: Ehrenberg (1959), "The Pattern of Consumer Purchases", Applied Statistics 8(1), 26-41 -- purchases with no
dropout, and the limit every BTYD dropout model reaches on the boundary of its parameter space.

Each customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha) and never drops out. It is what BG/NBD
becomes as a -> 0 or b -> infinity (dropout probability p -> 0), and Pareto/NBD as s -> 0 or beta -> infinity:
when a dropout model's maximum lies on that boundary, only r and alpha are identified, and this is the fit
(``models.btyd_family`` falls back to it with a warning instead of refusing). Fitted by maximum likelihood here
(scipy, log-parameters); closed form everywhere else:

* LL = ln G(r+x) - ln G(r) + r ln alpha - (r+x) ln(alpha+T)     (the density of the purchase times; no x! term)
* P(alive) = 1; lambda | x, T ~ Gamma(r+x, alpha+T); E[Y(t) | x, T] = (r+x) t / (alpha+T)
* P(Y(t) >= n | x, T) = I_z(n, r+x), z = t/(alpha+T+t) (negative binomial);
  P(no purchase) = ((alpha+T)/(alpha+T+t))^(r+x)
* median wait for the next purchase: (alpha+T) (2^(1/(r+x)) - 1)
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
from scipy.optimize import minimize
from scipy.special import betainc, gammaln

from features.errors import UserInputError
from models.btyd_inputs import FloatArray, as_float_array, check_summary
from models.count_model import CountModel
from models.purchase_count_distribution import CountMoments, survival_moments


def nbd_log_likelihood(values: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
    r, alpha = values
    result: FloatArray = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)
    return result


class NbdModel(CountModel):
    """NBD (no dropout); parameters ``r_``, ``alpha_``."""

    NAME = "nbd"
    LABEL = "NBD"
    REFERENCE = "Ehrenberg (1959), Applied Statistics 8(1)"
    PARAM_NAMES = ("r", "alpha")
    has_dropout = False

    def fit(self, frequency: Any, recency: Any, T: Any, *, compute_covariance: bool = True) -> Self:
        x, t_x, t = check_summary(frequency, recency, T)
        if not np.max(t) > 0:
            raise UserInputError("NBD: every customer has T = 0 (all first purchases on the cutoff day); cannot fit")
        scale = float(np.max(t))  # optimise alpha on a time scale where the oldest customer has T = 1

        def negative(log_params: FloatArray) -> float:
            r, alpha = np.exp(log_params)
            return -float(nbd_log_likelihood(np.array([r, alpha * scale]), x, t).sum())

        start = np.log([1.0, 1.0])
        result = minimize(negative, start, method="L-BFGS-B")
        if not result.success and not np.isfinite(result.fun):
            raise UserInputError(f"NBD did not converge on {len(x)} customers")
        r, alpha = np.exp(result.x)
        self._set_values(np.array([r, alpha * scale]))
        self._finish_fit(x, t_x, t, compute_covariance=compute_covariance)
        return self

    def _log_likelihood(self, values: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        return nbd_log_likelihood(values, x, T)

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, _, _ = check_summary(frequency, recency, T)
        return np.ones(len(x))

    def expected_purchases_population(self, t: Any) -> FloatArray:
        r, alpha = self._p()
        result: FloatArray = r * as_float_array(t, "t") / alpha
        return result

    def expected_purchases_at(self, steps: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        r, alpha = self._p()
        result: FloatArray = np.asarray(steps, dtype="float64")[:, None] * ((r + x) / (alpha + T))[None, :]
        return result

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, tt = check_summary(frequency, recency, T)
        result: FloatArray = self.expected_purchases_at(np.array([float(t)]), x, t_x, tt)[0]
        return result

    def p_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, _, tt = check_summary(frequency, recency, T)
        r, alpha = self._p()
        result: FloatArray = ((alpha + tt) / (alpha + tt + t)) ** (r + x)
        return result

    def next_purchase_median(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, _, tt = check_summary(frequency, recency, T)
        r, alpha = self._p()
        result: FloatArray = (alpha + tt) * np.expm1(np.log(2.0) / (r + x))
        return result

    def alive_count_moments(self, t: float, ux: FloatArray, uT: FloatArray) -> CountMoments:
        r, alpha = self._p()
        shape, z = r + ux, t / (alpha + uT + t)

        def survival(n: FloatArray, idx: np.ndarray) -> FloatArray:
            out: FloatArray = betainc(n[:, None], shape[idx][None, :], z[idx][None, :])
            return out

        return survival_moments(survival, len(ux))
