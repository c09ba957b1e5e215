"""MBG/NBD: Batislam, Denizel & Filiztekin (2007), "Empirical validation and comparison of models for customer
base analysis", International Journal of Research in Marketing 24(3), 201-209.

The BG/NBD with one change: a customer may also drop out right after the *first* purchase, so a customer without
a repeat purchase is no longer alive for sure (BG/NBD's P(alive) = 1 for x = 0). While alive, purchases are
Poisson with rate lambda ~ Gamma(r, alpha); at each purchase (the first included) the customer drops out with
probability p ~ Beta(a, b). Fitted with ``lifetimes.ModifiedBetaGeoFitter``; every prediction is vectorised:

* LL = ln G(r+x) - ln G(r) + r ln alpha + ln B(a, b+x+1) - ln B(a, b) - (r+x) ln(alpha+T)
  + ln(1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))
* P(alive) = 1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))
* E[Y(t) | x, t_x, T] = P(alive) (a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x+1; a+b+x; t/(alpha+T+t))]
* E[X(t)] = b/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b+1; a+b; t/(alpha+t))]
* P(no purchase in t) = 1 - P(alive) (1 - ((alpha+T)/(alpha+T+t))^(r+x)); the median wait for the next purchase of
  an alive customer is (alpha+T) (2^(1/(r+x)) - 1) (lambda | alive ~ Gamma(r+x, alpha+T), dropout only at purchases).
"""

from __future__ import annotations

import contextlib
import io
from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.special import betaln, expit, gammaln

from features.errors import UserInputError
from models.btyd_inputs import FloatArray, as_float_array, check_summary, unique_pairs
from models.count_model import CountModel, log_hyp2f1
from models.purchase_count_distribution import CountMoments, bg_family_survival, survival_moments


def mbgnbd_log_likelihood(values: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
    r, alpha, a, b = values
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x + 1.0) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    a4 = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    result: FloatArray = a1 + a2 + a3 + np.logaddexp(a4, 0.0)
    return result


class ModifiedBetaGeoModel(CountModel):
    """MBG/NBD fitted with lifetimes; parameters ``r_``, ``alpha_``, ``a_``, ``b_``."""

    NAME = "mbg_nbd"
    LABEL = "MBG/NBD"
    REFERENCE = "Batislam, Denizel & Filiztekin (2007), IJRM 24(3)"
    PARAM_NAMES = ("r", "alpha", "a", "b")

    def fit(self, frequency: Any, recency: Any, T: Any, *, compute_covariance: bool = True) -> Self:
        from lifetimes import ModifiedBetaGeoFitter
        from lifetimes.utils import ConvergenceError

        x, t_x, t = check_summary(frequency, recency, T)
        fitter = ModifiedBetaGeoFitter(penalizer_coef=self.penalizer_coef)
        try:
            with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
                fitter.fit(x.astype(int), t_x, t)
        except ConvergenceError:
            raise UserInputError(f"MBG/NBD did not converge on {len(x)} customers") from None
        self._set_values(np.array([float(fitter.params_[n]) for n in self.PARAM_NAMES]))
        self._finish_fit(x, t_x, t, compute_covariance=compute_covariance)
        return self

    def _log_likelihood(self, values: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray) -> FloatArray:
        return mbgnbd_log_likelihood(values, x, t_x, T)

    def penalty(self, values: FloatArray, n_customers: int, max_T: float) -> float:
        r, alpha, a, b = values
        return float(n_customers * self.penalizer_coef * (r**2 + (alpha / max_T) ** 2 + a**2 + b**2))

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, t = check_summary(frequency, recency, T)
        r, alpha, a, b = self._p()
        log_odds = np.log(a) - np.log(b + x) + (r + x) * (np.log(alpha + t) - np.log(alpha + t_x))
        result: FloatArray = expit(-log_odds)
        return result

    def expected_purchases_population(self, t: Any) -> FloatArray:
        r, alpha, a, b = self._p()
        tt = as_float_array(t, "t")
        ln_hyp = log_hyp2f1(r, b + 1.0, a + b, tt / (alpha + tt))
        result: FloatArray = b / (a - 1.0) * (1.0 - np.exp(ln_hyp + r * np.log(alpha / (alpha + tt))))
        return result

    def _growth(self, ux: FloatArray, uT: FloatArray, steps: FloatArray) -> FloatArray:
        """(a+b+x)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(...)] per step and pair: shape (S, U)."""
        r, alpha, a, b = self._p()
        x, T, tt = ux[None, :], uT[None, :], steps[:, None]
        ln_hyp = log_hyp2f1(r + x, b + x + 1.0, a + b + x, tt / (alpha + T + tt))
        growth = 1.0 - np.exp(ln_hyp + (r + x) * np.log((alpha + T) / (alpha + T + tt)))
        result: FloatArray = (a + b + x) / (a - 1.0) * growth
        return result

    def purchase_factors(
        self, steps: FloatArray, x: FloatArray, t_x: FloatArray, T: FloatArray
    ) -> tuple[FloatArray, FloatArray, npt.NDArray[np.intp]]:
        """P(alive) times the alive customer's growth, which depends on (x, T) only."""
        ux, uT, inverse = unique_pairs(x, T)
        growth = self._growth(ux, uT, np.asarray(steps, dtype="float64"))
        return self.p_alive(x, t_x, T)[None, :], growth[None], inverse

    def conditional_expected_purchases(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, tt = check_summary(frequency, recency, T)
        result: FloatArray = self.expected_purchases_at(np.array([float(t)]), x, t_x, tt)[0]
        return result

    def p_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, t_x, tt = check_summary(frequency, recency, T)
        r, alpha, _, _ = self._p()
        result: FloatArray = 1.0 - self.p_alive(x, t_x, tt) * (1.0 - ((alpha + tt) / (alpha + tt + t)) ** (r + x))
        return result

    def next_purchase_median(self, frequency: Any, recency: Any, T: Any) -> FloatArray:
        x, _, tt = check_summary(frequency, recency, T)
        r, alpha, _, _ = self._p()
        result: FloatArray = (alpha + tt) * np.expm1(np.log(2.0) / (r + x))
        return result

    def alive_count_moments(self, t: float, ux: FloatArray, uT: FloatArray) -> CountMoments:
        """Given alive: P(Y(t) >= 1), E[Y(t)], E[Y(Y-1)] per (x, T) pair (``models.purchase_count_distribution``)."""
        r, alpha, a, b = self._p()
        return survival_moments(bg_family_survival(r + ux, alpha + uT, a, b + ux + 1.0, t), len(ux))
